"""The conditional appends' coalescer: one eager slot, a spare one for stalls, and the
turn after a batch gathered into one batch (``AppendCoalescer(eager_slots=...)``), on
its own (no SQL) and through the journal (a stuck boundary holds back an unrelated
conditional append no longer than the spare delay plus its own write)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg

from actorpg_lab import AppendCondition, Query, QueryItem
from actorpg_lab.postgres import PostgresJournal
from actorpg_lab.postgres._append_coalescer import AppendCoalescer
from actorpg_lab.postgres._boundary import boundary_key

from ._model import SEAT, seat


def _coalescer(write_one: Any, batches: list[list[str]],
               spare_after: float = 0.05) -> AppendCoalescer[str, str]:
    async def write_many(batch: list[str]) -> list[tuple[str | None, BaseException | None]]:
        batches.append(list(batch))
        await asyncio.sleep(0.001)
        return [(r, None) for r in batch]

    return AppendCoalescer(write_one=write_one, write_many=write_many, key=lambda r: r,
                           size=lambda r: 1, slots=2, eager_slots=1, spare_after=spare_after)


async def test_writers_that_keep_appending_share_one_batch_per_round() -> None:
    """16 writers, 5 rounds each: after the first lone write and its batch, every round
    is one batch of all 16 (no lone write beside a batch of the rest)."""
    batches: list[list[str]] = []

    async def write_one(r: str) -> str:
        batches.append([r])
        await asyncio.sleep(0.001)
        return r

    coalescer = _coalescer(write_one, batches)

    async def writer(w: int) -> None:
        for i in range(5):
            assert await coalescer.submit(f"{w}-{i}") == f"{w}-{i}"

    await asyncio.gather(*(writer(w) for w in range(16)))
    assert [len(b) for b in batches] == [1, 15] + [16] * 4, batches


async def test_a_stuck_write_holds_the_others_back_only_until_the_spare_slot() -> None:
    release = asyncio.Event()
    batches: list[list[str]] = []

    async def write_one(r: str) -> str:
        if r == "stuck":
            await release.wait()
        batches.append([r])
        return r

    coalescer = _coalescer(write_one, batches, spare_after=0.05)
    stuck = asyncio.ensure_future(coalescer.submit("stuck"))
    await asyncio.sleep(0)
    started = time.perf_counter()
    assert await asyncio.wait_for(coalescer.submit("free"), 2) == "free"
    assert 0.04 <= time.perf_counter() - started < 1.0
    assert not stuck.done() and coalescer.in_flight == 1
    release.set()
    assert await stuck == "stuck"


async def test_an_unrelated_decision_passes_a_boundary_held_by_a_transaction(
    pg_url: str,
) -> None:
    """A transaction holds a boundary (an uncommitted writer's shared lock): a decision
    on it waits for its exclusive lock; a decision on another boundary of the same
    journal is written through the spare slot meanwhile."""
    journal = PostgresJournal(url=pg_url, pool_config={"max_size": 6})
    try:
        await journal.highest_seq("x")
        async with await psycopg.AsyncConnection.connect(pg_url) as holder:
            await holder.execute("SELECT pg_advisory_xact_lock_shared(%s)",
                                 [boundary_key("events", "t", "course:busy")])
            busy = asyncio.ensure_future(journal.append(
                "b", [seat(1, 0, "course:busy")], 0, condition=AppendCondition(
                    Query([QueryItem(types=[SEAT], tags=["course:busy"])]))))
            await asyncio.sleep(0.1)
            assert not busy.done()
            free = await asyncio.wait_for(journal.append(
                "f", [seat(2, 0, "course:free")], 0, condition=AppendCondition(
                    Query([QueryItem(types=[SEAT], tags=["course:free"])]))), 3)
            assert len(free) == 1 and not busy.done()
            await holder.rollback()
        assert len(await asyncio.wait_for(busy, 5)) == 1
    finally:
        await journal.close()
