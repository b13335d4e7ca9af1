"""Persistence queries: tag queries with exact offsets (finite and live), ids, streams."""

from __future__ import annotations

import asyncio
import json
import pickle
import random
import time
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
    """A transaction that took its position first and commits last: nothing after it is
    delivered while it is open (live delivery waits), then everything, exactly once and
    in position order, live and resumed from an offset saved before."""
    j = backend.journal
    await j.append("early", [JournalEntry({"n": 0}, ("bank",))], 0)
    old_ts = int(time.time() * 1000) - 10_000  # stamped long before: no window can cover it
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
            await j.append("after", [JournalEntry({"n": i}, ("bank",)) for i in range(1, 4)], 0)
            # committed, but behind the open transaction: held back, not skipped
            seen_before = await q.current_events_by_tag("bank")
            assert [key(t) for t in seen_before] == [("early", 1)]
            offset = seen_before[-1].offset
            lag = await q.lag("bank", offset)
            assert lag.held_back and lag.events == 0
            await asyncio.sleep(0.3)
            assert [key(t) for t in live] == [("early", 1)]
        expected = [("late", 1), ("after", 1), ("after", 2), ("after", 3)]
        resumed = await q.current_events_by_tag("bank", offset)
        assert [key(t) for t in resumed] == expected  # the late one first: its position
        assert resumed[0].event.timestamp == old_ts
        assert await q.current_events_by_tag("bank", resumed[-1].offset) == []
        stored = TagOffset.from_json(offset.to_json())  # e.g. kept next to a projection
        assert [key(t) for t in await q.current_events_by_tag("bank", stored)] == expected
        await asyncio.wait_for(got_late.wait(), T)
        await j.append("after", [JournalEntry({"n": 9}, ("bank",))], 3)
        while len(live) < 6:
            await asyncio.sleep(0.01)
        assert not (await q.lag("bank", live[-1].offset)).held_back
    finally:
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
    assert [key(t) for t in live] == [("early", 1), *expected, ("after", 4)]
    assert_in_position_order(live)


def assert_in_position_order(delivered: list[TaggedEvent]) -> None:
    keys = [t.event.key for t in delivered]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert [t.offset.key for t in delivered] == keys


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
    assert start.key == (0, "", 0) and start.is_start and start.legacy is None
    off = TagOffset(42, "a", 3)
    assert (off.position, off.persistence_id, off.sequence_nr) == (42, "a", 3)
    assert TagOffset.from_json(off.to_json()) == off and hash(TagOffset(42, "a", 3)) == hash(off)
    assert json.loads(off.to_json()) == {"format": 2, "position": 42, "persistence_id": "a",
                                         "sequence_nr": 3}
    assert pickle.loads(pickle.dumps(off)) == off
    assert repr(off) == "TagOffset(position=42, persistence_id='a', sequence_nr=3)"
    with pytest.raises(AttributeError, match="immutable"):
        off.foo = 1
    with pytest.raises(ValueError, match="not a serialised TagOffset"):
        TagOffset.from_json('{"format": 1, "timestamp": 1}')  # format 1 without its seen
    with pytest.raises(ValueError, match="not a serialised TagOffset"):
        TagOffset.from_json("[]")
    with pytest.raises(ValueError, match="unsupported TagOffset format 3"):
        TagOffset.from_json('{"format": 3, "position": 1}')
    with pytest.raises(ValueError, match="position must not be negative"):
        TagOffset(-1)


def test_old_format_offset_is_converted() -> None:
    old = ('{"format":1,"timestamp":10000,"window_ms":5000,'
           '"seen":[["a",3,9000],["b",7,6000]]}')
    off = TagOffset.from_json(old)
    assert off.key == (0, "", 0)
    assert off.legacy is not None and off.legacy.from_timestamp == 5_000
    assert dict(off.legacy.seen) == {"a": 3, "b": 7}
    assert off.legacy.skips("a", 3) and not off.legacy.skips("a", 4)
    assert not off.legacy.skips("c", 1)
    again = TagOffset.from_json(off.to_json())  # converted offsets round-trip as format 2
    assert again == off and json.loads(off.to_json())["format"] == 2


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
    """Writers whose transactions commit (or roll back, one in six) 0-30 ms after taking
    their position, while a live consumer keeps stopping and resuming from its last
    offset, serialised as a user would store it.  Checked against a model: exactly the
    committed events, each once, in position order across every restart."""
    rng = random.Random(seed)
    await backend.journal.highest_seq("warm-up")  # tables exist before raw inserts
    q = PersistenceQuery(backend.journal, page_size=10, poll_interval=0.05)
    committed: set[tuple[str, int]] = set()  # the model
    writing = asyncio.Event()

    async def slow_writer(w: int) -> None:
        wrng = random.Random(seed * 100 + w)
        seq = 0
        for _ in range(per_writer):
            commit = wrng.random() > 1 / 6
            stamped = int(time.time() * 1000)
            async with backend.late_event(f"s{w}", seq + 1, {"w": w, "seq": seq + 1},
                                          ("load",), stamped, commit=commit):
                await asyncio.sleep(wrng.random() * 0.03)
            if commit:
                seq += 1
                committed.add((f"s{w}", seq))

    delivered: list[TaggedEvent] = []
    restarts = 0

    async def consume() -> None:
        nonlocal restarts
        offset: TagOffset | None = None

        def finished() -> bool:
            return writing.is_set() and {key(t) for t in delivered} == committed

        while not finished():
            budget = rng.randint(1, 25)
            it = q.events_by_tag("load", offset)
            try:
                while budget > 0 and not finished():
                    try:  # a bounded wait, so the end of the writers is noticed
                        tagged = await asyncio.wait_for(it.__anext__(), 0.5)
                    except TimeoutError:
                        break
                    delivered.append(tagged)
                    offset = TagOffset.from_json(tagged.offset.to_json())
                    budget -= 1
            finally:
                await it.aclose()
            restarts += 1

    async def all_writers() -> None:
        await asyncio.gather(*(slow_writer(w) for w in range(writers)))
        writing.set()

    await asyncio.wait_for(asyncio.gather(consume(), all_writers()), T * 3)
    keys = [key(t) for t in delivered]
    assert len(keys) == len(set(keys)) == len(committed)  # exactly once
    assert set(keys) == committed  # nothing rolled back, nothing missing
    assert_in_position_order(delivered)
    assert restarts > 3
    assert await q.current_events_by_tag("load", delivered[-1].offset) == []


async def test_exactly_once_with_slow_committers_and_restarts(backend: Backend) -> None:
    await _slow_committers_scenario(backend, writers=8, per_writer=12, seed=7)


@pytest.mark.soak
@pytest.mark.parametrize("seed", range(5))
async def test_exactly_once_with_slow_committers_soak(backend: Backend, seed: int) -> None:
    await _slow_committers_scenario(backend, writers=8, per_writer=100, seed=seed)


# -- full tag filters ----------------------------------------------------------------------
async def test_not_only_and_empty_filters(backend: Backend) -> None:
    j = backend.journal
    await fill(backend)
    await j.append("d", [JournalEntry({"n": 6}), JournalEntry({"n": 7}, ("archived",))], 0)
    q = PersistenceQuery(j, page_size=2)
    everything = await q.current_events_by_tag(TagFilter())
    assert [key(t) for t in everything] == [
        ("a", 1), ("a", 2), ("b", 1), ("a", 3), ("c", 1), ("d", 1), ("d", 2)]
    assert_in_position_order(everything)
    not_red = await q.current_events_by_tag(TagFilter(not_=["red"]))
    assert [key(t) for t in not_red] == [("b", 1), ("d", 1), ("d", 2)]
    not_archived = await q.current_events_by_tag(TagFilter(not_=["archived", "big"]))
    assert [key(t) for t in not_archived] == [("a", 1), ("b", 1), ("a", 3), ("c", 1), ("d", 1)]
    assert await q.current_events_by_tag(TagFilter(any=[])) == []  # any=[] matches nothing
    assert await j.read_by_tag(TagFilter(any=[])) == []
    assert await q.current_events_by_tag(TagFilter(all=["red"], not_=["red"])) == []
    any_two = await q.current_events_by_tag(TagFilter(any=["blue", "big"]))
    assert [key(t) for t in any_two] == [("a", 2), ("b", 1), ("a", 3)]  # a3 has both: once
    # resuming an empty filter from every offset yields exactly the rest
    for i, tagged in enumerate(everything):
        rest = await q.current_events_by_tag(TagFilter(), tagged.offset)
        assert [key(t) for t in rest] == [key(t) for t in everything[i + 1:]]
    # live: the empty filter sees untagged appends too
    it = q.events_by_tag(TagFilter(not_=["archived"]), everything[-1].offset)
    waiting = asyncio.ensure_future(it.__anext__())
    await j.append("e", [JournalEntry({"n": 8}, ("archived",)), JournalEntry({"n": 9})], 0)
    assert key(await asyncio.wait_for(waiting, T)) == ("e", 2)
    await it.aclose()
    assert repr(TagFilter()) == "TagFilter()" and repr(TagFilter(any=[])) == "TagFilter(any=())"
    assert TagFilter().matches(()) and not TagFilter(any=[]).matches(("x",))


# -- offsets of the previous version -------------------------------------------------------
async def test_old_offset_resumes_exactly(backend: Backend) -> None:
    """A format-1 offset (watermark + window + seen streams) saved by the previous version
    resumes with exactly the events it had not delivered."""
    j = backend.journal
    base = int(time.time() * 1000) - 60_000
    await j.highest_seq("warm-up")
    stamps = {("a", 1): base, ("a", 2): base + 8_000, ("b", 1): base + 9_000,
              ("a", 3): base + 9_500, ("c", 1): base + 9_800}
    for (pid, seq), ts in stamps.items():  # stored with chosen timestamps, as before
        async with backend.late_event(pid, seq, {"ts": ts}, ("t",), ts):
            pass
    await j.append("d", [JournalEntry({"new": 1}, ("t",))], 0)
    # The old consumer delivered a1, a2, b1, a3 (watermark a3's stamp; window 5 s).
    old = json.dumps({"format": 1, "timestamp": base + 9_500, "window_ms": 5_000,
                      "seen": [["a", 3, base + 9_500], ["b", 1, base + 9_000]]})
    q = PersistenceQuery(j, page_size=2)
    rest = await q.current_events_by_tag("t", TagOffset.from_json(old))
    assert [key(t) for t in rest] == [("c", 1), ("d", 1)]
    assert await q.current_events_by_tag("t", rest[-1].offset) == []
    assert await q.current_events_by_tag(
        "t", TagOffset.from_json(rest[0].offset.to_json())) == rest[1:]


async def test_lag_reports_backlog(backend: Backend) -> None:
    j = backend.journal
    q = PersistenceQuery(j)
    assert (await q.lag("t")).events == 0
    await j.append("a", [JournalEntry(i, ("t",)) for i in range(5)], 0)
    lag = await q.lag("t", limit=3)
    assert (lag.events, lag.capped, lag.held_back) == (3, True, False)
    assert lag.oldest_timestamp is not None and lag.lag_ms >= 0
    first = (await q.current_events_by_tag("t"))[0]
    assert (await q.lag("t", first.offset)).events == 4
