"""Positions on PostgreSQL: late commits, migration of older journals, start-up without stalls.

The backend-neutral query behaviour (both journals) is in ``tests/runtime/test_query.py``;
these are the PostgreSQL-only scenarios: real lock waits, real DDL, the shipped SQL script.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from actorpg_lab import JournalEntry, JournalError, TagFilter
from actorpg_lab.postgres import PostgresJournal
from actorpg_lab.query import PersistenceQuery, TaggedEvent, TagOffset
from tests._seed_schema import SEED_SCHEMA

T = 60.0

OLD_INSERT = ("INSERT INTO events (persistence_id, sequence_nr, payload, tags, timestamp) "
              "VALUES (%s, %s, %s, %s, %s)")
OLD_TAG_INSERT = ("INSERT INTO events_tags (persistence_id, sequence_nr, tag, timestamp) "
                  "VALUES (%s, %s, %s, %s)")


def key(t: TaggedEvent) -> tuple[str, int]:
    return (t.event.persistence_id, t.event.sequence_nr)


@pytest.fixture
async def journal(pg_pool: AsyncConnectionPool[Any]) -> AsyncIterator[PostgresJournal]:
    j = PostgresJournal(pool=pg_pool)
    await j.highest_seq("warm-up")
    yield j
    await j.close()


async def _wait_until_blocked_on_a_lock(pg_url: str, what: str) -> None:
    """Until some backend of this database waits on a heavyweight lock."""
    deadline = time.monotonic() + T
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            cur = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()")
            row = await cur.fetchone()
            if row is not None and row[0] > 0:
                return
            await asyncio.sleep(0.02)
    raise AssertionError(f"{what} never waited on a lock")


# -- the late commit of the issue, exactly ------------------------------------------------------
async def _late_commit_behind_a_primary_key_wait(
    journal: PostgresJournal, pg_url: str, hold_s: float
) -> None:
    """Writer B's append takes its timestamp and position, then waits on the primary key
    of a row another transaction inserted for the same (persistence_id, sequence_nr) and
    has not committed.  Meanwhile another stream keeps appending.  The other transaction
    rolls back, B commits with its old timestamp: B's event must reach the live consumer
    and a query resumed from an offset saved before, exactly once, in position order."""
    await journal.append("early", [JournalEntry({"n": 0}, ("bank",))], 0)
    q = PersistenceQuery(journal, poll_interval=0.1)
    [early] = await q.current_events_by_tag("bank")
    saved = early.offset.to_json()
    live: list[TaggedEvent] = []

    async def consume() -> None:
        async for tagged in q.events_by_tag("bank"):
            live.append(tagged)

    consumer = asyncio.create_task(consume())
    blocker = await psycopg.AsyncConnection.connect(pg_url)
    others = 0
    try:
        await blocker.execute(OLD_INSERT, ("late", 1, '"blocker"', "bank", 0))  # not committed
        b_append = asyncio.create_task(
            journal.append("late", [JournalEntry({"n": "B"}, ("bank",))], 0))
        await _wait_until_blocked_on_a_lock(pg_url, "writer B")
        started = time.monotonic()
        while time.monotonic() - started < hold_s:  # another stream keeps appending
            await journal.append("other", [JournalEntry({"n": others}, ("bank",))], others)
            others += 1
            await asyncio.sleep(0.05)
        assert not b_append.done()
        held = await q.lag("bank", early.offset)
        assert held.held_back  # waiting, not lost
        await blocker.rollback()
        [b_event] = await asyncio.wait_for(b_append, T)
        assert b_event.timestamp < int(time.time() * 1000) - int(hold_s * 1000) + 1_000
        expected = [("early", 1), ("late", 1), *(("other", s) for s in range(1, others + 1))]
        deadline = time.monotonic() + T
        while len(live) < len(expected) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert [key(t) for t in live] == expected  # B's position precedes the others'
        resumed = await q.current_events_by_tag("bank", TagOffset.from_json(saved))
        assert [key(t) for t in resumed] == expected[1:]
        assert [t.event.key for t in resumed] == sorted(t.event.key for t in resumed)
    finally:
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        await blocker.close()


async def test_late_commit_behind_a_primary_key_wait(journal: PostgresJournal,
                                                     pg_url: str) -> None:
    # 5.5 s: longer than the 5 s window the previous design relied on
    await _late_commit_behind_a_primary_key_wait(journal, pg_url, hold_s=5.5)


@pytest.mark.soak
async def test_late_commit_behind_a_primary_key_wait_soak(journal: PostgresJournal,
                                                          pg_url: str) -> None:
    await _late_commit_behind_a_primary_key_wait(journal, pg_url, hold_s=65.0)


# -- start-up ------------------------------------------------------------------------------------
async def test_first_use_does_not_stall_behind_a_waiting_writer(
    journal: PostgresJournal, pg_url: str
) -> None:
    """While one writer waits on a row lock, a NEW store's first append (a process
    starting up) completes at once: the catalog says the schema is there, no DDL runs."""
    await journal.append("contended", [JournalEntry(1)], 0)
    holder = await psycopg.AsyncConnection.connect(pg_url)
    waiter = await psycopg.AsyncConnection.connect(pg_url)
    try:
        await holder.execute(
            "SELECT * FROM events WHERE persistence_id = 'contended' FOR UPDATE")
        waiting = asyncio.create_task(waiter.execute(
            "UPDATE events SET tags = tags WHERE persistence_id = 'contended'"))
        await _wait_until_blocked_on_a_lock(pg_url, "the second writer")
        fresh = PostgresJournal(url=pg_url)
        started = time.monotonic()
        try:
            stored = await asyncio.wait_for(
                fresh.append("newcomer", [JournalEntry(1, ("t",))], 0), 3.0)
        finally:
            await fresh.close()
        assert stored[0].position > 0 and time.monotonic() - started < 3.0
        assert not waiting.done()
        await holder.rollback()
        await asyncio.wait_for(waiting, T)
    finally:
        await holder.close()
        await waiter.close()


# -- journals created by the previous release --------------------------------------------------
def _seed(pg_url: str, events: list[tuple[str, int, str, int]]) -> None:
    """The seed schema, with ``(pid, seq, tags_csv, timestamp)`` rows written the old way."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(SEED_SCHEMA)
        for pid, seq, tags, ts in events:
            conn.execute(OLD_INSERT, (pid, seq, f'{{"old":{seq}}}', tags, ts))
            for tag in filter(None, tags.split(",")):
                conn.execute(OLD_TAG_INSERT, (pid, seq, tag, ts))


def _index_valid(pg_url: str, name: str) -> bool:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
                           [name]).fetchone()
    return bool(row and row[0])


async def test_migration_never_queues_writers_behind_it(pg_url: str) -> None:
    """Tables of the previous release get the position column on first use; while an
    open transaction keeps the migration from its lock, writers of the old release keep
    writing (the ALTER never holds a queued lock), and the migration completes after."""
    _seed(pg_url, [("old-a", 1, "t", 1_000), ("old-b", 1, "t,x", 2_000), ("old-a", 2, "", 3_000)])
    open_tx = await psycopg.AsyncConnection.connect(pg_url)
    journal = PostgresJournal(url=pg_url)
    try:
        await open_tx.execute(OLD_INSERT, ("busy", 1, "1", "", 4_000))  # holds the table
        first_use = asyncio.create_task(journal.highest_seq("old-a"))
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as old_writer:
            for seq in range(1, 6):  # an old-release process writing during the migration
                started = time.monotonic()
                await asyncio.wait_for(
                    old_writer.execute(OLD_INSERT, ("old-c", seq, "2", "t", 5_000 + seq)), 5.0)
                await asyncio.wait_for(
                    old_writer.execute(OLD_TAG_INSERT, ("old-c", seq, "t", 5_000 + seq)), 5.0)
                assert time.monotonic() - started < 2.0
                await asyncio.sleep(0.15)
        assert not first_use.done()  # still waiting for its lock, politely
        await open_tx.commit()
        assert await asyncio.wait_for(first_use, T) == 2
        await journal.append("new", [JournalEntry({"new": 1}, ("t",))], 0)
        q = PersistenceQuery(journal)
        got = await q.current_events_by_tag("t")
        assert [key(t) for t in got] == [
            ("old-a", 1), ("old-b", 1), *(("old-c", s) for s in range(1, 6)), ("new", 1)]
        assert [t.event.position for t in got][:7] == [0] * 7 and got[-1].event.position > 0
        assert [key(t) for t in await q.current_events_by_tag(TagFilter(not_=["t"]))] == [
            ("busy", 1), ("old-a", 2)]
        assert _index_valid(pg_url, "events_by_position")
        assert _index_valid(pg_url, "events_tags_by_position")
    finally:
        await open_tx.close()
        await journal.close()


async def test_without_auto_create_an_unmigrated_journal_works_and_names_the_script(
    pg_url: str,
) -> None:
    """Exactly the documented (seed) tables and auto_create_tables=False: the store
    contract works (positions read 0); tag queries, which need positions to be exact,
    raise a JournalError naming the migration script; after the script they work."""
    _seed(pg_url, [("old-a", 1, "t", 1_000)])
    journal = PostgresJournal(url=pg_url, auto_create_tables=False)
    [stored] = await journal.append("old-a", [JournalEntry({"n": 2}, ("t",))], 1)
    assert stored.position == 0
    assert [(e.sequence_nr, e.position) for e in await journal.read("old-a")] == [(1, 0), (2, 0)]
    await journal.delete("old-a", 1)
    assert await journal.highest_seq("old-a") == 2
    for call in (journal.read_by_tag(TagFilter(all=["t"])), journal.visibility_horizon(),
                 PersistenceQuery(journal).current_events_by_tag("t")):
        with pytest.raises(JournalError, match=r"migrate_positions\.sql") as info:
            await call
        assert "events.position" in str(info.value)
        assert "auto_create_tables" in str(info.value)
    await journal.close()
    # the shipped script, run the way its header says (autocommit, statement by statement)
    script = resources.files("actorpg_lab.postgres").joinpath(
        "sql", "migrate_positions.sql").read_text("utf-8")
    body = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for _ in range(2):  # idempotent
            for stmt in filter(str.strip, body.split(";")):
                conn.execute(stmt)
    journal = PostgresJournal(url=pg_url, auto_create_tables=False)
    await journal.append("new", [JournalEntry(1, ("t",))], 0)
    q = PersistenceQuery(journal)
    got = await q.current_events_by_tag("t")
    assert [key(t) for t in got] == [("old-a", 2), ("new", 1)]
    assert got[0].event.position == 0 and got[1].event.position > 0
    assert _index_valid(pg_url, "events_by_position")
    await journal.close()


async def test_tag_queries_are_driven_by_the_ordering_indexes(
    journal: PostgresJournal, pg_url: str
) -> None:
    for s in range(20):
        await journal.append(f"s{s}", [JournalEntry(i, ("a",) if i % 2 else ("b",))
                                       for i in range(50)], 0)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ANALYZE events; ANALYZE events_tags")
        conn.execute("SET enable_seqscan = off")
        base: dict[str, Any] = {"position": "0", "pid": "", "seq": 0, "from_ts": 0, "limit": 10,
                "all": [], "any": [], "not": []}
        cases: list[tuple[Any, str, dict[str, Any]]] = [
            (journal._by_no_tag_sql, "events_by_position", {}),
            (journal._by_no_tag_sql, "events_by_position", {"not": ["c"]}),
            (journal._by_tag_sql, "events_tags_by_position", {"tag": "a", "all": ["a"]}),
            (journal._by_tag_sql, "events_tags_by_position",
             {"tag": "a", "all": ["a"], "not": ["c"]}),
            (journal._by_any_tag_sql, "events_tags_by_position", {"any": ["a", "b"]}),
            (journal._by_any_tag_sql, "events_tags_by_position",
             {"any": ["a", "b"], "not": ["c"]}),
        ]
        for query, index, params in cases:
            plan = "\n".join(r[0] for r in conn.execute(
                psycopg.sql.SQL("EXPLAIN ") + query, {**base, **params}).fetchall())
            assert index in plan, plan
