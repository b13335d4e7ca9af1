"""D1-D7, D10: conditional appends raced by real tasks on their own connections against
real PostgreSQL.  Every assertion is about outcomes, never about timing (except D10's
generous bound on how long a deadlock takes to resolve)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from actorpg_lab import (
    AppendCondition,
    AppendConditionError,
    JournalConcurrencyError,
    JournalEntry,
    Query,
    QueryItem,
)
from actorpg_lab.postgres import PostgresJournal
from actorpg_lab.postgres._boundary import boundary_key, set_locks_enabled

from ._model import SEAT, A, B, C, seat

WRITERS = 16


@pytest.fixture
async def journal(pg_url: str) -> AsyncIterator[PostgresJournal]:
    j = PostgresJournal(url=pg_url, pool_config={"min_size": 4, "max_size": WRITERS + 2})
    await j.highest_seq("warm-up")
    yield j
    await j.close()


BOUNDARY = Query([QueryItem(types=[SEAT], tags=["course:x"])])


async def _rounds(journal: PostgresJournal, rounds: int) -> None:
    heads = [0] * WRITERS
    for r in range(rounds):
        reads = await asyncio.gather(*(journal.read_matching(BOUNDARY) for _ in range(WRITERS)))
        assert {len(read.events) for read in reads} == {r}

        async def attempt(w: int, read: Any) -> bool:
            try:
                await journal.append(f"w-{w}", [seat(w, len(read.events), "course:x")],
                                     heads[w], condition=AppendCondition(BOUNDARY, read.token))
            except AppendConditionError:
                return False
            heads[w] += 1
            return True

        won = await asyncio.gather(*(attempt(w, read) for w, read in enumerate(reads)))
        assert sum(won) == 1, f"round {r}: {sum(won)} winners"
    final = await journal.read_matching(BOUNDARY)
    assert [t.event.event.seen for t in final.events] == list(range(rounds))
    positions = [t.event.position for t in final.events]
    assert positions == sorted(positions) and len(set(positions)) == rounds


async def test_d1_rounds_exactly_one_winner(journal: PostgresJournal) -> None:
    await _rounds(journal, 15)


@pytest.mark.soak
async def test_d1_rounds_soak(journal: PostgresJournal) -> None:
    await _rounds(journal, 100)


async def _racing(journal: PostgresJournal, attempts: int) -> None:
    wins: list[int] = []
    losses = 0

    async def writer(w: int) -> None:
        nonlocal losses
        head = 0
        for _ in range(attempts):
            read = await journal.read_matching(BOUNDARY)
            try:
                await journal.append(f"w-{w}", [seat(w, len(read.events), "course:x")], head,
                                     condition=AppendCondition(BOUNDARY, read.token))
            except AppendConditionError as exc:
                assert exc.conflict[1].startswith("w-") and exc.event_type == SEAT
                losses += 1
                continue
            head += 1
            wins.append(len(read.events))

    await asyncio.gather(*(writer(w) for w in range(WRITERS)))
    assert sorted(wins) == list(range(len(wins))), "winners' seen counts not contiguous"
    assert len(wins) + losses == WRITERS * attempts and wins


async def test_d2_racing_writers_contiguous(journal: PostgresJournal) -> None:
    await _racing(journal, 15)


@pytest.mark.soak
async def test_d2_racing_soak(journal: PostgresJournal) -> None:
    await _racing(journal, 200)


async def _unrelated(journal: PostgresJournal, per_writer: int, shared: bool) -> None:
    failures = 0

    async def writer(w: int) -> None:
        nonlocal failures
        q = Query([QueryItem(types=[SEAT], tags=[f"private:{w}"])])
        tags = (f"private:{w}", "shared") if shared else (f"private:{w}",)
        for i in range(per_writer):
            read = await journal.read_matching(q)
            try:
                await journal.append(f"u-{w}", [seat(w, len(read.events), *tags)], i,
                                     condition=AppendCondition(q, read.token))
            except JournalConcurrencyError:
                failures += 1

    await asyncio.gather(*(writer(w) for w in range(WRITERS)))
    assert failures == 0


@pytest.mark.parametrize("shared", [False, True], ids=["private", "shared_tag"])
async def test_d3_unrelated_boundaries_never_fail(journal: PostgresJournal, shared: bool) -> None:
    await _unrelated(journal, 20, shared)


@pytest.mark.soak
@pytest.mark.parametrize("shared", [False, True], ids=["private", "shared_tag"])
async def test_d3_unrelated_soak(journal: PostgresJournal, shared: bool) -> None:
    await _unrelated(journal, 500, shared)


_TYPES = {"tests.dcb.A": A, "tests.dcb.B": B, "tests.dcb.C": C}


async def _randomized(journal: PostgresJournal, writers: int, batches: int, seed: int) -> None:
    """After wwwision's EventStoreConcurrencyTestBase: random queries and batches; the
    precedence graph of the successful appends must be acyclic."""
    rng = random.Random(seed)
    committed: dict[str, tuple[Query, set[str], list[Any]]] = {}

    def random_query() -> Query:
        items = []
        for _ in range(rng.randint(1, 2)):
            types = rng.sample(sorted(_TYPES), rng.randint(0, 2))
            tags = [f"{k}:{rng.randint(1, 3)}" for k in rng.sample(["k1", "k2"], rng.randint(0, 2))]
            if not types and not tags:
                tags = ["k1:1"]
            items.append(QueryItem(types=types, tags=tags))
        return Query(items)

    async def writer(w: int) -> None:
        head = 0
        for _ in range(batches):
            q = random_query()
            read = await journal.read_matching(q)
            seen = {t.event.event.info.split("|")[0] for t in read.events}
            batch = uuid.uuid4().hex[:12]
            entries = [
                JournalEntry(_TYPES[rng.choice(sorted(_TYPES))](f"{batch}|{i}"),
                             tags=tuple(f"{k}:{rng.randint(1, 3)}"
                                        for k in rng.sample(["k1", "k2"], rng.randint(0, 2))))
                for i in range(rng.randint(1, 5))]
            try:
                written = await journal.append(f"r-{seed}-{w}", entries, head,
                                               condition=AppendCondition(q, read.token))
            except AppendConditionError:
                continue
            head += len(written)
            committed[batch] = (q, seen, written)

    await asyncio.gather(*(writer(w) for w in range(writers)))
    assert committed
    edges: dict[str, set[str]] = {b: set() for b in committed}
    for a, (query, seen, _) in committed.items():
        for b, (_, _, events) in committed.items():
            if a == b:
                continue
            if b in seen:
                edges[b].add(a)           # B happened before A (A saw it)
            elif any(query.matches(e, journal.codec) for e in events):
                edges[a].add(b)           # A did not see B although it matches: A before B
    # Kahn: the graph must be acyclic
    indegree = {n: 0 for n in edges}
    for targets in edges.values():
        for t in targets:
            indegree[t] += 1
    ready = [n for n, d in indegree.items() if d == 0]
    visited = 0
    while ready:
        n = ready.pop()
        visited += 1
        for t in edges[n]:
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
    assert visited == len(edges), "precedence graph has a cycle: a decision missed an event"


async def test_d4_randomized_precedence_graph_is_acyclic(journal: PostgresJournal) -> None:
    await _randomized(journal, 12, 6, seed=4)


@pytest.mark.soak
async def test_d4_randomized_soak(journal: PostgresJournal) -> None:
    for seed in range(5):
        await _randomized(journal, 40, 10, seed)


async def _late_writer(pg_url: str, journal: PostgresJournal,
                       conn: psycopg.AsyncConnection[Any]) -> None:
    await journal.append_in_transaction(conn, "late", [seat(99, 0, "course:x")], 0)


async def test_d5_late_commit_blocks_then_fails(pg_url: str, journal: PostgresJournal) -> None:
    read = await journal.read_matching(BOUNDARY)
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        await _late_writer(pg_url, journal, conn)   # written, not committed: holds its lock
        task = asyncio.ensure_future(journal.append(
            "decider", [seat(1, 0, "course:x")], 0, condition=AppendCondition(BOUNDARY, read.token)))
        await asyncio.sleep(0.5)
        assert not task.done(), "the conditional append did not wait for the late writer"
        await conn.commit()
    with pytest.raises(AppendConditionError) as info:
        await asyncio.wait_for(task, 10)
    assert info.value.conflict[1:] == ("late", 1)


async def test_d5_without_the_writers_lock_a_lost_update(pg_url: str,
                                                         journal: PostgresJournal) -> None:
    """The writer's shared lock is load-bearing: without it the same schedule commits a
    decision that missed the late event."""
    read = await journal.read_matching(BOUNDARY)
    set_locks_enabled(False)
    try:
        async with await psycopg.AsyncConnection.connect(pg_url) as conn:
            await _late_writer(pg_url, journal, conn)
            set_locks_enabled(True)
            await asyncio.wait_for(journal.append(
                "decider", [seat(1, 0, "course:x")], 0,
                condition=AppendCondition(BOUNDARY, read.token)), 10)
            await conn.commit()
    finally:
        set_locks_enabled(True)
    assert len((await journal.read_matching(BOUNDARY)).events) == 2  # both: the lost update


async def _long_transaction(pg_url: str, journal: PostgresJournal, decisions: int,
                            hold_s: float) -> None:
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        # a transaction that has written (holds the horizon back) and stays open
        await journal.append_in_transaction(conn, "elsewhere", [JournalEntry({"n": 1})], 0)
        started = time.monotonic()
        for i in range(decisions):
            read = await journal.read_matching(BOUNDARY)
            assert len(read.events) == i
            await journal.append(f"d-{i}", [seat(i, i, "course:x")], 0,
                                 condition=AppendCondition(BOUNDARY, read.token))
        await asyncio.sleep(max(0.0, hold_s - (time.monotonic() - started)))
        await conn.commit()


async def test_d6_long_open_transaction_causes_no_false_conflicts(
        pg_url: str, journal: PostgresJournal) -> None:
    await _long_transaction(pg_url, journal, 30, 0.0)


@pytest.mark.soak
async def test_d6_long_transaction_soak(pg_url: str, journal: PostgresJournal) -> None:
    await _long_transaction(pg_url, journal, 100, 10.0)


async def test_d7_all_query_race_exactly_one(journal: PostgresJournal) -> None:
    big = 10_000

    async def attempt(w: int) -> bool:
        try:
            await journal.append(f"all-{w}", [JournalEntry({"w": w, "i": i}) for i in range(big)],
                                 0, condition=AppendCondition(Query.all(), None))
        except AppendConditionError:
            return False
        return True

    assert sorted(await asyncio.gather(attempt(1), attempt(2))) == [False, True]
    assert len((await journal.read_matching(Query.all())).events) == big


async def test_d7_plain_big_appends_never_interleave(journal: PostgresJournal) -> None:
    big = 10_000
    await asyncio.gather(*(journal.append(f"p-{w}", [JournalEntry({"i": i}) for i in range(big)],
                                          0) for w in range(2)))
    events = (await journal.read_matching(Query.all())).events
    streams = [t.event.persistence_id for t in events]
    assert len(streams) == 2 * big
    assert streams == sorted(streams, key=lambda s: streams.index(s))  # two blocks


def _ordered_tags() -> tuple[str, str]:
    """Two tags whose boundary keys sort ``low < high`` (the global lock order)."""
    a, b = "tag-a", "tag-b"
    return (a, b) if boundary_key("events", "t", a) < boundary_key("events", "t", b) else (b, a)


async def test_d10_deadlock_resolves_as_a_conflict(pg_url: str, journal: PostgresJournal) -> None:
    """The cycle a conditional append can be part of: it holds its lower key and waits
    for its higher one, held (shared) by W1; W1 waits for W2's uncommitted row of the
    same stream; W2 wants the lower key.  The deadlock detector breaks it (1 s), and
    the victim's append raises JournalConcurrencyError."""
    low, high = _ordered_tags()
    query = Query([QueryItem(tags=[low]), QueryItem(tags=[high])])
    read = await journal.read_matching(query)
    outcomes: dict[str, BaseException | None] = {}
    finished: dict[str, float] = {}

    async def run(name: str, coro: Any) -> None:
        try:
            await coro
            outcomes[name] = None
        except JournalConcurrencyError as exc:
            outcomes[name] = exc
        finished[name] = time.monotonic()

    async with await psycopg.AsyncConnection.connect(pg_url) as w1, \
            await psycopg.AsyncConnection.connect(pg_url) as w2:
        await journal.append_in_transaction(w2, "s", [JournalEntry({"n": 1})], 0)
        await journal.append_in_transaction(w1, "w1", [JournalEntry({"n": 1}, tags=(high,))], 0)
        tc = asyncio.ensure_future(run("conditional", journal.append(
            "c", [JournalEntry({"n": 3})], 0, condition=AppendCondition(query, read.token))))
        await asyncio.sleep(0.3)
        t1 = asyncio.ensure_future(run("w1", journal.append_in_transaction(
            w1, "s", [JournalEntry({"n": 2})], 0)))
        await asyncio.sleep(0.3)
        cycle = time.monotonic()
        t2 = asyncio.ensure_future(run("w2", journal.append_in_transaction(
            w2, "w2", [JournalEntry({"n": 4}, tags=(low,))], 0)))
        done, _ = await asyncio.wait([t1, t2, tc], timeout=15,
                                     return_when=asyncio.FIRST_COMPLETED)
        assert done, "the deadlock was not resolved"
        resolved = min(finished.values()) - cycle
        await w2.rollback()
        await asyncio.wait_for(t1, 15)
        await w1.rollback()
        await asyncio.wait_for(asyncio.gather(t2, tc), 15)
    victims = [n for n, e in outcomes.items() if isinstance(e, JournalConcurrencyError)]
    assert victims, outcomes
    assert resolved < 8, f"the deadlock took {resolved:.1f}s to resolve"


async def test_a_token_sees_an_in_transaction_event_that_sorts_below_it(
    journal: PostgresJournal, pg_url: str
) -> None:
    """A transaction that wrote before a decision and appends to its boundary after it
    gets a lower position than the decision's event: the next decision, made with the
    token of a read taken while that transaction was open, still fails on it."""
    q = Query([QueryItem(types=[SEAT], tags=["course:t"])])
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        # The open transaction writes elsewhere first: it has its position (xid) now.
        await journal.append_in_transaction(conn, "elsewhere", [seat(9, 0, "other")], 0)
        first = await journal.append("d", [seat(0, 0, "course:t")], 0,
                                     condition=AppendCondition(q, None))
        read = await journal.read_matching(q)
        assert [t.event.key for t in read.events] == [first[0].key]
        await journal.append_in_transaction(conn, "late", [seat(9, 1, "course:t")], 0)
        await conn.commit()
    late = await journal.read("late")
    assert late[0].position < first[0].position  # it sorts below the decision's event
    with pytest.raises(AppendConditionError) as info:
        await journal.append("d", [seat(0, 1, "course:t")], 1,
                             condition=AppendCondition(q, read.token))
    assert info.value.conflict[1:] == ("late", 1)
