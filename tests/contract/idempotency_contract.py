"""Idempotent appends (I3, I4, I6 and the basics): memory and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

import pytest

from actorpg_lab import IdempotencyConflictError, JournalConcurrencyError, JournalEntry, JournalError


def entries(*values: Any, tags: tuple[str, ...] = ()) -> list[JournalEntry]:
    return [JournalEntry(v, tags) for v in values]


class IdempotencyContract:
    async def test_retry_returns_the_stored_events(self, journal: Any) -> None:
        first = await journal.append("k-1", entries({"n": 1}, {"n": 2}, tags=("t",)), 0,
                                     idempotency_key="cmd-1")
        again = await journal.append("k-1", entries({"n": 1}, {"n": 2}, tags=("t",)), 0,
                                     idempotency_key="cmd-1")
        assert again == first
        assert await journal.highest_seq("k-1") == 2

    async def test_i4_retry_after_the_head_moved_is_a_duplicate(self, journal: Any) -> None:
        first = await journal.append("k-1", entries({"n": 1}), 0, idempotency_key="cmd-1")
        await journal.append("k-1", entries({"n": 2}), 1)
        again = await journal.append("k-1", entries({"n": 1}), 0, idempotency_key="cmd-1")
        assert again == first and await journal.highest_seq("k-1") == 2

    async def test_i3_other_content_is_a_conflict(self, journal: Any) -> None:
        await journal.append("k-1", entries({"n": 1}), 0, idempotency_key="cmd-1")
        with pytest.raises(IdempotencyConflictError) as info:
            await journal.append("k-1", entries({"n": 99}), 1, idempotency_key="cmd-1")
        assert isinstance(info.value, JournalError) and "cmd-1" in str(info.value)
        with pytest.raises(IdempotencyConflictError):  # other tags are other content
            await journal.append("k-1", entries({"n": 1}, tags=("x",)), 1,
                                 idempotency_key="cmd-1")
        assert await journal.highest_seq("k-1") == 1

    async def test_keys_are_per_stream_and_unkeyed_conflicts_stay(self, journal: Any) -> None:
        await journal.append("k-1", entries({"n": 1}), 0, idempotency_key="cmd-1")
        await journal.append("k-2", entries({"n": 1}), 0, idempotency_key="cmd-1")
        with pytest.raises(JournalConcurrencyError):
            await journal.append("k-1", entries({"n": 1}), 0, idempotency_key="cmd-2")
        with pytest.raises(JournalConcurrencyError):
            await journal.append("k-1", entries({"n": 1}), 0)

    async def test_i6_after_pruning_a_retry_appends_again(self, journal: Any) -> None:
        await journal.append("k-1", entries({"n": 1}), 0, idempotency_key="cmd-1")
        assert await journal.prune_idempotency(3600) == 0   # younger than an hour: kept
        assert await journal.prune_idempotency(0) == 1
        with pytest.raises(JournalConcurrencyError):  # no longer known: a plain append
            await journal.append("k-1", entries({"n": 1}), 0, idempotency_key="cmd-1")
        await journal.append("k-1", entries({"n": 1}), 1, idempotency_key="cmd-1")
        assert await journal.highest_seq("k-1") == 2

    @pytest.mark.parametrize("key", ["", "x" * 513, "a\x00b", 7])
    async def test_bad_keys_rejected_before_writing(self, journal: Any, key: Any) -> None:
        with pytest.raises((ValueError, TypeError), match="idempotency_key"):
            await journal.append("k-1", entries({"n": 1}), 0, idempotency_key=key)
        assert await journal.highest_seq("k-1") == 0


class MetadataContract:
    """M1: metadata round-trips through append, read, read_by_tag and read_matching."""

    async def test_m1_metadata_round_trips(self, journal: Any) -> None:
        from actorpg_lab import Query, QueryItem, TagFilter

        meta = {"correlation_id": "req-1", "causation_id": "cmd-1", "user": "ann"}
        written = await journal.append("m-1", [
            JournalEntry({"n": 1}, tags=("t",), metadata=meta), JournalEntry({"n": 2})], 0)
        assert written[0].metadata == meta and written[0].correlation_id == "req-1"
        assert written[1].metadata == {} and written[1].causation_id is None
        read = await journal.read("m-1")
        assert [e.metadata for e in read] == [meta, {}]
        assert hash(read[0].metadata) == hash(written[0].metadata)
        by_tag = await journal.read_by_tag(TagFilter(all=("t",)))
        assert [e.metadata for e in by_tag] == [meta]
        matching = await journal.read_matching(Query([QueryItem(tags=["t"])]))
        assert [t.event.metadata for t in matching.events] == [meta]

    async def test_m1_context_metadata_is_the_default(self, journal: Any) -> None:
        from actorpg_lab import metadata

        with metadata(correlation_id="req-2"):
            with metadata(causation_id="cmd-2"):
                await journal.append("m-2", [JournalEntry({"n": 1}),
                                             JournalEntry({"n": 2}, metadata={"own": "x"})], 0)
        await journal.append("m-2", [JournalEntry({"n": 3})], 2)
        assert [e.metadata for e in await journal.read("m-2")] == [
            {"correlation_id": "req-2", "causation_id": "cmd-2"}, {"own": "x"}, {}]

    async def test_a_batch_returns_what_it_stored(self, journal: Any) -> None:
        """A persist_all-sized batch of registered dataclasses under the context metadata:
        entries on the default, with their own and with none (``{}``), interleaved."""
        from actorpg_lab import metadata

        from .dcb_contract import Subscribed

        own: dict[str, str] = {"own": "x"}
        none: dict[str, str] = {}
        kinds = [None, None, own, None, none, None, None]
        with metadata(correlation_id="req-b", causation_id="cmd-b"):
            written = await journal.append("m-5", [
                JournalEntry(Subscribed("c", f"s{i}"), metadata=kind)
                for i, kind in enumerate(kinds)], 0)
        default = {"causation_id": "cmd-b", "correlation_id": "req-b"}
        expected = [default if k is None else k for k in kinds]
        assert [e.metadata for e in written] == expected
        assert [e.event for e in written] == [Subscribed("c", f"s{i}") for i in range(7)]
        read = await journal.read("m-5")
        assert [(e.event, e.metadata, e.sequence_nr) for e in read] == [
            (e.event, e.metadata, e.sequence_nr) for e in written]

    async def test_metadata_in_the_idempotency_digest(self, journal: Any) -> None:
        await journal.append("m-3", [JournalEntry({"n": 1}, metadata={"a": "1"})], 0,
                             idempotency_key="k")
        with pytest.raises(IdempotencyConflictError):
            await journal.append("m-3", [JournalEntry({"n": 1}, metadata={"a": "2"})], 0,
                                 idempotency_key="k")

    @pytest.mark.parametrize("bad", [{"a": 1}, {"": "x"}, ["a"], {"a": "x\x00"}])
    async def test_bad_metadata_rejected_before_writing(self, journal: Any, bad: Any) -> None:
        with pytest.raises((TypeError, ValueError), match="metadata"):
            await journal.append("m-4", [JournalEntry({"n": 1}, metadata=bad)], 0)
        assert await journal.highest_seq("m-4") == 0
