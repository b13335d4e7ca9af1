"""Group commit of conditional appends: appends on boundaries that do not meet share one
transaction (and commit); appends whose boundaries meet never do; each member keeps its
own outcome.  Against real PostgreSQL, raced by real tasks on real connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from actorpg_lab import (
    AppendCondition,
    AppendConditionError,
    JournalConcurrencyError,
    JournalEntry,
    PersistentEvent,
    Query,
    QueryItem,
)
from actorpg_lab.postgres import PostgresJournal
from actorpg_lab.postgres._append_coalescer import AppendCoalescer

from ._model import SEAT, A, C, seat

N = 12


@pytest.fixture
async def journal(pg_url: str) -> AsyncIterator[PostgresJournal]:
    j = PostgresJournal(url=pg_url, pool_config={"min_size": 2, "max_size": N + 2})
    await j.highest_seq("warm-up")
    yield j
    await j.close()


def spy_groups(journal: PostgresJournal, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The streams of every group ``journal`` writes in one transaction, from now on."""
    seen: list[list[str]] = []
    original = journal._append_if_many

    async def spy(batch: list[Any]) -> Any:
        seen.append([c.request.pid for c in batch])
        return await original(batch)

    monkeypatch.setattr(journal, "_append_if_many", spy)
    return seen


@pytest.fixture
def groups(journal: PostgresJournal, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The streams of every group the journal writes in one transaction."""
    return spy_groups(journal, monkeypatch)


def course(i: int) -> Query:
    return Query([QueryItem(types=[SEAT], tags=[f"course:{i}"])])


async def _conditional(journal: PostgresJournal, pid: str, query: Query, tag: str,
                       expected: int = 0) -> list[PersistentEvent]:
    read = await journal.read_matching(query)
    return await journal.append(pid, [seat(0, len(read.events), tag)], expected,
                                condition=AppendCondition(query, read.token))


async def test_unrelated_boundaries_share_a_transaction(
    journal: PostgresJournal, groups: list[list[str]]
) -> None:
    tokens = [(await journal.read_matching(course(i))).token for i in range(N)]
    results = await asyncio.gather(*(
        journal.append(f"s-{i}", [seat(i, 0, f"course:{i}")], 0,
                       condition=AppendCondition(course(i), tokens[i]))
        for i in range(N)))
    assert [len(r) for r in results] == [1] * N
    assert any(len(g) > 1 for g in groups), groups
    # One transaction: the members of a group share its position (its xid).
    by_pid = {r[0].persistence_id: r[0].position for r in results}
    for group in groups:
        assert len({by_pid[pid] for pid in group}) == 1
    for i in range(N):  # and each is stored once, as returned
        stored = await journal.read(f"s-{i}", 1, 10)
        assert [(e.sequence_nr, e.event, e.tags) for e in stored] == \
            [(1, results[i][0].event, (f"course:{i}",))]


async def test_each_member_keeps_its_own_outcome(
    journal: PostgresJournal, groups: list[list[str]]
) -> None:
    """A failed condition and a stale head in a group fail only their own appends."""
    tokens = [(await journal.read_matching(course(i))).token for i in range(N)]
    await journal.append("intruder", [seat(99, 0, "course:5")], 0)  # unseen by token 5
    await journal.append("s-7", [seat(7, 0, "course:other")], 0)  # s-7's head is now 1

    async def attempt(i: int) -> Any:
        try:
            return await journal.append(f"s-{i}", [seat(i, 0, f"course:{i}")], 0,
                                        condition=AppendCondition(course(i), tokens[i]))
        except (AppendConditionError, JournalConcurrencyError) as exc:
            return exc

    outcomes = await asyncio.gather(*(attempt(i) for i in range(N)))
    assert any(len(g) > 1 for g in groups), groups
    assert isinstance(outcomes[5], AppendConditionError)
    assert outcomes[5].conflict[1:] == ("intruder", 1)
    assert isinstance(outcomes[7], JournalConcurrencyError)
    assert outcomes[7].actual_seq == 1
    for i, result in enumerate(outcomes):
        if i in (5, 7):
            continue
        assert isinstance(result, list) and result[0].sequence_nr == 1, (i, result)
    assert await journal.highest_seq("s-5") == 0
    assert [e.tags for e in await journal.read("s-7", 1, 10)] == [("course:other",)]


async def test_meeting_boundaries_are_never_grouped(
    journal: PostgresJournal, groups: list[list[str]]
) -> None:
    """Pairs of appends deciding on one boundary with the same token: exactly one of each
    pair wins (grouped into one transaction, both checks would pass)."""
    pairs = 6
    tokens = [(await journal.read_matching(course(i))).token for i in range(pairs)]

    async def attempt(i: int, side: str) -> bool:
        try:
            await journal.append(f"s-{i}-{side}", [seat(i, 0, f"course:{i}")], 0,
                                 condition=AppendCondition(course(i), tokens[i]))
        except AppendConditionError:
            return False
        return True

    won = await asyncio.gather(*(attempt(i, side) for side in "ab" for i in range(pairs)))
    assert any(len(g) > 1 for g in groups), groups
    assert [won[i] + won[pairs + i] for i in range(pairs)] == [1] * pairs
    for i in range(pairs):
        assert len((await journal.read_matching(course(i))).events) == 1
    for group in groups:  # never both sides of one boundary in one group
        assert len({pid.rsplit("-", 1)[0] for pid in group}) == len(group)


async def test_a_writer_on_a_type_boundary_is_not_grouped_with_that_type(
    journal: PostgresJournal, groups: list[list[str]]
) -> None:
    """A types-only condition locks the type exclusively: appends writing that type wait
    for another transaction, and the condition still sees what committed before it."""
    by_type = Query([QueryItem(types=["tests.dcb.A"])])
    token = (await journal.read_matching(by_type)).token
    tasks = [journal.append("typed", [JournalEntry(A("decided"))], 0,
                            condition=AppendCondition(by_type, token))]
    tasks += [journal.append(f"a-{i}", [JournalEntry(A(str(i)))], 0,
                             condition=AppendCondition(course(i), None)) for i in range(N)]
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    # Whoever went first, the type-boundary decision is consistent: it won only if no
    # other A event committed before its check.
    firsts = [o for o in outcomes if isinstance(o, list)]
    typed = outcomes[0]
    for group in groups:
        assert "typed" not in group or len(group) == 1, groups
    a_events = (await journal.read_matching(by_type)).events
    if isinstance(typed, list):
        assert typed[0].position <= min(t.event.position for t in a_events)
    else:
        assert isinstance(typed, AppendConditionError)
    assert len(firsts) >= N


async def test_a_racing_plain_writer_fails_only_its_stream(
    journal: PostgresJournal, pg_url: str, groups: list[list[str]]
) -> None:
    """A group member whose stream gets a row from another transaction (23505 after it
    commits) rolls the group back; the members are written one by one, and only that
    stream's append fails."""
    tokens = [(await journal.read_matching(course(i))).token for i in range(N)]
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        # An uncommitted row at s-3#1 (its tags are none of the conditions' boundaries).
        await journal.append_in_transaction(conn, "s-3", [seat(3, 0, "course:elsewhere")], 0)

        async def attempt(i: int) -> Any:
            try:
                return await journal.append(f"s-{i}", [seat(i, 0, f"course:{i}")], 0,
                                            condition=AppendCondition(course(i), tokens[i]))
            except JournalConcurrencyError as exc:
                return exc

        pending = asyncio.gather(*(attempt(i) for i in range(N)))
        await asyncio.sleep(0.5)  # the group (or s-3 alone) now waits on s-3#1
        await conn.commit()
        outcomes = await pending
    assert isinstance(outcomes[3], JournalConcurrencyError) and outcomes[3].actual_seq == 1
    assert [e.tags for e in await journal.read("s-3", 1, 10)] == [("course:elsewhere",)]
    for i, result in enumerate(outcomes):
        if i != 3:
            assert isinstance(result, list) and result[0].sequence_nr == 1, (i, result)
            assert len(await journal.read(f"s-{i}", 1, 10)) == 1


async def test_group_commit_off_writes_each_alone(pg_url: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    j = PostgresJournal(url=pg_url, coalesce_appends=False, pool_config={"max_size": N + 2})
    try:
        seen = spy_groups(j, monkeypatch)
        results = await asyncio.gather(*(_conditional(j, f"s-{i}", course(i), f"course:{i}")
                                         for i in range(N)))
        assert seen == [] and len({r[0].position for r in results}) == N
    finally:
        await j.close()


# -- the coalescer's rule, on its own (no SQL) -------------------------------------------

async def test_coalescer_keeps_requests_whose_exclusive_keys_meet_apart() -> None:
    """Requests: (name, keys, exclusive keys or None = alone).  While the slots are
    busy they queue; the batches formed must never put an exclusive key of one
    request next to any key of another, and an 'alone' request goes by itself."""
    release = asyncio.Event()
    batches: list[list[str]] = []

    async def write_one(r: tuple[str, frozenset[int], frozenset[int] | None]) -> str:
        await release.wait()
        batches.append([r[0]])
        return r[0]

    async def write_many(batch: list[Any]) -> list[tuple[str | None, BaseException | None]]:
        batches.append([r[0] for r in batch])
        return [(r[0], None) for r in batch]

    coalescer: AppendCoalescer[Any, str] = AppendCoalescer(
        write_one=write_one, write_many=write_many, key=lambda r: r[0],
        size=lambda r: 1, locks=lambda r: r[1], exclusive=lambda r: r[2], slots=1)
    f = frozenset
    requests = [
        ("blocker", f({0}), f()),
        ("x1", f({1, 100}), f({1})),      # decides on 1, writes type 100
        ("x2", f({2, 100}), f({2})),      # unrelated to x1 (100 shared by both)
        ("w1", f({1, 100}), f()),         # writes a key x1 decides on
        ("x1b", f({1}), f({1})),          # decides on 1 again
        ("all", f(), None),               # Query.all(): alone
        ("x3", f({3}), f({3})),
    ]
    tasks = [asyncio.ensure_future(coalescer.submit(r)) for r in requests]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*tasks) == [r[0] for r in requests]
    assert batches[0] == ["blocker"]
    assert sorted(name for batch in batches for name in batch) == sorted(r[0] for r in requests)
    excl = {r[0]: r[2] for r in requests}
    keys = {r[0]: r[1] for r in requests}
    for batch in batches:
        if "all" in batch:
            assert batch == ["all"]
        for a in batch:
            for b in batch:
                if a != b:
                    assert not (excl[a] or f()) & keys[b], (a, b, batches)
    assert ["x1", "x2"] == batches[1][:2]  # unrelated: together


# -- grouped == one by one, for every query shape ------------------------------------------

def _scenarios(k: str) -> list[tuple[Query, list[tuple[str, JournalEntry]], str]]:
    """(query, events written after the decision's read, tag the decision writes) on
    boundaries named after ``k``.  The late events match the query in some scenarios,
    not in others."""
    t, u = f"k{k}", f"k{k}-2"
    seat_q = QueryItem(types=[SEAT], tags=[t])
    late_seat = ("late", seat(0, 0, t))
    return [
        (Query([seat_q]), [], t),                                       # clean
        (Query([seat_q]), [late_seat], t),                             # tag+type hit
        (Query([QueryItem(tags=[t])]), [("late", JournalEntry(A("x"), tags=(t,)))], t),
        (Query([QueryItem(tags=[t, u])]), [("late", seat(0, 0, t))], t),  # lacks u: clean
        (Query([QueryItem(tags=[t, u])]), [("late", seat(0, 0, t, u))], t),
        (Query([QueryItem(types=[f"tests.dcb.T{k}"])]), [], t),         # types only, clean
        # types only, one late C event in the whole run (the first found is unique)
        (Query([QueryItem(types=["tests.dcb.C"])]),
         [("late", JournalEntry(C(k)))] if k.startswith("0") else [], t),
        (Query([QueryItem(types=["tests.dcb.OldSeat"], tags=[t])]), [late_seat], t),  # alias
        (Query([QueryItem(tags=[u]), seat_q]), [late_seat], t),         # 2nd item hits
        (Query([QueryItem(tags=[u]), QueryItem(types=[SEAT], tags=[f"{t}-x"])]),
         [late_seat], t),                                              # neither hits
    ]


async def _run_scenarios(journal: PostgresJournal, grouped: bool) -> list[Any]:
    # Each scenario on boundaries of its own (so they can share a group): the i-th of
    # _scenarios(f"{k}-{i}").
    plans = [(k, i, *_scenarios(f"{k}-{i}")[i]) for k in range(2)
             for i in range(len(_scenarios("")))]
    reads = []
    for _, _, q, _, _ in plans:
        reads.append((await journal.read_matching(q)).token)
    for k, i, _, late, _ in plans:  # the late events: committed after the reads
        for pid, entry in late:
            await journal.append(f"{pid}-{k}-{i}", [entry], 0)

    async def decide(n: int) -> Any:
        k, i, q, _, tag = plans[n]
        try:
            events = await journal.append(f"d-{k}-{i}", [seat(k, i, tag)], 0,
                                          condition=AppendCondition(q, reads[n]))
            return ("ok", [e.sequence_nr for e in events])
        except AppendConditionError as exc:
            return ("condition", exc.conflict[1:], exc.event_type)

    if grouped:
        return list(await asyncio.gather(*(decide(n) for n in range(len(plans)))))
    return [await decide(n) for n in range(len(plans))]


async def test_a_group_decides_exactly_as_one_by_one(pg_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Every query shape (tag+type, tag only, several tags, types only, aliases, several
    items), conflicting or not, in one group and one by one: the same outcomes."""
    grouped = PostgresJournal(url=pg_url, pool_config={"max_size": 4})
    alone = PostgresJournal(url=pg_url, events_table="alone", coalesce_appends=False)
    seen = spy_groups(grouped, monkeypatch)
    try:
        together = await _run_scenarios(grouped, True)
        one_by_one = await _run_scenarios(alone, False)
    finally:
        await grouped.close()
        await alone.close()
    assert max(map(len, seen), default=0) > 4, seen  # the shapes really met in groups
    assert together == one_by_one
    assert {o[0] for o in together} == {"ok", "condition"}
