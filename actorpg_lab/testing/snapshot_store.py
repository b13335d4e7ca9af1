"""The snapshot-store contract, run against every SnapshotStore implementation.

Subclasses provide ``make_snapshots(keep_n)`` (a factory fixture returning a fresh store
with that ``keep_n``) and ``break_pruning(store)`` (make the next prune fail for real).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from actorpg_lab import SnapshotStore, add_snapshot_listener

MakeSnapshots = Callable[[int], SnapshotStore]


class SnapshotStoreContract:
    async def test_save_and_load_latest(self, make_snapshots: MakeSnapshots) -> None:
        store = make_snapshots(3)
        saved = await store.save("a-1", 5, {"balance": 10})
        assert (saved.persistence_id, saved.sequence_nr, saved.state) == ("a-1", 5, {"balance": 10})
        latest = await store.load_latest("a-1")
        assert latest is not None and latest.state == {"balance": 10} and latest.sequence_nr == 5
        assert latest.timestamp == saved.timestamp
        assert await store.load_latest("nobody") is None

    async def test_save_at_same_seq_replaces(self, make_snapshots: MakeSnapshots) -> None:
        store = make_snapshots(3)
        await store.save("a-1", 5, "old")
        await store.save("a-1", 5, "new")
        latest = await store.load_latest("a-1")
        assert latest is not None and latest.state == "new"
        assert await store.load_before("a-1", 5) is None

    async def test_keep_n_prunes_oldest(self, make_snapshots: MakeSnapshots) -> None:
        store = make_snapshots(2)
        for seq in (10, 20, 30, 40):
            await store.save("a-1", seq, seq)
        await store.save("a-2", 1, "other stream untouched")
        assert await store.load_before("a-1", 30) is None  # 10 and 20 pruned
        found = await store.load_before("a-1", 40)
        assert found is not None and found.sequence_nr == 30
        assert (await store.load_latest("a-2")) is not None

    async def test_pruning_reports_what_it_deleted(self, make_snapshots: MakeSnapshots) -> None:
        store = make_snapshots(2)
        seen: list[tuple[int, tuple[int, ...]]] = []
        remove = add_snapshot_listener(lambda a: seen.append((a.saved_seq, a.pruned_seqs)))
        try:
            for seq in (1, 2, 3, 4):
                await store.save("a-1", seq, seq)
        finally:
            remove()
        assert seen == [(1, ()), (2, ()), (3, (1,)), (4, (2,))]

    @pytest.mark.parametrize("keep_n", [0, -1])
    async def test_keep_n_not_positive_keeps_all(
        self, make_snapshots: MakeSnapshots, keep_n: int
    ) -> None:
        store = make_snapshots(keep_n)
        for seq in range(1, 8):
            await store.save("a-1", seq, seq)
        for seq in range(1, 8):
            found = await store.load_before("a-1", seq + 1)
            assert found is not None and found.sequence_nr == seq

    async def test_load_before_is_strict(self, make_snapshots: MakeSnapshots) -> None:
        store = make_snapshots(0)
        for seq in (3, 6, 9):
            await store.save("a-1", seq, seq)
        assert await store.load_before("a-1", 3) is None
        found = await store.load_before("a-1", 4)
        assert found is not None and found.sequence_nr == 3
        found = await store.load_before("a-1", 9)
        assert found is not None and found.sequence_nr == 6
        found = await store.load_before("a-1", 1000)
        assert found is not None and found.sequence_nr == 9

    async def test_delete_up_to(self, make_snapshots: MakeSnapshots) -> None:
        store = make_snapshots(0)
        for seq in (3, 6, 9):
            await store.save("a-1", seq, seq)
        await store.delete("a-1", 6)
        assert await store.load_before("a-1", 9) is None
        latest = await store.load_latest("a-1")
        assert latest is not None and latest.sequence_nr == 9
        await store.delete("a-1", 100)
        assert await store.load_latest("a-1") is None

    async def test_failing_prune_never_fails_the_save(
        self, make_snapshots: MakeSnapshots, break_pruning: Callable[[Any], None],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        store = make_snapshots(1)
        await store.save("a-1", 1, "one")
        break_pruning(store)
        with caplog.at_level(logging.WARNING, logger="actorpg_lab"):
            saved = await store.save("a-1", 2, "two")
        assert saved.sequence_nr == 2
        latest = await store.load_latest("a-1")
        assert latest is not None and latest.state == "two"
        assert "pruning snapshots" in caplog.text

    @pytest.mark.parametrize("pid", ["", "x\x00"])
    async def test_bad_persistence_id(self, make_snapshots: MakeSnapshots, pid: str) -> None:
        store = make_snapshots(3)
        with pytest.raises(ValueError, match="persistence_id"):
            await store.save(pid, 1, {})
        with pytest.raises(ValueError, match="persistence_id"):
            await store.load_latest(pid)

    async def test_bad_sequence_numbers_and_payloads(self, make_snapshots: MakeSnapshots) -> None:
        store = make_snapshots(3)
        with pytest.raises(ValueError, match="sequence_nr"):
            await store.save("a-1", -1, {})
        with pytest.raises(TypeError, match="sequence_nr"):
            await store.save("a-1", "1", {})  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="to_seq"):
            await store.delete("a-1", -5)
        with pytest.raises(ValueError):
            await store.save("a-1", 1, {"x": float("nan")})
        with pytest.raises(TypeError):
            await store.save("a-1", 1, {"x": object()})
        assert await store.load_latest("a-1") is None
