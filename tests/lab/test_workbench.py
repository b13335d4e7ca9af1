"""Connecting, the background loop, schemas, the embedded default and the main command."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from actorpg_lab import EmbeddedPostgres, JournalEntry, lab
from actorpg_lab.lab.__main__ import main


def test_repr_close_and_run(pg_url: str) -> None:
    wb = lab.connect(pg_url)
    assert "events='events'" in repr(wb) and "open" in repr(wb)
    assert "durable state" in wb._repr_html_()
    assert wb.run(wb.journal.highest_seq("x")) == 0
    wb.close()
    wb.close()
    assert "closed" in repr(wb)
    coro = wb.journal.highest_seq("x")
    with pytest.raises(RuntimeError, match="closed"):
        wb.run(coro)


def test_synchronous_calls_work_inside_a_running_event_loop(wb: lab.Workbench) -> None:
    async def notebook_cell() -> int:
        # Like a Jupyter cell: a loop is already running in this thread.
        wb.run(wb.journal.append("p", [JournalEntry({"a": 1})], 0))
        return len(wb.journal_frame())

    assert asyncio.run(notebook_cell()) == 1


def test_custom_table_names(pg_url: str) -> None:
    with lab.connect(pg_url, events_table="bank_events", snapshots_table="bank_snaps",
                     durable_state_table="bank_state") as wb:
        wb.run(wb.journal.append("p", [JournalEntry({"a": 1}, ("t",))], 0))
        wb.run(wb.snapshot_store.save("p", 1, {"a": 1}))
        assert wb.frames.table_exists("bank_events_tags")
        assert len(wb.tag_frame("t")) == 1 and len(wb.snapshots_frame()) == 1
        assert wb.streams_frame()["latest_snapshot_seq"].tolist() == [1]
        assert not wb.frames.table_exists("events")
    with pytest.raises(ValueError):
        lab.connect(pg_url, events_table="bad-name")


def test_schema_option_isolates_and_fresh_resets(pg_server: object) -> None:
    dsn = pg_server.dsn  # type: ignore[attr-defined]
    schema = f"lab_{uuid.uuid4().hex[:10]}"
    try:
        with lab.connect(dsn, schema=schema) as wb:
            wb.run(wb.journal.append("p", [JournalEntry({"a": 1})], 0))
        with lab.connect(dsn, schema=schema) as wb:
            assert len(wb.journal_frame()) == 1
        with lab.connect(dsn, schema=schema, fresh_schema=True) as wb:
            assert wb.journal_frame().empty
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    with pytest.raises(ValueError):
        lab.connect(dsn, fresh_schema=True)


def test_no_url_starts_or_reuses_an_embedded_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ACTORPG_DSN", raising=False)
    data_dir = tmp_path / ".actorpg"
    server = EmbeddedPostgres(data_dir)
    try:
        with lab.connect(data_dir=data_dir) as wb:
            wb.run(wb.journal.append("p", [JournalEntry({"a": 1})], 0))
            assert wb.embedded is not None and "embedded PostgreSQL" in repr(wb)
        out = capsys.readouterr().out
        assert "embedded PostgreSQL running" in out and "psql" in out and server.dsn in out
        with lab.connect(data_dir=data_dir, quiet=True) as wb:  # a "kernel restart"
            assert len(wb.journal_frame()) == 1
        assert capsys.readouterr().out == ""
        # a kernel running in a sub-folder (notebooks/) finds the parent's server
        sub = tmp_path / "notebooks"
        sub.mkdir()
        monkeypatch.chdir(sub)
        assert lab.find_data_dir() == data_dir
        with lab.connect(quiet=True) as wb:
            assert len(wb.journal_frame()) == 1 and wb.embedded is not None
        assert not (sub / ".actorpg").exists()
        assert lab.find_data_dir(tmp_path / "elsewhere") == data_dir
        assert lab.find_data_dir("/") == Path("/") / ".actorpg"
        capsys.readouterr()
        assert main(["--data-dir", str(data_dir), "--stop-server"]) == 0
        assert "stopped" in capsys.readouterr().out and not server.is_running()
        assert (server.pgdata / "PG_VERSION").exists()  # the data is kept
    finally:
        server.destroy()


def test_main_command_seeds_once_and_prints_a_summary(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--url", pg_url, "--no-browser", "--summary"]) == 0
    first = capsys.readouterr().out
    assert "seeded the demo data" in first and "event streams" in first
    assert main(["--url", pg_url, "--no-browser", "--summary"]) == 0
    second = capsys.readouterr().out
    assert "not seeding again" in second
    assert first.splitlines()[-5:] == second.splitlines()[-5:]  # same data, not doubled
    with lab.connect(pg_url) as wb:
        streams = wb.streams_frame()
        # 12 accounts and race-1 (appended by racing writers)
        assert len(streams) == 13 and (streams["snapshots"] <= 3).all()
        assert wb.durable_state_frame(expand=True)["value"].tolist() == [40, 40]
