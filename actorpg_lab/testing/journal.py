"""The journal contract: every Journal implementation runs these tests.

Subclass :class:`JournalContract` and provide a ``journal`` fixture (a fresh, empty
journal) and ``other_journal`` (a second journal instance over the SAME data, e.g. a
second process's view) — see the project's ``tests/contract/test_memory.py`` and
``tests/contract/test_postgres.py``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from actorpg_lab import (
    Journal,
    JournalConcurrencyError,
    JournalEntry,
    PersistentEvent,
    TagFilter,
    event_type,
)


@event_type("tests.contract.Deposited")
@dataclass(frozen=True)
class Deposited:
    account: str
    amount: int


def entries(*events: Any, tags: tuple[str, ...] = ()) -> list[JournalEntry]:
    return [JournalEntry(e, tags) for e in events]


class JournalContract:
    """Behaviour every journal must have (in-memory and PostgreSQL alike)."""

    # -- append / read ----------------------------------------------------------------
    async def test_append_returns_persistent_events(self, journal: Journal) -> None:
        written = await journal.append("a-1", entries({"n": 1}, {"n": 2}), 0)
        assert [e.sequence_nr for e in written] == [1, 2]
        assert [e.event for e in written] == [{"n": 1}, {"n": 2}]
        assert all(isinstance(e, PersistentEvent) and e.persistence_id == "a-1" for e in written)
        assert all(isinstance(e.timestamp, int) and e.timestamp > 1_600_000_000_000 for e in written)

    async def test_read_round_trips_plain_json(self, journal: Journal) -> None:
        values = [None, True, 0, -7, 2**53 + 1, 1.5, "text ü ✓", [1, [2, {}]], {"k": {"n": None}}]
        await journal.append("a-1", entries(*values), 0)
        assert [e.event for e in await journal.read("a-1")] == values

    async def test_dataclass_events_round_trip(self, journal: Journal) -> None:
        await journal.append("a-1", entries(Deposited("a-1", 5)), 0)
        [event] = await journal.read("a-1")
        assert event.event == Deposited("a-1", 5)

    async def test_read_bounds_are_inclusive(self, journal: Journal) -> None:
        await journal.append("a-1", entries(*range(1, 11)), 0)
        assert [e.sequence_nr for e in await journal.read("a-1", 3, 5)] == [3, 4, 5]
        assert [e.sequence_nr for e in await journal.read("a-1", 10)] == [10]
        assert [e.sequence_nr for e in await journal.read("a-1", 5, 5)] == [5]
        assert await journal.read("a-1", 6, 5) == []

    async def test_read_past_head_and_unknown_stream(self, journal: Journal) -> None:
        await journal.append("a-1", entries(1, 2), 0)
        assert await journal.read("a-1", 3) == []
        assert await journal.read("a-1", 1, 1000) == await journal.read("a-1")
        assert await journal.read("nobody") == []
        assert await journal.highest_seq("nobody") == 0

    async def test_sequential_appends_continue_the_stream(self, journal: Journal) -> None:
        await journal.append("a-1", entries(1), 0)
        await journal.append("a-1", entries(2, 3), 1)
        assert [e.event for e in await journal.read("a-1")] == [1, 2, 3]
        assert await journal.highest_seq("a-1") == 3

    async def test_streams_are_independent(self, journal: Journal) -> None:
        await journal.append("a-1", entries(1), 0)
        await journal.append("a-2", entries(2), 0)
        assert [e.event for e in await journal.read("a-2")] == [2]
        assert await journal.persistence_ids() == ["a-1", "a-2"]

    async def test_persistence_ids_page(self, journal: Journal) -> None:
        for pid in ["s-3", "s-1", "s-4", "s-2", "s-5"]:
            await journal.append(pid, entries(1), 0)
        await journal.delete("s-4", 1)  # known only through its deletion mark now
        assert await journal.persistence_ids(limit=2) == ["s-1", "s-2"]
        assert await journal.persistence_ids(after="s-2", limit=2) == ["s-3", "s-4"]
        assert await journal.persistence_ids(after="s-4") == ["s-5"]
        assert await journal.persistence_ids(after="s-5") == []
        assert await journal.persistence_ids(limit=0) == []

    async def test_empty_append_writes_nothing(self, journal: Journal) -> None:
        assert await journal.append("a-1", [], 0) == []
        assert await journal.highest_seq("a-1") == 0
        assert await journal.persistence_ids() == []

    async def test_empty_append_still_validates(self, journal: Journal) -> None:
        with pytest.raises(ValueError, match="persistence_id"):
            await journal.append("", [], 0)
        with pytest.raises(ValueError, match="expected_seq"):
            await journal.append("a-1", [], -1)

    # -- concurrency ----------------------------------------------------------------
    async def test_wrong_expected_seq_is_rejected_with_actual_head(self, journal: Journal) -> None:
        await journal.append("a-1", entries(1, 2), 0)
        with pytest.raises(JournalConcurrencyError) as info:
            await journal.append("a-1", entries(3), 1)
        assert (info.value.persistence_id, info.value.expected_seq, info.value.actual_seq) == (
            "a-1", 1, 2)
        assert [e.event for e in await journal.read("a-1")] == [1, 2]

    async def test_racing_appends_exactly_one_wins(
        self, journal: Journal, other_journal: Journal
    ) -> None:
        await journal.append("race", entries(0), 0)
        results = await asyncio.gather(
            *[
                (journal if i % 2 else other_journal).append("race", entries(f"w{i}", f"w{i}"), 1)
                for i in range(8)
            ],
            return_exceptions=True,
        )
        winners = [r for r in results if isinstance(r, list)]
        losers = [r for r in results if isinstance(r, JournalConcurrencyError)]
        assert len(winners) == 1 and len(losers) == 7, results
        assert all(e.actual_seq == 3 and e.expected_seq == 1 for e in losers)
        stored = await journal.read("race")
        assert [e.sequence_nr for e in stored] == [1, 2, 3]
        assert [e.event for e in stored[1:]] == [winners[0][0].event] * 2
        assert await other_journal.read("race") == stored  # both handles see one stream
        assert await other_journal.highest_seq("race") == 3

    async def test_many_writers_with_retry_leave_no_gaps(self, journal: Journal) -> None:
        async def writer(name: str) -> None:
            for i in range(5):
                while True:
                    head = await journal.highest_seq("busy")
                    try:
                        await journal.append("busy", entries(f"{name}-{i}"), head)
                        break
                    except JournalConcurrencyError:
                        await asyncio.sleep(0)

        await asyncio.gather(*[writer(f"w{n}") for n in range(6)])
        stored = await journal.read("busy")
        assert [e.sequence_nr for e in stored] == list(range(1, 31))
        assert sorted(e.event for e in stored) == sorted(f"w{n}-{i}" for n in range(6) for i in range(5))

    # -- delete ---------------------------------------------------------------------
    async def test_delete_prefix_keeps_head(self, journal: Journal) -> None:
        await journal.append("a-1", entries(1, 2, 3, 4), 0)
        await journal.delete("a-1", 2)
        assert [e.sequence_nr for e in await journal.read("a-1")] == [3, 4]
        assert await journal.highest_seq("a-1") == 4

    async def test_delete_everything_never_rewinds_head(self, journal: Journal) -> None:
        await journal.append("a-1", entries(1, 2, 3), 0)
        await journal.delete("a-1", 3)
        assert await journal.read("a-1") == []
        assert await journal.highest_seq("a-1") == 3
        assert "a-1" in await journal.persistence_ids()
        with pytest.raises(JournalConcurrencyError) as info:
            await journal.append("a-1", entries(1), 0)
        assert info.value.actual_seq == 3
        written = await journal.append("a-1", entries(4), 3)
        assert [e.sequence_nr for e in written] == [4]

    async def test_delete_past_head_marks_only_up_to_head(self, journal: Journal) -> None:
        await journal.append("a-1", entries(1, 2), 0)
        await journal.delete("a-1", 100)
        assert await journal.highest_seq("a-1") == 2
        await journal.append("a-1", entries(3), 2)
        assert [e.sequence_nr for e in await journal.read("a-1")] == [3]

    async def test_delete_is_monotonic_and_idempotent(self, journal: Journal) -> None:
        await journal.append("a-1", entries(1, 2, 3, 4), 0)
        await journal.delete("a-1", 3)
        await journal.delete("a-1", 1)
        await journal.delete("a-1", 3)
        assert [e.sequence_nr for e in await journal.read("a-1")] == [4]

    async def test_delete_unknown_stream_is_a_no_op(self, journal: Journal) -> None:
        await journal.delete("nobody", 5)
        assert await journal.highest_seq("nobody") == 0
        assert await journal.persistence_ids() == []

    # -- tags -----------------------------------------------------------------------
    async def test_per_entry_tags_in_a_mixed_batch(self, journal: Journal) -> None:
        batch = [JournalEntry("a", ["red"]), JournalEntry("b"), JournalEntry("c", ["red", "blue"])]
        written = await journal.append("a-1", batch, 0)
        assert [e.tags for e in written] == [("red",), (), ("red", "blue")]
        assert [e.tags for e in await journal.read("a-1")] == [("red",), (), ("red", "blue")]
        red = await journal.read_by_tag(TagFilter(all=["red"]))
        assert [(e.sequence_nr, e.event) for e in red] == [(1, "a"), (3, "c")]
        blue = await journal.read_by_tag(TagFilter(all=["blue"]))
        assert [e.event for e in blue] == ["c"]

    async def test_tag_filters(self, journal: Journal) -> None:
        await journal.append("a-1", [JournalEntry(1, ["x"]), JournalEntry(2, ["x", "y"]),
                                     JournalEntry(3, ["y"]), JournalEntry(4, ["x", "z"])], 0)
        async def events(f: TagFilter) -> list[Any]:
            return [e.event for e in await journal.read_by_tag(f)]
        assert await events(TagFilter(all=["x", "y"])) == [2]
        assert await events(TagFilter(any=["y", "z"])) == [2, 3, 4]
        assert await events(TagFilter(all=["x"], not_=["y"])) == [1, 4]
        assert await events(TagFilter(all=["x"], any=["y", "z"])) == [2, 4]
        assert [e.event for e in await journal.read_by_tag(TagFilter(all=["x"]), limit=2)] == [1, 2]

    async def test_tag_rows_are_deleted_with_their_events(self, journal: Journal) -> None:
        await journal.append("a-1", [JournalEntry(i, ["t"]) for i in range(1, 5)], 0)
        await journal.append("a-2", [JournalEntry("other", ["t"])], 0)
        await journal.delete("a-1", 3)
        tagged = await journal.read_by_tag(TagFilter(all=["t"]))
        assert sorted((e.persistence_id, e.sequence_nr) for e in tagged) == [("a-1", 4), ("a-2", 1)]

    async def test_read_by_tag_from_timestamp(self, journal: Journal) -> None:
        [first] = await journal.append("a-1", [JournalEntry(1, ["t"])], 0)
        tagged = await journal.read_by_tag(TagFilter(all=["t"]), from_timestamp=first.timestamp + 1)
        assert tagged == []
        tagged = await journal.read_by_tag(TagFilter(all=["t"]), from_timestamp=first.timestamp)
        assert [e.event for e in tagged] == [1]

    async def test_duplicate_tags_on_one_event_are_stored_once(self, journal: Journal) -> None:
        [event] = await journal.append("a-1", [JournalEntry(1, ["t", "t"])], 0)
        assert event.tags == ("t",)
        assert len(await journal.read_by_tag(TagFilter(all=["t"]))) == 1

    async def test_wait_for_appends_times_out_without_blocking(self, journal: Journal) -> None:
        woke = await asyncio.wait_for(journal.wait_for_appends(0.05), timeout=5)
        assert woke in (True, False)  # a notification may be pending; it must return promptly

    async def test_wait_for_appends_wakes_on_append(self, journal: Journal) -> None:
        await journal.wait_for_appends(0.01)  # establish the listener (and drain)

        async def later() -> None:
            await asyncio.sleep(0.1)
            await journal.append("a-1", entries(1), 0)

        task = asyncio.create_task(later())
        woke = await journal.wait_for_appends(10)
        await task
        assert woke is True

    # -- bad input ------------------------------------------------------------------
    @pytest.mark.parametrize("pid", ["", "a\x00b"])
    async def test_bad_persistence_id_is_rejected(self, journal: Journal, pid: str) -> None:
        with pytest.raises(ValueError, match="persistence_id"):
            await journal.append(pid, entries(1), 0)
        with pytest.raises(ValueError, match="persistence_id"):
            await journal.read(pid)
        assert await journal.persistence_ids() == []

    async def test_non_str_persistence_id_is_a_type_error(self, journal: Journal) -> None:
        with pytest.raises(TypeError, match="persistence_id"):
            await journal.append(42, entries(1), 0)  # type: ignore[arg-type]

    @pytest.mark.parametrize("tag", ["", "a,b", "nul\x00"])
    async def test_bad_tag_is_rejected_before_writing(self, journal: Journal, tag: str) -> None:
        batch = [JournalEntry("ok", ["fine"]), JournalEntry("bad", [tag])]
        with pytest.raises(ValueError, match="tag") as info:
            await journal.append("a-1", batch, 0)
        assert repr(tag) in str(info.value)
        assert await journal.highest_seq("a-1") == 0

    @pytest.mark.parametrize(
        "payload", [float("nan"), float("inf"), {1j}, object(), {"k": b"bytes"}, "\ud800"]
    )
    async def test_unserializable_payload_is_rejected_before_writing(
        self, journal: Journal, payload: Any
    ) -> None:
        with pytest.raises((TypeError, ValueError)):
            await journal.append("a-1", entries("fine", payload), 0)
        assert await journal.highest_seq("a-1") == 0

    @pytest.mark.parametrize("seq", [-1, -100])
    async def test_negative_sequence_numbers_are_rejected(self, journal: Journal, seq: int) -> None:
        with pytest.raises(ValueError, match=str(seq)):
            await journal.append("a-1", entries(1), seq)
        with pytest.raises(ValueError, match="from_seq"):
            await journal.read("a-1", seq)
        with pytest.raises(ValueError, match="to_seq"):
            await journal.read("a-1", 1, seq)
        with pytest.raises(ValueError, match="to_seq"):
            await journal.delete("a-1", seq)

    @pytest.mark.parametrize("seq", [1.0, "1", True, None])
    async def test_non_integer_sequence_numbers_are_type_errors(
        self, journal: Journal, seq: Any
    ) -> None:
        with pytest.raises(TypeError, match="expected_seq"):
            await journal.append("a-1", entries(1), seq)

    async def test_entries_must_be_journal_entries(self, journal: Journal) -> None:
        with pytest.raises(TypeError, match=r"entries\[1\]"):
            await journal.append("a-1", [JournalEntry(1), {"event": 2}], 0)  # type: ignore[list-item]
        with pytest.raises(TypeError, match="entries"):
            await journal.append("a-1", JournalEntry(1), 0)  # type: ignore[arg-type]
        assert await journal.highest_seq("a-1") == 0
