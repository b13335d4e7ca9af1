"""I1, I2: keyed appends against real PostgreSQL: a reply lost after COMMIT, and 8
identical retries racing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from actorpg_lab import JournalEntry
from actorpg_lab.postgres import PostgresJournal
from actorpg_lab.postgres._prepared import PreparedQuery, execute_prepared


@pytest.fixture
async def journal(pg_url: str) -> AsyncIterator[PostgresJournal]:
    j = PostgresJournal(url=pg_url, pool_config={"min_size": 2, "max_size": 10})
    await j.highest_seq("warm-up")
    yield j
    await j.close()


async def _stored(pg_pool: Any, pid: str) -> list[tuple[Any, ...]]:
    async with pg_pool.connection() as conn:
        cur = await conn.execute("SELECT sequence_nr, payload FROM events WHERE persistence_id = %s"
                                 " ORDER BY 1", [pid])
        rows: list[tuple[Any, ...]] = await cur.fetchall()
        return rows


@pytest.mark.parametrize("entries", [
    [JournalEntry({"n": 1}, tags=("t",)), JournalEntry({"n": 2})],  # the array statement
    [JournalEntry({"n": 1}, tags=("t",))],  # one event: the scalar statement
    [JournalEntry({"n": 1}, metadata={"correlation_id": "c-1"})],  # scalar, with metadata
], ids=["two-events", "one-event", "one-event-metadata"])
async def test_i1_reply_lost_after_commit_retry_returns_identical_events(
        journal: PostgresJournal, pg_pool: Any, monkeypatch: pytest.MonkeyPatch,
        entries: list[JournalEntry]) -> None:
    """The connection dies right after the keyed append committed (the reply never
    arrives): the journal retries on a fresh connection, and the key returns the events
    already stored — same positions — with one copy stored."""
    real_run_prepared = journal._db.run_prepared
    keyed = (journal._append_keyed_prepared, journal._append_one_keyed_prepared)
    killed: list[PreparedQuery] = []

    async def run_prepared(operation: str, query: PreparedQuery, params: Any) -> Any:
        if query not in keyed or killed:
            return await real_run_prepared(operation, query, params)
        killed.append(query)
        # the statement runs and commits (autocommit), then its reply is lost with the
        # connection; Database.run_prepared retries it on a fresh connection
        async with await psycopg.AsyncConnection.connect(
                journal._db.connection_settings()[0], autocommit=True) as conn:
            await execute_prepared(conn, query, params)
        rows, attempts = await real_run_prepared(operation, query, params)
        return rows, attempts + 1

    monkeypatch.setattr(journal._db, "run_prepared", run_prepared)
    written = await journal.append("i1", entries, 0, idempotency_key="cmd-1")
    assert killed == [keyed[0] if len(entries) > 1 else keyed[1]]
    assert [e.sequence_nr for e in written] == list(range(1, len(entries) + 1))
    assert [dict(e.metadata) for e in written] == [dict(e.metadata or {}) for e in entries]
    rows = await _stored(pg_pool, "i1")
    assert len(rows) == len(entries)
    again = await journal.append("i1", entries, 0, idempotency_key="cmd-1")
    assert again == written and all(e.position == written[0].position for e in again)


async def test_i1_connection_killed_after_commit(pg_url: str, journal: PostgresJournal,
                                                 pg_pool: Any) -> None:
    """The same with a real server-side kill between COMMIT and the next call: the keyed
    retry on the next connection returns identical events."""
    first = await journal.append("i1b", [JournalEntry({"n": 1})], 0, idempotency_key="cmd-9")
    async with pg_pool.connection() as conn:
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                           "pid <> pg_backend_pid() AND datname = current_database() AND "
                           "application_name = '' AND state = 'idle' AND "
                           "query LIKE '%%idempotency%%'")
    again = await journal.append("i1b", [JournalEntry({"n": 1})], 0, idempotency_key="cmd-9")
    assert again == first
    assert len(await _stored(pg_pool, "i1b")) == 1


async def test_i2_eight_identical_retries_one_write(journal: PostgresJournal,
                                                    pg_pool: Any) -> None:
    for round_no in range(3):
        pid = f"i2-{round_no}"
        results = await asyncio.gather(*(
            journal.append(pid, [JournalEntry({"n": 1}, tags=("t",))], 0,
                           idempotency_key="same") for _ in range(8)))
        assert all(r == results[0] for r in results)
        assert len(await _stored(pg_pool, pid)) == 1
        async with pg_pool.connection() as conn:
            cur = await conn.execute("SELECT hits FROM events_idempotency WHERE "
                                     "persistence_id = %s", [pid])
            assert await cur.fetchone() == (7,)
