"""Issue 9, points 6, 11 and 12: the main command and the notebooks' schemas."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from actorpg_lab import JournalError, lab
from actorpg_lab.lab.__main__ import jupyter_command, main

from ..conftest import schema_url

SECRET = "hunter2-in-argv"
CONNECT_ERRORS = (psycopg.OperationalError, JournalError)
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


# -- 6: a password on the command line ----------------------------------------------------
@pytest.mark.parametrize("url", [
    f"postgresql://app:{SECRET}@127.0.0.1:1/app",
    f"host=127.0.0.1 port=1 user=app password={SECRET}",
    f"postgresql://app@127.0.0.1:1/app?sslpassword={SECRET}",
])
def test_a_password_in_url_is_warned_about(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CONNECT_ERRORS):  # nothing listens on port 1
        main(["--url", url, "--summary"])
    err = capsys.readouterr().err
    assert "--url holds a password" in err and "ACTORPG_DSN" in err and "PGPASSFILE" in err
    assert SECRET not in err


def test_a_url_without_password_gets_no_warning(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CONNECT_ERRORS):
        main(["--url", "postgresql://app@127.0.0.1:1/app", "--summary"])
    assert "password" not in capsys.readouterr().err


# -- 11: --allow-root is never silent ---------------------------------------------------------
def test_allow_root_is_announced(capsys: pytest.CaptureFixture[str]) -> None:
    command = jupyter_command(Path("notebooks"), no_browser=True)
    err = capsys.readouterr().err
    if os.geteuid() == 0:
        assert "--allow-root" in command
        assert "--allow-root" in err and "run as root" in err
    else:
        assert "--allow-root" not in command and err == ""


# -- 12: notebooks never drop a schema they did not create ----------------------------------
def test_fresh_schema_never_drops_a_schema_the_workbench_did_not_create(pg_server: object) -> None:
    dsn: str = pg_server.dsn  # type: ignore[attr-defined]
    schema = f"precious_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE TABLE {}.data (x int)").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("INSERT INTO {}.data VALUES (42)").format(sql.Identifier(schema)))
    try:
        with pytest.raises(ValueError, match=f"{schema}.*did not create it"):
            lab.connect(dsn, schema=schema, fresh_schema=True)
        with psycopg.connect(dsn) as conn:
            assert conn.execute(sql.SQL("SELECT x FROM {}.data").format(
                sql.Identifier(schema))).fetchone() == (42,)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def test_fresh_schema_resets_its_own_schema_and_says_where_it_writes(
    pg_server: object, capsys: pytest.CaptureFixture[str]
) -> None:
    dsn: str = pg_server.dsn  # type: ignore[attr-defined]
    schema = f"nb_{uuid.uuid4().hex[:10]}"
    try:
        with lab.connect(dsn, schema=schema) as wb:
            wb.run(wb.journal.highest_seq("p"))
            wb.frames.table_exists("events")
        with psycopg.connect(schema_url(dsn, schema), autocommit=True) as conn:
            conn.execute("CREATE TABLE leftover (x int)")
        out = capsys.readouterr().out
        assert f"writing to schema {schema!r}" in out and "dbname=postgres" in out
        with lab.connect(dsn, schema=schema, fresh_schema=True):
            pass
        assert "dropped and recreated" in capsys.readouterr().out
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT to_regclass(%s)", [f"{schema}.leftover"]).fetchone()
            assert row == (None,)  # the workbench's own schema was reset
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def test_notebooks_drop_schemas_only_through_the_guarded_connect() -> None:
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert "DROP SCHEMA" not in code.upper(), path.name


# -- issue 13: the main command says where to start; JupyterLab quiet unless --verbose ---------
def test_main_command_opens_the_first_notebook_quietly(tmp_path: Path) -> None:
    from actorpg_lab.lab.__main__ import where_to_start

    (tmp_path / "02_replay_debugging.ipynb").write_text("{}")
    (tmp_path / "01_explore_journal.ipynb").write_text("{}")
    command = jupyter_command(tmp_path, no_browser=True)
    assert "--LabApp.default_url=/lab/tree/01_explore_journal.ipynb" in command
    assert "--log-level=WARN" in command
    assert "--log-level=WARN" not in jupyter_command(tmp_path, verbose=True)
    text = where_to_start(tmp_path)
    assert "01_explore_journal.ipynb" in text and "02_replay_debugging.ipynb" in text
    assert "README.md" in text
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not any(c.startswith("--LabApp.default_url") for c in jupyter_command(empty))
