"""Fixtures for the reliability suite.

Most tests use the session server and a fresh schema per test (``pg_url`` /
``pg_schema`` from ``tests/conftest.py``).  Tests that stop, restart or reconfigure
the server get their OWN :class:`~actorpg_lab.EmbeddedPostgres` (``own_server``) so
the shared session server is never disturbed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from actorpg_lab import EmbeddedPostgres
from actorpg_lab.postgres import PostgresDurableStateStore, PostgresJournal, PostgresSnapshotStore

from ._checks import SECRET


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """A private embedded PostgreSQL (module scope) that tests may stop and restart."""
    root = Path(tmp_path_factory.mktemp(f"own-pg-{uuid.uuid4().hex[:6]}"))
    server = EmbeddedPostgres(root / "pg", settings={"fsync": "off", "max_connections": "200"})
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def own_schema_url(own_server: EmbeddedPostgres) -> Iterator[str]:
    """A conninfo for a fresh schema on ``own_server`` (dropped afterwards if reachable)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    own_server.start()  # a previous test may have left it stopped
    name = f"r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(own_server.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield make_conninfo(own_server.dsn, options=f"-c search_path={name}")
    own_server.start()
    with psycopg.connect(own_server.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def roles(pg_server: Any) -> Iterator[dict[str, str]]:
    """A read-write (DML only) and a read-only login role, with passwords."""
    suffix = uuid.uuid4().hex[:8]
    names = {"rw": f"lp_rw_{suffix}", "ro": f"lp_ro_{suffix}"}
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        for name in names.values():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                                 "PASSWORD {}").format(sql.Identifier(name), sql.Literal(SECRET)))
    yield names
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        for name in names.values():
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


async def _provision(pg_url: str) -> None:
    """Create exactly the documented tables (as the superuser), once."""
    j, s, d = (PostgresJournal(url=pg_url), PostgresSnapshotStore(url=pg_url),
               PostgresDurableStateStore(url=pg_url))
    await j.highest_seq("x")
    await s.load_latest("x")
    await d.load("x")
    for store in (j, s, d):
        await store.close()


@pytest.fixture
async def limited_urls(pg_url: str, pg_schema: str, roles: dict[str, str]) -> dict[str, str]:
    await _provision(pg_url)
    ident = sql.Identifier
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}, {}").format(
            ident(pg_schema), ident(roles["rw"]), ident(roles["ro"])))
        conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} "
                             "TO {}").format(ident(pg_schema), ident(roles["rw"])))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(
            ident(pg_schema), ident(roles["ro"])))
    return {kind: make_conninfo(pg_url, user=name, password=SECRET)
            for kind, name in roles.items()}
