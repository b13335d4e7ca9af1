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

import pytest

from actorpg_lab import EmbeddedPostgres


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
