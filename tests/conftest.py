"""Fixtures shared by every test: a real PostgreSQL server and per-test isolation.

``pg_server`` is started once per session.  Every test that touches the database
gets its own schema (``pg_schema``); ``pg_url`` and ``pg_pool`` connect with
``search_path`` set to it, so tables with default names never collide between tests.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests._pg import PgServer, provide_server

if TYPE_CHECKING:
    from actorpg_lab import lab


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    with provide_server(Path(tmp_path_factory.mktemp("postgres"))) as server:
        yield server


@pytest.fixture
def pg_schema(pg_server: PgServer) -> Iterator[str]:
    import psycopg
    from psycopg import sql

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def schema_url(dsn: str, schema: str) -> str:
    """``dsn`` with ``search_path`` pinned to ``schema``."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dsn, options=f"-c search_path={schema}")


@pytest.fixture
def pg_url(pg_server: PgServer, pg_schema: str) -> str:
    """A conninfo string whose connections work inside this test's schema."""
    return schema_url(pg_server.dsn, pg_schema)


@pytest.fixture
async def pg_pool(pg_url: str) -> AsyncIterator[Any]:
    """A shared pool (max 12 connections) inside this test's schema."""
    from psycopg_pool import AsyncConnectionPool

    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        pg_url, min_size=1, max_size=12, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    yield pool
    await pool.close()


@pytest.fixture
def wb(pg_url: str) -> Iterator[lab.Workbench]:
    """A workbench on this test's schema (the notebook layer is imported only here, so
    tests that never ask for it do not load pandas and the ADBC driver)."""
    from actorpg_lab import lab

    workbench = lab.connect(pg_url)
    try:
        yield workbench
    finally:
        workbench.close()
