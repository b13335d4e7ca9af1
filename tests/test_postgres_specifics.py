"""PostgreSQL-specific promises beyond the shared contract: schema, pools, errors."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from actorpg_lab import JournalEntry, JournalError, PersistenceError
from actorpg_lab.postgres import PostgresDurableStateStore, PostgresJournal, PostgresSnapshotStore
from tests.conftest import schema_url


def columns(pg_url: str, table: str) -> list[tuple[str, str]]:
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
            [table],
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


async def test_schema_matches_the_contract(pg_url: str, pg_pool: Any) -> None:
    journal = PostgresJournal(pool=pg_pool)
    snapshots = PostgresSnapshotStore(pool=pg_pool)
    durable = PostgresDurableStateStore(pool=pg_pool)
    await journal.append("a", [JournalEntry({"x": 1}, ["t1", "t2"])], 0)
    await snapshots.save("a", 1, {})
    await durable.upsert("a", 0, {})
    # the documented columns, plus metadata (correlation/causation JSON, NULL = none) and
    # position (the writing transaction's id, for tag queries)
    assert columns(pg_url, "events") == [
        ("persistence_id", "text"), ("sequence_nr", "bigint"), ("payload", "text"),
        ("tags", "text"), ("timestamp", "bigint"), ("metadata", "text"), ("position", "xid8")]
    assert columns(pg_url, "events_tags") == [
        ("persistence_id", "text"), ("sequence_nr", "bigint"), ("tag", "text"),
        ("timestamp", "bigint"), ("position", "xid8")]
    assert columns(pg_url, "events_meta") == [("persistence_id", "text"), ("deleted_to", "bigint")]
    assert columns(pg_url, "snapshots") == [
        ("persistence_id", "text"), ("sequence_nr", "bigint"), ("payload", "text"),
        ("timestamp", "bigint")]
    assert columns(pg_url, "durable_state") == [
        ("persistence_id", "text"), ("revision", "bigint"), ("payload", "text"),
        ("timestamp", "bigint")]
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT payload, tags FROM events").fetchone() == ('{"x":1}', "t1,t2")
        tag_rows = conn.execute("SELECT tag, sequence_nr FROM events_tags ORDER BY tag").fetchall()
        assert tag_rows == [("t1", 1), ("t2", 1)]


async def test_custom_table_names(pg_url: str, pg_pool: Any) -> None:
    journal = PostgresJournal(pool=pg_pool, events_table="ledger", tags_table="ledger_by_tag")
    await journal.append("a", [JournalEntry(1, ["t"])], 0)
    await journal.delete("a", 1)
    assert [c for c, _ in columns(pg_url, "ledger_by_tag")][:3] == [
        "persistence_id", "sequence_nr", "tag"]
    assert columns(pg_url, "ledger_meta")
    assert await journal.highest_seq("a") == 1
    default = PostgresJournal(pool=pg_pool)
    assert await default.highest_seq("a") == 0  # a different table set


@pytest.mark.parametrize(
    "name", ["events; DROP TABLE x", "1abc", "", "a-b", "ev\x00", "naïve", "a" * 80, 'x"y']
)
def test_unsafe_table_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="events_table") as info:
        PostgresJournal(url="postgresql:///x", events_table=name)
    assert repr(name) in str(info.value)
    with pytest.raises(ValueError, match="snapshots_table"):
        PostgresSnapshotStore(url="postgresql:///x", snapshots_table=name)
    with pytest.raises(ValueError, match="table"):
        PostgresDurableStateStore(url="postgresql:///x", table=name)
    with pytest.raises(TypeError, match="events_table"):
        PostgresJournal(url="postgresql:///x", events_table=3)  # type: ignore[arg-type]


def test_pool_and_url_are_exclusive(pg_url: str) -> None:
    with pytest.raises(ValueError, match="url= or pool="):
        PostgresJournal()
    with pytest.raises(TypeError, match="pool"):
        PostgresJournal(pool="not a pool")  # type: ignore[arg-type]


async def test_concurrent_table_creation_from_many_stores(pg_url: str) -> None:
    journals = [PostgresJournal(url=pg_url, pool_config={"min_size": 1, "max_size": 1})
                for _ in range(8)]
    try:
        results = await asyncio.gather(
            *[j.append(f"p{i}", [JournalEntry(i)], 0) for i, j in enumerate(journals)]
        )
        assert [r[0].event for r in results] == list(range(8))
    finally:
        await asyncio.gather(*[j.close() for j in journals])


async def test_failed_first_connection_is_not_remembered(pg_server: Any, pg_schema: str) -> None:
    good = schema_url(pg_server.dsn, pg_schema)
    journal = PostgresJournal(url=good, pool_config={"timeout": 2})
    # First call fails: the role does not exist yet.
    journal.database.url = good + " user=late_role"
    with pytest.raises(JournalError) as info:
        await journal.highest_seq("a")
    assert isinstance(info.value.__cause__, BaseException)
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS late_role")
        conn.execute("CREATE ROLE late_role LOGIN SUPERUSER")
    try:
        assert await journal.highest_seq("a") == 0  # the next call tries again and works
    finally:
        await journal.close()
        with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
            conn.execute("DROP OWNED BY late_role")
            conn.execute("DROP ROLE late_role")


async def test_failed_table_creation_is_not_remembered(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE events_tags (broken int)")  # clashes with the index we create
    journal = PostgresJournal(url=pg_url)
    try:
        with pytest.raises(JournalError, match="creating tables"):
            await journal.highest_seq("a")
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("DROP TABLE events_tags")
        assert await journal.highest_seq("a") == 0
    finally:
        await journal.close()


async def test_shared_pool_is_not_closed_by_stores(pg_pool: AsyncConnectionPool[Any]) -> None:
    journal = PostgresJournal(pool=pg_pool)
    await journal.append("a", [JournalEntry(1)], 0)
    await journal.close()
    assert not pg_pool.closed
    async with pg_pool.connection() as conn:
        assert (await (await conn.execute("SELECT count(*) FROM events")).fetchone()) == (1,)


async def test_owned_pool_is_closed_and_store_refuses_further_use(pg_url: str) -> None:
    journal = PostgresJournal(url=pg_url)
    await journal.append("a", [JournalEntry(1)], 0)
    pool = journal.database.pool
    assert pool is not None
    await journal.close()
    assert pool.closed
    with pytest.raises(JournalError, match="closed"):
        await journal.read("a")


async def test_driver_errors_are_translated_with_cause(pg_url: str, pg_pool: Any) -> None:
    journal = PostgresJournal(pool=pg_pool, auto_create_tables=False)
    with pytest.raises(JournalError) as info:
        await journal.read("a")  # no tables: undefined_table
    assert isinstance(info.value, PersistenceError)
    assert isinstance(info.value.__cause__, psycopg.errors.UndefinedTable)
    assert "42P01" in str(info.value)


async def test_reprs_redact_passwords(pg_url: str) -> None:
    url = "postgresql://bob:s3cret-pw@localhost:1/db"
    for store in (PostgresJournal(url=url), PostgresSnapshotStore(url=url),
                  PostgresDurableStateStore(url=url)):
        assert "s3cret-pw" not in repr(store) and "***" in repr(store)


async def test_big_sequence_numbers_are_python_ints(pg_pool: Any) -> None:
    journal = PostgresJournal(pool=pg_pool)
    await journal.append("a", [JournalEntry(1)], 0)
    await journal.delete("a", 1)
    [event] = await journal.append("a", [JournalEntry(2)], 1)
    assert type(event.sequence_nr) is int and type(event.timestamp) is int
    [read] = await journal.read("a")
    assert read == event
