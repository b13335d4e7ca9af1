"""The one-event append path: prepared statements on a warm connection (``_prepared``,
``Database.run_prepared``).

The statement is prepared once per connection and sent straight through libpq; the
connection stays out of the pool while appends keep coming.  These tests pin what that
path must keep: outcomes, NOTIFY and tag rows as on the ordinary path, the warm
connection given back (idle, a waiting client, close), a statement the server forgot
(``DISCARD ALL``) prepared again, a killed backend retried, a cancelled append not
poisoning the next one, and parameters rejected before anything is sent.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from actorpg_lab import JournalConcurrencyError, JournalEntry
from actorpg_lab.postgres import PostgresJournal
from actorpg_lab.postgres._database import WARM_IDLE_SECONDS
from actorpg_lab.postgres._prepared import (
    PreparedQuery,
    TextArray,
    execute_prepared,
    int8_array,
    release_reader,
)


async def _pool(url: str, **kwargs: Any) -> AsyncConnectionPool[Any]:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url, kwargs={"autocommit": True}, open=False, **kwargs)
    await pool.open(wait=True)
    return pool


def test_prepared_query_numbers_named_parameters_once() -> None:
    query = PreparedQuery(b"SELECT %(a)s, %(b)s, %(a)s, '%%'")
    assert query.sql == b"SELECT $1, $2, $1, '%'"
    assert query.names == ("a", "b")
    assert query.name_for((0, 20)) == query.name_for((0, 20)) != query.name_for((0, 0))
    assert query.binary is None  # every parameter as text
    binary = PreparedQuery(b"SELECT %(a)s, %(b)b::text[], %(a)s")
    assert binary.sql == b"SELECT $1, $2::text[], $1"
    assert binary.binary == (0, 1)


async def test_tagged_and_untagged_events_and_conflicts(pg_url: str) -> None:
    journal = PostgresJournal(url=pg_url)
    try:
        await journal.append("s-1", [JournalEntry({"n": 1})], 0)
        written = await journal.append("s-1", [JournalEntry({"n": 2}, tags=("a", "b"))], 1)
        assert [(e.sequence_nr, e.tags) for e in written] == [(2, ("a", "b"))]
        assert written[0].position > 0 and written[0].timestamp > 0
        for expected in (0, 1, 5):
            with pytest.raises(JournalConcurrencyError) as info:
                await journal.append("s-1", [JournalEntry({"n": 3}, tags=("a",))], expected)
            assert info.value.actual_seq == 2
            with pytest.raises(JournalConcurrencyError):
                await journal.append("s-1", [JournalEntry({"n": 3})], expected)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            tags = conn.execute("SELECT persistence_id, sequence_nr, tag FROM events_tags "
                                "ORDER BY tag").fetchall()
        assert tags == [("s-1", 2, "a"), ("s-1", 2, "b")]
        assert [e.event for e in await journal.read("s-1")] == [{"n": 1}, {"n": 2}]
    finally:
        await journal.close()


async def test_the_warm_connection_is_reused_then_given_back(pg_url: str) -> None:
    pool = await _pool(pg_url, min_size=2, max_size=4)
    journal = PostgresJournal(pool=pool)
    try:
        pids = set()
        for seq in range(5):
            await journal.append("s-1", [JournalEntry({"n": seq})], seq)
            row = await journal.database.fetch_one(
                "pid", sql.Composed([sql.SQL("SELECT pg_backend_pid()")]), ())
            assert row is not None
            pids.add(row[0])
        assert len(pids) == 1  # appends and reads in between: one backend
        assert journal.database._warm is not None
        await asyncio.sleep(WARM_IDLE_SECONDS * 3)
        await asyncio.sleep(0)
        assert journal.database._warm is None
        assert pool.get_stats()["pool_available"] == pool.get_stats()["pool_size"]
    finally:
        await journal.close()
        await pool.close()


async def test_batch_appends_keep_one_backend_too(pg_url: str) -> None:
    # The pool hands connections out first-in first-out: without the warm connection a
    # writer of multi-event appends would visit every backend in turn.
    pool = await _pool(pg_url, min_size=4, max_size=4)
    journal = PostgresJournal(pool=pool)
    try:
        pids, warm = set(), set()
        for batch in range(5):
            written = await journal.append(
                "s-1", [JournalEntry({"n": i}) for i in range(3)], batch * 3)
            assert [e.sequence_nr for e in written] == [batch * 3 + 1, batch * 3 + 2,
                                                        batch * 3 + 3]
            assert journal.database._warm is not None
            warm.add(id(journal.database._warm))
            row = await journal.database.fetch_one(
                "pid", sql.Composed([sql.SQL("SELECT pg_backend_pid()")]), ())
            assert row is not None
            pids.add(row[0])
        assert len(pids) == 1 and len(warm) == 1
        assert [e.sequence_nr for e in await journal.read("s-1")] == list(range(1, 16))
    finally:
        await journal.close()
        await pool.close()


async def test_binary_arrays_of_every_shape_round_trip(pg_url: str) -> None:
    pool = await _pool(pg_url, min_size=1, max_size=1)
    try:
        async with pool.connection() as conn:
            values = ['{"a":"\u00e9\\""}', "", "x,y", "\u65e5\u672c"]
            query = PreparedQuery(b"SELECT %(t)b::text[] = %(u)s::text[], %(k)b::bigint[], "
                                  b"cardinality(%(e)b::text[]), cardinality(%(f)b::bigint[]), "
                                  b"%(n)b::text[]")
            rows = await execute_prepared(conn, query, {
                "t": TextArray(values), "u": "{" + ",".join(
                    '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}",
                "k": int8_array([1, -2, 2**63 - 1, -(2**63)]), "e": TextArray([]),
                "f": int8_array([]), "n": TextArray(["a", None, "b"])})
            assert rows == [(b"t", b"{1,-2,9223372036854775807,-9223372036854775808}", b"0",
                             b"0", b"{a,NULL,b}")]
    finally:
        await pool.close()


async def test_a_payload_larger_than_the_socket_buffer_is_sent_whole(pg_url: str) -> None:
    # psycopg's async connections are non-blocking: libpq keeps what the socket did not
    # take, and the warm path must flush it (it waited for a reply that never came).
    journal = PostgresJournal(url=pg_url)
    try:
        for seq in range(3):
            written = await asyncio.wait_for(
                journal.append("big", [JournalEntry({"x": "y" * 4_000_000})], seq), 60)
            assert [e.sequence_nr for e in written] == [seq + 1]
        assert [len(e.event["x"]) for e in await journal.read("big")] == [4_000_000] * 3
        for n in range(3):  # multi-event appends: their arrays travel in binary
            batch = [JournalEntry({"b": n, "i": i, "pad": "p" * 50}, ("batch", f"b{n}"))
                     for i in range(5000)]
            written = await asyncio.wait_for(journal.append("bulk", batch, n * 5000), 60)
            assert written[-1].sequence_nr == (n + 1) * 5000
        stored = await journal.read("bulk")
        assert [(e.event["b"], e.event["i"], e.tags) for e in stored] == [
            (n, i, ("batch", f"b{n}")) for n in range(3) for i in range(5000)]
    finally:
        await journal.close()


async def test_a_waiting_client_gets_the_warm_connection(pg_url: str) -> None:
    pool = await _pool(pg_url, min_size=1, max_size=1)
    journal = PostgresJournal(pool=pool)
    try:
        await journal.append("s-1", [JournalEntry({"n": 0})], 0)
        assert journal.database._warm is not None  # holds the pool's only connection
        started = asyncio.get_running_loop().time()
        async with pool.connection(timeout=5) as conn:  # another store of the pool
            await conn.execute("SELECT 1")
        assert asyncio.get_running_loop().time() - started < 5
        # ...and the journal keeps working, taking it back
        await journal.append("s-1", [JournalEntry({"n": 1})], 1)
        assert await journal.highest_seq("s-1") == 2
    finally:
        await journal.close()
        await pool.close()


async def test_close_gives_the_warm_connection_back_to_a_shared_pool(pg_url: str) -> None:
    pool = await _pool(pg_url, min_size=1, max_size=2)
    journal = PostgresJournal(pool=pool)
    await journal.append("s-1", [JournalEntry({"n": 0})], 0)
    await journal.close()
    stats = pool.get_stats()
    assert stats["pool_available"] == stats["pool_size"]
    await pool.close()


async def test_a_forgotten_statement_is_prepared_again(pg_url: str) -> None:
    journal = PostgresJournal(url=pg_url)
    try:
        await journal.append("s-1", [JournalEntry({"n": 0})], 0)
        warm = journal.database._warm
        assert warm is not None
        # Used outside the Database (which releases it whenever the connection leaves
        # the prepared path), the warm connection's kept reader is released first.
        release_reader(warm)
        await warm.execute("DISCARD ALL")  # what a pool reset hook may do
        await journal.append("s-1", [JournalEntry({"n": 1})], 1)
        await journal.append("s-1", [JournalEntry({"n": 2}, tags=("t",))], 2)
        assert [e.sequence_nr for e in await journal.read("s-1")] == [1, 2, 3]
    finally:
        await journal.close()


async def test_a_killed_backend_is_retried_on_a_fresh_connection(pg_url: str) -> None:
    journal = PostgresJournal(url=pg_url)
    try:
        await journal.append("s-1", [JournalEntry({"n": 0})], 0)
        warm = journal.database._warm
        assert warm is not None
        backend = warm.pgconn.backend_pid
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
        await asyncio.sleep(0.1)
        await journal.append("s-1", [JournalEntry({"n": 1})], 1)
        assert await journal.highest_seq("s-1") == 2
        assert journal.database._warm is not None
        assert journal.database._warm.pgconn.backend_pid != backend
    finally:
        await journal.close()


async def test_a_cancelled_append_does_not_poison_the_next(pg_url: str) -> None:
    journal = PostgresJournal(url=pg_url)
    try:
        await journal.append("s-1", [JournalEntry({"n": 0})], 0)
        with psycopg.connect(pg_url, autocommit=True) as blocker:
            blocker.execute("BEGIN; LOCK TABLE events IN EXCLUSIVE MODE")  # appends wait
            task = asyncio.ensure_future(journal.append("s-1", [JournalEntry({"n": 1})], 1))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            blocker.execute("ROLLBACK")
        # The cancelled statement may or may not have committed; the journal goes on
        # on a clean connection either way.
        head = await journal.highest_seq("s-1")
        assert head in (1, 2)
        await journal.append("s-1", [JournalEntry({"n": 2})], head)
        assert await journal.highest_seq("s-1") == head + 1
    finally:
        await journal.close()


async def test_bad_input_is_rejected_before_anything_is_sent(pg_url: str) -> None:
    journal = PostgresJournal(url=pg_url)
    try:
        await journal.append("s-1", [JournalEntry({"n": 0})], 0)
        with pytest.raises(ValueError):
            await journal.append("s-1", [JournalEntry({"n": float("nan")})], 1)
        with pytest.raises((ValueError, TypeError)):
            await journal.append("s\x00", [JournalEntry({"n": 1})], 1)
        with pytest.raises((ValueError, TypeError)):
            await journal.append("s-1", [JournalEntry({"n": 1}, tags=("a,b",))], 1)
        assert await journal.highest_seq("s-1") == 1
        await journal.append("s-1", [JournalEntry({"n": 1})], 1)
    finally:
        await journal.close()


async def test_a_connection_that_never_prepares_gets_unnamed_statements(pg_url: str) -> None:
    unprepared: AsyncConnectionPool[Any] = AsyncConnectionPool(
        pg_url, kwargs={"autocommit": True, "prepare_threshold": None}, open=False,
        min_size=1, max_size=2)
    await unprepared.open(wait=True)
    journal = PostgresJournal(pool=unprepared)
    try:
        for seq in range(7):
            tags = ("t",) if seq % 2 else ()
            await journal.append("s-1", [JournalEntry({"n": seq}, tags=tags)], seq)
        warm = journal.database._warm
        assert warm is not None
        release_reader(warm)  # used outside the Database (see above)
        cur = await warm.execute("SELECT count(*) FROM pg_prepared_statements")
        assert await cur.fetchone() == (0,)
        assert [e.sequence_nr for e in await journal.read("s-1")] == list(range(1, 8))
    finally:
        await journal.close()
        await unprepared.close()


async def test_the_warm_connection_keeps_its_reader_between_appends(pg_url: str) -> None:
    """The kept reader (``_prepared._Reader``): registered once for a run of appends,
    released when psycopg uses the connection (a read), when unsolicited data arrives
    while nothing waits (the backend terminated) and when the connection goes back."""
    from actorpg_lab.postgres._prepared import _READERS

    journal = PostgresJournal(url=pg_url)
    try:
        await journal.append("s-1", [JournalEntry({"n": 0})], 0)
        warm = journal.database._warm
        assert warm is not None
        reader = _READERS.get(warm.pgconn)
        assert reader is not None
        for seq in range(1, 4):
            await journal.append("s-1", [JournalEntry({"n": seq})], seq)
            assert _READERS.get(warm.pgconn) is reader  # the same registration
        assert await journal.highest_seq("s-1") == 4  # psycopg's own wait: released
        assert warm.pgconn not in _READERS
        await journal.append("s-1", [JournalEntry({"n": 4})], 4)
        assert _READERS.get(warm.pgconn) is not None  # registered afresh
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (warm.pgconn.backend_pid,))
        for _ in range(100):  # the server's goodbye wakes the idle reader: it lets go
            if warm.pgconn not in _READERS:
                break
            await asyncio.sleep(0.01)
        assert warm.pgconn not in _READERS
        await journal.append("s-1", [JournalEntry({"n": 5})], 5)  # a fresh connection
        assert [e.sequence_nr for e in await journal.read("s-1")] == list(range(1, 7))
        fresh = journal.database._warm
        assert fresh is not None and fresh is not warm
        await journal.append("s-1", [JournalEntry({"n": 6})], 6)
        assert fresh.pgconn in _READERS
        await asyncio.sleep(WARM_IDLE_SECONDS * 4)  # idle: back to the pool, released
        assert journal.database._warm is None
        assert fresh.pgconn not in _READERS
    finally:
        await journal.close()
