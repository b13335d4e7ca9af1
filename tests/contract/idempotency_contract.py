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
