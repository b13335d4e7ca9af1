"""Persistence queries: tag queries with exact offsets (finite and live), ids, streams."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter as Multiset
from typing import Any

import pytest

from actorpg_lab import JournalEntry, TagFilter
from actorpg_lab.query import PersistenceQuery, TaggedEvent, TagOffset
from tests.runtime.conftest import Backend

T = 30.0


def key(t: TaggedEvent) -> tuple[str, int]:
    return (t.event.persistence_id, t.event.sequence_nr)


async def fill(backend: Backend) -> None:
    j = backend.journal
    await j.append("a", [JournalEntry({"n": 1}, ("red",)), JournalEntry({"n": 2}, ("red", "big"))], 0)
    await j.append("b", [JournalEntry({"n": 3}, ("blue",))], 0)
    await j.append("a", [JournalEntry({"n": 4}, ("red", "blue"))], 2)
    await j.append("c", [JournalEntry({"n": 5}, ("red",))], 0)


async def test_current_events_by_tag_and_resume(backend: Backend) -> None:
    await fill(backend)
    q = PersistenceQuery(backend.journal)
    red = await q.current_events_by_tag("red")
    assert [key(t) for t in red] == [("a", 1), ("a", 2), ("a", 3), ("c", 1)]
    assert [t.event.event["n"] for t in red] == [1, 2, 4, 5]
    filt = await q.current_events_by_tag(TagFilter(any=("blue", "big"), not_=("red",)))
    assert [key(t) for t in filt] == [("b", 1)]
    both = await q.current_events_by_tag(TagFilter(all=("red", "blue")))
    assert [key(t) for t in both] == [("a", 3)]
    # resuming from every offset yields exactly the rest
    for i, tagged in enumerate(red):
        rest = await q.current_events_by_tag("red", tagged.offset)
        assert [key(t) for t in rest] == [key(t) for t in red[i + 1:]]
        restored = TagOffset.from_json(tagged.offset.to_json())
        assert restored == tagged.offset and hash(restored) == hash(tagged.offset)
        assert [key(t) for t in await q.current_events_by_tag("red", restored)] == [
            key(t) for t in red[i + 1:]]
    assert await q.current_events_by_tag("green") == []


async def test_pages_within_one_millisecond(backend: Backend) -> None:
    # one append = one timestamp: 50 events share it; pages of 7 must not loop or skip
    await backend.journal.append("p", [JournalEntry({"i": i}, ("t",)) for i in range(50)], 0)
    await backend.journal.append("q", [JournalEntry({"i": i}, ("t",)) for i in range(20)], 0)
    q = PersistenceQuery(backend.journal, page_size=7)
    got = await q.current_events_by_tag("t")
    assert sorted(key(t) for t in got) == sorted(
        [("p", i) for i in range(1, 51)] + [("q", i) for i in range(1, 21)])
    assert len(got) == 70
    assert await q.current_events_by_tag("t", got[-1].offset) == []
    assert [key(t) for t in await q.current_events_by_tag("t", got[33].offset)] == [
        key(t) for t in got[34:]]


async def test_late_commit_is_delivered_exactly_once(backend: Backend) -> None:
    j = backend.journal
    await j.append("early", [JournalEntry({"n": 0}, ("bank",))], 0)
    old_ts = int(time.time() * 1000) - 1_000
    q = PersistenceQuery(j, poll_interval=0.05)
    live: list[TaggedEvent] = []
    got_late = asyncio.Event()

    async def consume() -> None:
        async for tagged in q.events_by_tag("bank"):
            live.append(tagged)
            if tagged.event.persistence_id == "late":
                got_late.set()

    consumer = asyncio.create_task(consume())
    try:
        async with backend.late_event("late", 1, {"n": -1}, ("bank",), old_ts):
            # the late transaction is open; later-stamped events commit and get delivered
            await j.append("after", [JournalEntry({"n": i}, ("bank",)) for i in range(1, 4)], 0)
            seen_before = await q.current_events_by_tag("bank")
            assert sorted(key(t) for t in seen_before) == [
                ("after", 1), ("after", 2), ("after", 3), ("early", 1)]
            offset = seen_before[-1].offset
            assert offset.timestamp > old_ts
        # committed now, stamped before events that were already delivered
        resumed = await q.current_events_by_tag("bank", offset)
        assert [key(t) for t in resumed] == [("late", 1)]
        assert resumed[0].event.timestamp == old_ts
        assert await q.current_events_by_tag("bank", resumed[0].offset) == []
        stored = TagOffset.from_json(offset.to_json())  # e.g. kept next to a projection
        assert [key(t) for t in await q.current_events_by_tag("bank", stored)] == [("late", 1)]
        await asyncio.wait_for(got_late.wait(), T)
        await j.append("after", [JournalEntry({"n": 9}, ("bank",))], 3)
        while len(live) < 6:
            await asyncio.sleep(0.01)
    finally:
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
    assert Multiset(key(t) for t in live) == Multiset(
        [("early", 1), ("after", 1), ("after", 2), ("after", 3), ("late", 1), ("after", 4)])


async def test_live_query_under_8_concurrent_writers(backend: Backend) -> None:
    writers, per_writer = 8, 40
    q = PersistenceQuery(backend.journal, page_size=16, poll_interval=0.2)
    expected = {(f"w{w}", s) for w in range(writers) for s in range(1, per_writer + 1)}
    delivered: list[TaggedEvent] = []
    done = asyncio.Event()

    async def consume(offset: TagOffset | None, limit: int | None) -> TagOffset | None:
        last = offset
        async for tagged in q.events_by_tag("load", offset):
            delivered.append(tagged)
            last = tagged.offset
            if limit is not None and len(delivered) >= limit:
                break  # stop midway; a new iterator resumes from `last`
            if len(delivered) >= len(expected):
                done.set()
                break
        return last

    async def write(w: int) -> None:
        rng = random.Random(w)
        seq = 0
        while seq < per_writer:
            batch = min(rng.randint(1, 4), per_writer - seq)
            tags = ("load",) if w % 2 else ("load", "odd")
            await backend.journal.append(
                f"w{w}", [JournalEntry({"w": w, "i": seq + k}, tags) for k in range(batch)], seq)
            seq += batch
            await asyncio.sleep(rng.random() * 0.005)

    first = asyncio.create_task(consume(None, limit=len(expected) // 3))
    await asyncio.gather(*(write(w) for w in range(writers)))
    resume_at = await asyncio.wait_for(first, T)
    assert resume_at is not None
    await asyncio.wait_for(consume(resume_at, limit=None), T)
    assert done.is_set()
    keys = [key(t) for t in delivered]
    assert len(keys) == len(set(keys)) == len(expected)  # no duplicates, nothing missing
    assert set(keys) == expected
    for w in range(writers):  # per stream, in sequence order
        seqs = [s for p, s in keys if p == f"w{w}"]
        assert seqs == sorted(seqs)
    assert await q.current_events_by_tag("load", delivered[-1].offset) == []


async def test_live_query_cancel_and_aclose_are_clean(backend: Backend) -> None:
    q = PersistenceQuery(backend.journal, poll_interval=0.05)
    it = q.events_by_tag("x")
    waiting = asyncio.ensure_future(it.__anext__())
    await asyncio.sleep(0.1)  # the generator is waiting for appends
    await backend.journal.append("s", [JournalEntry(1, ("x",))], 0)
    first = await asyncio.wait_for(waiting, T)
    assert key(first) == ("s", 1)
    await it.aclose()
    with pytest.raises(StopAsyncIteration):
        await it.__anext__()

    async def first_of_never() -> TaggedEvent:
        async for tagged in q.events_by_tag("never"):
            return tagged
        raise AssertionError("a live query does not end")

    task = asyncio.create_task(first_of_never())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_events_by_persistence_id_and_ids(backend: Backend) -> None:
    await fill(backend)
    q = PersistenceQuery(backend.journal)
    events = await q.current_events_by_persistence_id("a")
    assert [e.event["n"] for e in events] == [1, 2, 4]
    assert [e.sequence_nr for e in await q.current_events_by_persistence_id("a", 2, 2)] == [2]
    assert await q.current_events_by_persistence_id("nobody") == []
    assert await q.current_persistence_ids() == ["a", "b", "c"]
    with pytest.raises(ValueError, match="from_seq must not be negative"):
        await q.current_events_by_persistence_id("a", -1)


def test_tag_offset_value_semantics() -> None:
    start = TagOffset.start()
    assert (start.timestamp, dict(start.seen), start.window_ms) == (0, {}, 5_000)
    off = TagOffset(10_000, {"a": (3, 9_000), "b": (7, 2_000)}, window_ms=5_000)
    assert dict(off.seen) == {"a": 3}  # b's last event is older than the window: dropped
    assert off.read_from == 5_000
    assert off.is_new("a", 4) and not off.is_new("a", 3) and off.is_new("b", 1)
    assert TagOffset.from_json(off.to_json()) == off
    assert "timestamp=10000" in repr(off)
    with pytest.raises(AttributeError, match="immutable"):
        off.foo = 1
    with pytest.raises(ValueError, match="not a serialised TagOffset"):
        TagOffset.from_json('{"format": 1, "timestamp": 1}')
    with pytest.raises(ValueError, match="not a serialised TagOffset"):
        TagOffset.from_json("[]")
    with pytest.raises(ValueError, match="timestamp must not be negative"):
        TagOffset(-1)


def test_query_argument_validation() -> None:
    from actorpg_lab import InMemoryJournal

    with pytest.raises(TypeError, match="Journal protocol"):
        PersistenceQuery(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="poll_interval must be positive"):
        PersistenceQuery(InMemoryJournal(), poll_interval=0)

    async def bad_offset() -> Any:
        bad: Any = 5
        return await PersistenceQuery(InMemoryJournal()).current_events_by_tag("t", bad)

    with pytest.raises(TypeError, match="offset must be a TagOffset"):
        asyncio.run(bad_offset())


async def _slow_committers_scenario(backend: Backend, writers: int, per_writer: int,
                                    seed: int) -> None:
    """Writers whose transactions commit 0-30 ms after their events were stamped, while a
    live consumer keeps stopping and resuming from its last offset."""
    rng = random.Random(seed)
    total = writers * per_writer
    await backend.journal.highest_seq("warm-up")  # tables exist before raw inserts
    q = PersistenceQuery(backend.journal, page_size=10, poll_interval=0.05)

    async def slow_writer(w: int) -> None:
        wrng = random.Random(seed * 100 + w)
        for seq in range(1, per_writer + 1):
            stamped = int(time.time() * 1000)
            async with backend.late_event(f"s{w}", seq, {"w": w, "seq": seq}, ("load",), stamped):
                await asyncio.sleep(wrng.random() * 0.03)

    delivered: list[TaggedEvent] = []

    async def consume() -> None:
        offset: TagOffset | None = None
        while len(delivered) < total:
            budget = rng.randint(1, 25)
            it = q.events_by_tag("load", offset)
            async for tagged in it:
                delivered.append(tagged)
                offset = TagOffset.from_json(tagged.offset.to_json())  # as a user would store it
                budget -= 1
                if budget == 0 or len(delivered) >= total:
                    break
            await it.aclose()

    await asyncio.wait_for(asyncio.gather(consume(), *(slow_writer(w) for w in range(writers))),
                           T * 3)
    keys = [key(t) for t in delivered]
    assert len(keys) == len(set(keys)) == total
    assert set(keys) == {(f"s{w}", s) for w in range(writers) for s in range(1, per_writer + 1)}
    assert await q.current_events_by_tag("load", delivered[-1].offset) == []


async def test_exactly_once_with_slow_committers_and_restarts(backend: Backend) -> None:
    await _slow_committers_scenario(backend, writers=8, per_writer=12, seed=7)


@pytest.mark.soak
@pytest.mark.parametrize("seed", range(5))
async def test_exactly_once_with_slow_committers_soak(backend: Backend, seed: int) -> None:
    await _slow_committers_scenario(backend, writers=8, per_writer=100, seed=seed)
