"""I1, I2: keyed appends against real PostgreSQL: a reply lost after COMMIT, and 8
identical retries racing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest

from actorpg_lab import IdempotencyConflictError, JournalConcurrencyError, JournalEntry
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


@pytest.mark.parametrize(("entries", "statement"), [
    ([JournalEntry({"n": 1}, tags=("t",)), JournalEntry({"n": 2})], "_append_keyed_prepared"),
    ([JournalEntry({"n": 1}, tags=("t", "u"))], "_append_one_keyed_prepared"),
    ([JournalEntry({"n": 1})], "_append_one_keyed_untagged_prepared"),
    ([JournalEntry({"n": 1}, tags=("t",), metadata={"correlation_id": "c-1"})],
     "_append_one_keyed_prepared"),
    ([JournalEntry({"n": 1}, metadata={"correlation_id": "c-1"})],
     "_append_one_keyed_untagged_prepared"),
], ids=["two-events", "one-tagged", "one-untagged", "one-tagged-metadata",
        "one-untagged-metadata"])
async def test_i1_reply_lost_after_commit_retry_returns_identical_events(
        journal: PostgresJournal, pg_pool: Any, monkeypatch: pytest.MonkeyPatch,
        entries: list[JournalEntry], statement: str) -> None:
    """The connection dies right after the keyed append committed (the reply never
    arrives): the journal retries on a fresh connection, and the key returns the events
    already stored — same positions — with one copy stored."""
    real_run_prepared = journal._db.run_prepared
    keyed = (journal._append_keyed_prepared, journal._append_one_keyed_prepared,
             journal._append_one_keyed_untagged_prepared)
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
    assert killed == [getattr(journal, statement)]
    assert [e.sequence_nr for e in written] == list(range(1, len(entries) + 1))
    assert [e.tags for e in written] == [tuple(e.tags) for e in entries]
    assert [dict(e.metadata) for e in written] == [dict(e.metadata or {}) for e in entries]
    rows = await _stored(pg_pool, "i1")
    assert len(rows) == len(entries)
    async with pg_pool.connection() as conn:
        cur = await conn.execute("SELECT sequence_nr, tag FROM events_tags WHERE "
                                 "persistence_id = 'i1' ORDER BY 1, 2")
        assert await cur.fetchall() == [(seq, tag) for seq, e in enumerate(entries, start=1)
                                        for tag in e.tags]
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


_SHAPES: dict[str, Callable[[int], list[JournalEntry]]] = {
    "one-untagged": lambda n: [JournalEntry({"n": n})],
    "one-tagged": lambda n: [JournalEntry({"n": n}, tags=("t", "u"))],
    "one-five-tags": lambda n: [JournalEntry({"n": n}, tags=("a", "b", "c", "d", "e"))],
    "two-events": lambda n: [JournalEntry({"n": n}, tags=("t",)), JournalEntry({"n": -n})],
}


@pytest.mark.parametrize("shape", list(_SHAPES))
async def test_every_keyed_statement_keeps_the_outcomes(journal: PostgresJournal,
                                                        pg_pool: Any, shape: str) -> None:
    """Each keyed statement (one untagged event, one tagged, one with more boundary keys
    than the scalar statement takes, several events): the write with its NOTIFY, a retry
    (at the old head and with the key reused at the current head), other content, a
    stale head with a new key."""
    make = _SHAPES[shape]
    n = len(make(1))
    async with await psycopg.AsyncConnection.connect(
            journal._db.connection_settings()[0], autocommit=True) as listener:
        await listener.execute("LISTEN events_appended")
        first = await journal.append("s", make(1), 0, idempotency_key="k")
        assert [e.sequence_nr for e in first] == list(range(1, n + 1))
        assert [e.tags for e in first] == [tuple(e.tags) for e in make(1)]
        gen = listener.notifies(timeout=5.0, stop_after=1)
        assert [x.channel async for x in gen] == ["events_appended"]
        assert await journal.append("s", make(1), 0, idempotency_key="k") == first
        # the key reused where the head now is: still the first append's events
        assert await journal.append("s", make(1), n, idempotency_key="k") == first
        gen = listener.notifies(timeout=0.3)
        assert [x async for x in gen] == []  # the retries wrote and notified nothing
    with pytest.raises(IdempotencyConflictError):
        await journal.append("s", make(2), n, idempotency_key="k")
    with pytest.raises(JournalConcurrencyError) as info:
        await journal.append("s", make(3), 0, idempotency_key="other")
    assert info.value.actual_seq == n
    assert [e.sequence_nr for e in await journal.append("s", make(4), n,
                                                        idempotency_key="other")] \
        == list(range(n + 1, 2 * n + 1))
    assert len(await _stored(pg_pool, "s")) == 2 * n
    async with pg_pool.connection() as conn:
        cur = await conn.execute("SELECT key, first_seq, events, hits FROM events_idempotency "
                                 "WHERE persistence_id = 's' ORDER BY key")
        assert await cur.fetchall() == [("k", 1, n, 2), ("other", n + 1, n, 0)]
    read = await journal.read("s")
    assert read[:n] == first


async def test_keyed_appends_without_the_metadata_column(pg_pool: Any) -> None:
    from actorpg_lab import metadata

    first = PostgresJournal(pool=pg_pool)
    await first.append("p", [JournalEntry({"n": 0})], 0)
    await first.close()
    async with pg_pool.connection() as conn:
        await conn.execute("ALTER TABLE events DROP COLUMN metadata")
    journal = PostgresJournal(pool=pg_pool, auto_create_tables=False)
    try:
        seq = 1
        for shape in _SHAPES.values():
            with metadata(correlation_id="req"):  # from the context: left out
                written = await journal.append("p", shape(seq), seq, idempotency_key=f"{seq}")
            assert await journal.append("p", shape(seq), seq,
                                        idempotency_key=f"{seq}") == written
            assert all(e.metadata == {} for e in written)
            seq += len(written)
        assert [e.sequence_nr for e in await journal.read("p")] == list(range(1, seq + 1))
    finally:
        await journal.close()
