"""PostgresJournal group commit: appends that arrive while others are in flight are
written together in one statement, yet each keeps its own atomicity and outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from actorpg_lab import (
    JournalConcurrencyError,
    JournalEntry,
    TagFilter,
    WriteAttempt,
    add_write_listener,
)
from actorpg_lab.postgres import PostgresJournal


@pytest.fixture
async def journal(pg_pool: Any) -> AsyncIterator[PostgresJournal]:
    j = PostgresJournal(pool=pg_pool)
    yield j
    await j.close()


@pytest.fixture
def batches(journal: PostgresJournal, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the coalesced statements the journal sends (proves coalescing happened)."""
    sizes: list[int] = []
    original = journal._append_many

    async def spy(batch: list[Any]) -> Any:
        sizes.append(len(batch))
        return await original(batch)

    monkeypatch.setattr(journal, "_append_many", spy)
    return sizes


async def test_concurrent_appends_are_coalesced_and_all_stored(
    journal: PostgresJournal, batches: list[int]
) -> None:
    pids = [f"s-{k}" for k in range(20)]
    results = await asyncio.gather(*(
        journal.append(pid, [JournalEntry({"k": k, "i": i}, (f"t{k % 3}", "all"))
                             for i in range(1 + k % 3)], 0)
        for k, pid in enumerate(pids)
    ))
    assert batches and max(batches) > 1
    for k, (pid, stored) in enumerate(zip(pids, results, strict=True)):
        assert [e.sequence_nr for e in stored] == list(range(1, 2 + k % 3))
        assert [e.event for e in stored] == [{"k": k, "i": i} for i in range(1 + k % 3)]
        back = await journal.read(pid)
        assert [(e.sequence_nr, e.event, e.tags) for e in back] == [
            (e.sequence_nr, e.event, e.tags) for e in stored
        ]
    tagged = await journal.read_by_tag(TagFilter(all=("all",)))
    assert len(tagged) == sum(1 + k % 3 for k in range(20))
    t1 = await journal.read_by_tag(TagFilter(all=("t1",)))
    assert {e.persistence_id for e in t1} == {f"s-{k}" for k in range(20) if k % 3 == 1}


async def test_a_stale_head_fails_only_its_own_append(
    journal: PostgresJournal, batches: list[int]
) -> None:
    for k in range(12):
        await journal.append(f"p-{k}", [JournalEntry("first")], 0)
    # Odd streams are appended with a stale expected_seq (0 instead of 1).
    outcomes = await asyncio.gather(
        *(journal.append(f"p-{k}", [JournalEntry("second")], 1 if k % 2 == 0 else 0)
          for k in range(12)),
        return_exceptions=True,
    )
    assert batches and max(batches) > 1
    for k, outcome in enumerate(outcomes):
        if k % 2 == 0:
            assert not isinstance(outcome, BaseException)
            assert [e.sequence_nr for e in outcome] == [2]
            assert await journal.highest_seq(f"p-{k}") == 2
        else:
            assert isinstance(outcome, JournalConcurrencyError)
            assert (outcome.expected_seq, outcome.actual_seq) == (0, 1)
            assert [e.event for e in await journal.read(f"p-{k}")] == ["first"]


async def test_same_stream_twice_in_flight_exactly_one_wins(journal: PostgresJournal) -> None:
    # Many writers racing for the same head of a few streams: per stream exactly one wins.
    outcomes = await asyncio.gather(
        *(journal.append(f"r-{k % 3}", [JournalEntry({"writer": k})], 0) for k in range(15)),
        return_exceptions=True,
    )
    for s in range(3):
        mine = [o for k, o in enumerate(outcomes) if k % 3 == s]
        winners = [o for o in mine if not isinstance(o, BaseException)]
        assert len(winners) == 1
        assert all(isinstance(o, JournalConcurrencyError) and o.actual_seq == 1
                   for o in mine if o not in winners)
        assert await journal.highest_seq(f"r-{s}") == 1


async def test_a_racing_writer_elsewhere_does_not_break_the_batch(
    journal: PostgresJournal, pg_url: str, batches: list[int]
) -> None:
    other = PostgresJournal(url=pg_url)
    try:
        results = await asyncio.gather(
            *(journal.append(f"x-{k}", [JournalEntry(k)], 0) for k in range(10)),
            *(other.append(f"x-{k}", [JournalEntry(-k)], 0) for k in range(10)),
            return_exceptions=True,
        )
    finally:
        await other.close()
    for k in range(10):
        ours, theirs = results[k], results[10 + k]
        assert isinstance(ours, JournalConcurrencyError) != isinstance(
            theirs, JournalConcurrencyError)
        stored = await journal.read(f"x-{k}")
        assert len(stored) == 1
        assert stored[0].event == (k if not isinstance(ours, BaseException) else -k)


async def test_every_coalesced_append_is_reported(
    journal: PostgresJournal, batches: list[int]
) -> None:
    seen: list[WriteAttempt] = []
    unsubscribe = add_write_listener(seen.append)
    try:
        await asyncio.gather(*(journal.append(f"w-{k}", [JournalEntry(k)], 0) for k in range(8)))
        with pytest.raises(JournalConcurrencyError):
            await journal.append("w-0", [JournalEntry("late")], 0)
    finally:
        unsubscribe()
    mine = [a for a in seen if a.persistence_id.startswith("w-")]
    assert sorted((a.persistence_id, a.outcome) for a in mine) == sorted(
        [(f"w-{k}", "ok") for k in range(8)] + [("w-0", "conflict")]
    )
    assert all(a.written == 1 for a in mine if a.outcome == "ok")


async def test_coalescing_can_be_switched_off(pg_pool: Any) -> None:
    journal = PostgresJournal(pool=pg_pool, coalesce_appends=False)
    calls: list[int] = []
    original = journal._append_many

    async def spy(batch: list[Any]) -> Any:
        calls.append(len(batch))
        return await original(batch)

    journal._append_many = spy  # type: ignore[method-assign]
    stored = await asyncio.gather(*(journal.append(f"n-{k}", [JournalEntry(k)], 0)
                                    for k in range(8)))
    assert calls == []
    assert [s[0].event for s in stored] == list(range(8))
    await journal.close()
