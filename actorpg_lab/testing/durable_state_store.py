"""The durable-state contract, run against every DurableStateStore implementation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actorpg_lab import DurableStateConcurrencyError, DurableStateStore


class DurableStateContract:
    async def test_create_update_load(self, durable: DurableStateStore) -> None:
        assert await durable.load("c-1") is None
        first = await durable.upsert("c-1", 0, {"count": 1})
        assert (first.persistence_id, first.revision, first.state) == ("c-1", 1, {"count": 1})
        second = await durable.upsert("c-1", 1, {"count": 2})
        assert second.revision == 2
        loaded = await durable.load("c-1")
        assert loaded is not None and (loaded.revision, loaded.state) == (2, {"count": 2})
        assert loaded.timestamp == second.timestamp

    async def test_create_twice_conflicts_with_actual_revision(
        self, durable: DurableStateStore
    ) -> None:
        await durable.upsert("c-1", 0, "a")
        await durable.upsert("c-1", 1, "b")
        with pytest.raises(DurableStateConcurrencyError) as info:
            await durable.upsert("c-1", 0, "c")
        assert (info.value.persistence_id, info.value.expected, info.value.actual) == ("c-1", 0, 2)

    async def test_stale_update_conflicts(self, durable: DurableStateStore) -> None:
        await durable.upsert("c-1", 0, "a")
        await durable.upsert("c-1", 1, "b")
        with pytest.raises(DurableStateConcurrencyError) as info:
            await durable.upsert("c-1", 1, "stale")
        assert info.value.actual == 2
        loaded = await durable.load("c-1")
        assert loaded is not None and loaded.state == "b"

    async def test_update_of_missing_record_reports_zero(self, durable: DurableStateStore) -> None:
        with pytest.raises(DurableStateConcurrencyError) as info:
            await durable.upsert("ghost", 3, "x")
        assert info.value.actual == 0
        assert await durable.load("ghost") is None

    async def test_delete_is_idempotent_and_allows_recreate(
        self, durable: DurableStateStore
    ) -> None:
        await durable.upsert("c-1", 0, "a")
        await durable.delete("c-1")
        await durable.delete("c-1")
        assert await durable.load("c-1") is None
        again = await durable.upsert("c-1", 0, "fresh")
        assert again.revision == 1

    async def test_cas_storm_from_many_tasks(
        self, durable: DurableStateStore, other_durable: DurableStateStore
    ) -> None:
        acknowledged = 0

        async def incrementer(store: DurableStateStore) -> None:
            nonlocal acknowledged
            for _ in range(5):
                while True:
                    current = await store.load("counter")
                    revision = current.revision if current else 0
                    value = current.state["n"] if current else 0
                    try:
                        await store.upsert("counter", revision, {"n": value + 1})
                        acknowledged += 1
                        break
                    except DurableStateConcurrencyError as exc:
                        assert exc.actual >= revision
                        await asyncio.sleep(0)

        await asyncio.gather(*[incrementer(durable if i % 2 else other_durable) for i in range(8)])
        final = await durable.load("counter")
        assert final is not None
        assert final.state == {"n": 40} and final.revision == 40 and acknowledged == 40
        assert await other_durable.load("counter") == final  # both handles see one record

    async def test_racing_creates_exactly_one_wins(
        self, durable: DurableStateStore, other_durable: DurableStateStore
    ) -> None:
        results = await asyncio.gather(
            *[(durable if i % 2 else other_durable).upsert("new", 0, i) for i in range(6)],
            return_exceptions=True,
        )
        assert sum(not isinstance(r, BaseException) for r in results) == 1
        errors = [r for r in results if isinstance(r, DurableStateConcurrencyError)]
        assert len(errors) == 5 and all(e.actual == 1 for e in errors)
        [winner] = [r for r in results if not isinstance(r, BaseException)]
        assert await durable.load("new") == await other_durable.load("new") == winner

    @pytest.mark.parametrize("pid", ["", "x\x00"])
    async def test_bad_persistence_id(self, durable: DurableStateStore, pid: str) -> None:
        with pytest.raises(ValueError, match="persistence_id"):
            await durable.upsert(pid, 0, {})
        with pytest.raises(ValueError, match="persistence_id"):
            await durable.load(pid)

    @pytest.mark.parametrize(
        ("revision", "error"), [(-1, ValueError), (1.5, TypeError), ("0", TypeError), (None, TypeError)]
    )
    async def test_bad_revision(
        self, durable: DurableStateStore, revision: Any, error: type[Exception]
    ) -> None:
        with pytest.raises(error, match="expected_revision"):
            await durable.upsert("c-1", revision, {})
        assert await durable.load("c-1") is None

    async def test_unserializable_state_is_rejected(self, durable: DurableStateStore) -> None:
        with pytest.raises(ValueError):
            await durable.upsert("c-1", 0, {"x": float("inf")})
        with pytest.raises(TypeError):
            await durable.upsert("c-1", 0, {"x": {1, 2j}})
        assert await durable.load("c-1") is None
