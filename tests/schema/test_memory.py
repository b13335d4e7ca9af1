"""The schema-evolution contract against the in-memory stores."""

from __future__ import annotations

import pytest

from actorpg_lab import InMemoryDurableStateStore, InMemoryJournal, InMemorySnapshotStore

from .contract import SchemaEvolutionContract, Stores


class TestInMemorySchemaEvolution(SchemaEvolutionContract):
    @pytest.fixture
    def stores(self) -> Stores:
        return Stores(InMemoryJournal(), InMemorySnapshotStore(keep_n=0),
                      InMemoryDurableStateStore())

    async def corrupt_snapshot(self, stores: Stores, pid: str, seq: int) -> None:
        assert isinstance(stores.snapshots, InMemorySnapshotStore)
        snaps = stores.snapshots._snapshots[pid]
        snaps[seq] = ("garbage", snaps[seq][1])
