"""The projection tables: the migration script matches what the runner creates, and a
database pre-provisioned with it works for a role with only SELECT/INSERT/UPDATE/DELETE
(``auto_create_tables=False``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from importlib import resources
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from actorpg_lab import JournalEntry
from actorpg_lab.postgres import PostgresJournal
from actorpg_lab.projections import ProjectionContext, ProjectionRunner

from ..conftest import schema_url
from ._models import PgSink, Recorder

pytestmark = pytest.mark.asyncio

_SECRET = "s3cr3t-" + uuid.uuid4().hex[:8]


def _migration() -> str:
    return (resources.files("actorpg_lab.postgres") / "sql" / "migrate_projections.sql").read_text()


def _columns(dsn: str, schema: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = %s "
            "ORDER BY table_name, ordinal_position", [schema]).fetchall()


@pytest.fixture
def other_schema(pg_server: Any) -> Iterator[str]:
    name = f"m_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


async def test_migration_script_creates_what_the_runner_creates(
        pg_server: Any, pg_url: str, pg_schema: str, other_schema: str) -> None:
    journal = PostgresJournal(url=pg_url)
    async with ProjectionRunner(journal, [Recorder(PgSink(pg_url, "rm"))]):
        pass
    await journal.close()
    with psycopg.connect(schema_url(pg_server.dsn, other_schema), autocommit=True) as conn:
        conn.execute(_migration())
        conn.execute(_migration())  # idempotent
    created = [r for r in _columns(pg_server.dsn, pg_schema) if r[0].startswith("projection_")]
    migrated = _columns(pg_server.dsn, other_schema)
    assert created and created == migrated


class _Pinned(Recorder):
    """The read model is provisioned too: no DDL in setup."""

    async def setup(self, ctx: ProjectionContext) -> None:
        return None


async def test_dml_only_role_runs_projections_on_provisioned_tables(
        pg_server: Any, pg_url: str, pg_schema: str) -> None:
    owner_journal = PostgresJournal(url=pg_url)
    await owner_journal.highest_seq("x")  # the journal's tables, as their owner
    await owner_journal.close()
    role = f"pj_rw_{uuid.uuid4().hex[:8]}"
    ident = sql.Identifier
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(_migration())
        conn.execute("CREATE TABLE rm_pinned (persistence_id TEXT NOT NULL, sequence_nr BIGINT "
                     "NOT NULL, n BIGSERIAL, PRIMARY KEY (persistence_id, sequence_nr))")
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                             "PASSWORD {}").format(ident(role), sql.Literal(_SECRET)))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(ident(pg_schema), ident(role)))
        conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} "
                             "TO {}").format(ident(pg_schema), ident(role)))
        conn.execute(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
            ident(pg_schema), ident(role)))
    url = make_conninfo(pg_url, user=role, password=_SECRET)
    try:
        journal = PostgresJournal(url=url, auto_create_tables=False)
        with psycopg.connect(url, autocommit=True) as conn:  # really no DDL for this role
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("CREATE TABLE nope (x int)")
        sink = PgSink(url, "rm_pinned")
        events = await journal.append("a", [JournalEntry({"i": i}, ("t",)) for i in range(5)], 0)
        runner = ProjectionRunner(journal, [_Pinned(sink)], auto_create_tables=False,
                                  on_error="skip")
        async with runner:
            await runner.wait_for(events, 30)
            [status] = await runner.status()
        await journal.close()
        assert await sink.rows() == [("a", i) for i in range(1, 6)]
        assert status.state == "caught_up" and status.handled == 5
    finally:
        with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(ident(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(ident(role)))
