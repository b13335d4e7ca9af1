"""Every table the stores create can be distributed by ``persistence_id`` with Citus.

The tables are not listed here: the stores create them in a fresh schema with every
opt-in switched on (each keyword-only ``bool`` whose default is ``False`` — so a
``log_conflicts=`` or any later option that adds a table is covered without touching
this file), they are exercised until every lazily created table exists, and the list
is read back from ``pg_catalog``.  The rules are ``docs/sql/citus_check.sql`` (the
query ``docs/scale-out.md`` tells operators to run before ``create_distributed_table``):
every primary key / unique constraint / unique index includes ``persistence_id``, which
is ``text`` everywhere; no foreign keys; no sequence shared across tables.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actorpg_lab import DurableStateConcurrencyError, JournalConcurrencyError, JournalEntry
from actorpg_lab.postgres import PostgresDurableStateStore, PostgresJournal, PostgresSnapshotStore
from actorpg_lab.query import PersistenceQuery

CHECK_SQL = Path(__file__).resolve().parents[2] / "docs" / "sql" / "citus_check.sql"

#: Tables the API contract documents; the catalog must hold at least these.
DOCUMENTED = {"events", "events_tags", "events_meta", "snapshots", "durable_state"}


def _all_options_on(cls: type) -> dict[str, Any]:
    """Every keyword-only bool parameter of ``cls`` that defaults to False, set to True."""
    options: dict[str, Any] = {}
    for name, param in inspect.signature(cls).parameters.items():
        if param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is False:
            options[name] = True
    return options


def problems(dsn: str, schema: str) -> list[tuple[str, str, str]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(CHECK_SQL.read_text(encoding="utf-8"), {"schema": schema}).fetchall()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def catalog_tables(dsn: str, schema: str) -> set[str]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p')", (schema,)).fetchall()
    return {str(r[0]) for r in rows}


async def _exercise_every_store(url: str) -> None:
    """Create the stores with all options on and drive every write path once, so that
    any table created lazily (conflict logs, pruning logs, migrations) exists."""
    journal = PostgresJournal(url=url, **_all_options_on(PostgresJournal))
    snapshots = PostgresSnapshotStore(url=url, keep_n=1, **_all_options_on(PostgresSnapshotStore))
    durable = PostgresDurableStateStore(url=url, **_all_options_on(PostgresDurableStateStore))
    try:
        await journal.append("a-1", [JournalEntry({"n": 1}, tags=("t1", "t2")),
                                     JournalEntry({"n": 2})], 0)
        with pytest.raises(JournalConcurrencyError):
            await journal.append("a-1", [JournalEntry({"n": 3})], 0)
        await journal.delete("a-1", 1)
        await PersistenceQuery(journal).current_events_by_tag("t1")
        for seq in (1, 2, 3):
            await snapshots.save("a-1", seq, {"n": seq})
        await snapshots.delete("a-1", 1)
        await durable.upsert("d-1", 0, {"n": 1})
        with pytest.raises(DurableStateConcurrencyError):
            await durable.upsert("d-1", 0, {"n": 2})
        await durable.delete("d-1")
    finally:
        for store in (journal, snapshots, durable):
            await store.close()


async def test_every_store_table_is_distributable_by_persistence_id(
        pg_server: Any, pg_schema: str, pg_url: str) -> None:
    await _exercise_every_store(pg_url)
    tables = catalog_tables(pg_server.dsn, pg_schema)
    assert tables >= DOCUMENTED, f"the stores did not create the documented tables: {tables}"
    assert problems(pg_server.dsn, pg_schema) == []


async def test_renamed_tables_are_distributable_too(pg_server: Any, pg_schema: str,
                                                    pg_url: str) -> None:
    journal = PostgresJournal(url=pg_url, events_table="orders",
                              **_all_options_on(PostgresJournal))
    try:
        await journal.append("o-1", [JournalEntry("x", tags=("t",))], 0)
    finally:
        await journal.close()
    assert {"orders", "orders_tags", "orders_meta"} <= catalog_tables(pg_server.dsn, pg_schema)
    assert problems(pg_server.dsn, pg_schema) == []


@pytest.fixture
def bad_schema(pg_server: Any, pg_schema: str) -> Iterator[str]:
    """A schema breaking each rule once (so the check is shown to catch each)."""
    import psycopg
    from psycopg import sql

    ddl = """
    CREATE TABLE ok (persistence_id text, n bigint, PRIMARY KEY (persistence_id, n));
    CREATE TABLE no_pid (id bigint PRIMARY KEY);
    CREATE TABLE int_pid (persistence_id bigint PRIMARY KEY);
    CREATE TABLE pk_without (persistence_id text, n bigint PRIMARY KEY);
    CREATE TABLE unique_without (persistence_id text, n bigint, UNIQUE (n));
    CREATE TABLE index_without (persistence_id text, n bigint);
    CREATE UNIQUE INDEX index_without_n ON index_without (n);
    CREATE TABLE child (persistence_id text, n bigint,
                        FOREIGN KEY (persistence_id, n) REFERENCES ok);
    CREATE SEQUENCE shared_seq;
    CREATE TABLE seq_a (persistence_id text, p bigint DEFAULT nextval('shared_seq'));
    CREATE TABLE seq_b (persistence_id text, p bigint DEFAULT nextval('shared_seq'));
    CREATE TABLE own_seq (persistence_id text, p bigserial);
    """
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(pg_schema)))
        conn.execute(ddl)
    yield pg_schema


def test_the_check_catches_each_rule(pg_server: Any, bad_schema: str) -> None:
    found = problems(pg_server.dsn, bad_schema)
    by_problem = {(table, problem) for table, problem, _ in found}
    assert by_problem == {
        ("no_pid", "no persistence_id column"),
        ("no_pid", "primary key without persistence_id"),
        ("int_pid", "persistence_id is not text"),
        ("pk_without", "primary key without persistence_id"),
        ("unique_without", "unique constraint without persistence_id"),
        ("index_without", "unique index without persistence_id"),
        ("child", "foreign key"),
        ("seq_a, seq_b", "sequence shared across tables"),
    }
    assert ("child", "foreign key", "child_persistence_id_n_fkey -> ok") in found
    assert ("seq_a, seq_b", "sequence shared across tables", "shared_seq") in found
