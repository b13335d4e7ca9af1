"""The contract suite against the in-memory reference stores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from actorpg_lab import InMemoryDurableStateStore, InMemoryJournal, InMemorySnapshotStore

from .dcb_contract import DcbContract
from .durable_state_contract import DurableStateContract
from .idempotency_contract import IdempotencyContract, MetadataContract
from .journal_contract import JournalContract
from .snapshot_contract import SnapshotStoreContract


class TestInMemoryJournal(JournalContract, DcbContract, IdempotencyContract,
                         MetadataContract):
    @pytest.fixture
    def journal(self) -> InMemoryJournal:
        return InMemoryJournal()

    @pytest.fixture
    def other_journal(self, journal: InMemoryJournal) -> InMemoryJournal:
        # a separate journal object over the same streams: the in-memory "other process"
        return InMemoryJournal.sharing(journal)


class TestInMemorySnapshotStore(SnapshotStoreContract):
    @pytest.fixture
    def make_snapshots(self) -> Callable[[int], InMemorySnapshotStore]:
        return lambda keep_n: InMemorySnapshotStore(keep_n=keep_n)

    @pytest.fixture
    def break_pruning(self) -> Callable[[Any], None]:
        def break_it(store: InMemorySnapshotStore) -> None:
            async def failing(pid: str) -> tuple[int, ...]:
                raise RuntimeError("disk on fire")

            store._prune = failing  # type: ignore[method-assign,assignment]

        return break_it


class TestInMemoryDurableState(DurableStateContract):
    @pytest.fixture
    def durable(self) -> InMemoryDurableStateStore:
        return InMemoryDurableStateStore()

    @pytest.fixture
    def other_durable(self, durable: InMemoryDurableStateStore) -> InMemoryDurableStateStore:
        return InMemoryDurableStateStore.sharing(durable)
