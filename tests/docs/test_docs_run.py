"""Docs that run (issue 23, point 4): every Python block of the README, and the doctests
of the public modules, are executed against the test server.

README blocks run like notebook cells: each block in a fresh Python process, except a
block preceded by ``<!-- continues the block above ... -->``, which runs in the same
session right after the block before it.  A block that uses the workbench runs on the
demo data set (``make lab`` seeds it; here ``lab.demo.ensure_demo``), any other block on
an empty schema of its own; ``$ACTORPG_DSN`` points there, so ``lab.connect()`` and the
examples' ``os.environ["ACTORPG_DSN"]`` find it.  Warnings are errors.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._pg import PgServer

from ..conftest import schema_url

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CONTINUES = "<!-- continues the block above"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```python\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)


def readme_sessions(text: str) -> list[list[tuple[str, str]]]:
    """The README's Python blocks grouped into sessions: ``[(label, source), ...]``."""
    sessions: list[list[tuple[str, str]]] = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[:match.start()].rstrip().splitlines()
        source = textwrap.dedent(match.group("body"))
        block = (f"README.md:{line + 1}", source)
        if before and before[-1].strip().startswith(CONTINUES) and sessions:
            sessions[-1].append(block)
        else:
            sessions.append([block])
    return sessions


SESSIONS = readme_sessions(README.read_text("utf-8"))


def _uses_workbench(session: list[tuple[str, str]]) -> bool:
    return any("from actorpg_lab import lab" in source for _, source in session)


def _schema(pg_server: PgServer) -> str:
    import psycopg
    from psycopg import sql

    name = f"docs_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    return name


def _drop(pg_server: PgServer, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def demo_url(pg_server: PgServer) -> Iterator[str]:
    """A schema holding the demo data set (what ``make lab`` seeds, broken streams too)."""
    from actorpg_lab import lab

    name = _schema(pg_server)
    url = schema_url(pg_server.dsn, name)
    with lab.connect(url, quiet=True) as wb:
        lab.demo.ensure_demo(wb)
    yield url
    _drop(pg_server, name)


@pytest.fixture
def empty_url(pg_server: PgServer) -> Iterator[str]:
    name = _schema(pg_server)
    yield schema_url(pg_server.dsn, name)
    _drop(pg_server, name)


def _run(args: list[str], url: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ACTORPG_DSN": url, "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, "-W", "error", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_the_readme_has_its_python_blocks() -> None:
    blocks = [b for s in SESSIONS for b in s]
    assert len(blocks) >= 9 and any(len(s) > 1 for s in SESSIONS)


@pytest.mark.parametrize("session", SESSIONS, ids=[s[0][0] for s in SESSIONS])
def test_every_readme_python_block_runs(session: list[tuple[str, str]], request: pytest.FixtureRequest,
                                        tmp_path: Path) -> None:
    url: str = request.getfixturevalue("demo_url" if _uses_workbench(session) else "empty_url")
    blocks = tmp_path / "blocks.json"
    blocks.write_text(json.dumps(session))
    done = _run(["-m", "tests.docs._session", str(blocks)], url, tmp_path / "cwd")
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    assert done.stdout.count("ran README.md:") == len(session), done.stdout


@pytest.mark.parametrize("group", ["core", "lab"])
def test_the_doctests_of_the_public_modules_run(group: str, empty_url: str,
                                                tmp_path: Path) -> None:
    done = _run(["-m", "tests.docs._doctests", group], empty_url, tmp_path)
    assert done.returncode == 0, f"{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    print(done.stdout.strip().splitlines()[-1])
    assert re.search(r"doctests \(\w+\): [1-9]\d* examples", done.stdout), done.stdout
