"""A PersistentActor recovers through upcasters and copes with unreadable snapshots."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from actorpg_lab import (
    ActorSystem,
    InMemoryJournal,
    InMemorySnapshotStore,
    JournalEntry,
    JournalIntegrityError,
    JsonCodec,
    PersistentActor,
    RecoveryFailedError,
    SnapshotIntegrityError,
)

from ._types import (
    BalanceV1,
    BalanceV2,
    DepositedV1,
    DepositedV3,
    codec_v1,
    codec_v3,
    codec_without_state_upcaster,
)


class Wallet(PersistentActor):
    persistence_id = "wallet-1"

    def __init__(self, journal: InMemoryJournal, snapshots: InMemorySnapshotStore) -> None:
        super().__init__()
        self.journal = journal
        self.snapshot_store = snapshots

    def initial_state(self) -> BalanceV2:
        return BalanceV2(0, 0)

    def on_event(self, state: BalanceV2, event: Any) -> BalanceV2:
        return BalanceV2(state.total + event.units * 100 + event.cents, state.deposits + 1)

    async def on_command(self, state: BalanceV2, command: Any) -> Any:
        return state


class StrictWallet(Wallet):
    unreadable_snapshot = "fail"


async def _history(codec: JsonCodec, *, snapshot: bool) -> tuple[InMemoryJournal, InMemorySnapshotStore]:
    """Rows written by the old code: three v1 deposits and (optionally) a v1 snapshot."""
    journal, snapshots = InMemoryJournal(codec=codec), InMemorySnapshotStore(codec=codec)
    await journal.append("wallet-1", [JournalEntry(DepositedV1(n)) for n in (100, 250, 5)], 0)
    if snapshot:
        await snapshots.save("wallet-1", 3, BalanceV1(355))
    return journal, snapshots


async def _recover(actor: Wallet) -> Any:
    system = ActorSystem("schema-test")
    try:
        ref = system.spawn(actor)
        return await ref.ask("get")
    finally:
        await system.terminate()


async def test_recovery_runs_the_upcasters() -> None:
    journal, snapshots = await _history(codec_v1(), snapshot=True)
    journal.codec = snapshots.codec = codec_v3()
    wallet = Wallet(journal, snapshots)
    assert await _recover(wallet) == BalanceV2(355, 0)  # the upcast snapshot, not the events
    assert wallet.last_recovery is not None and wallet.last_recovery.snapshot_sequence_nr == 3


async def test_recovery_without_upcaster_fails_with_the_named_integrity_error() -> None:
    journal, snapshots = await _history(codec_v1(), snapshot=False)
    missing = JsonCodec()
    missing.register(DepositedV3, "schema.Deposited", version=3)
    journal.codec = missing
    with pytest.raises(RecoveryFailedError) as info:
        await _recover(Wallet(journal, snapshots))
    cause = info.value.__cause__
    assert isinstance(cause, JournalIntegrityError)
    assert "no upcaster from version 1 to 2" in str(cause) and "sequence_nr 1" in str(cause)


async def test_unreadable_snapshot_recovers_from_events_by_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal, snapshots = await _history(codec_v1(), snapshot=True)
    journal.codec = snapshots.codec = codec_without_state_upcaster()
    wallet = Wallet(journal, snapshots)
    with caplog.at_level(logging.WARNING, logger="actorpg_lab.replay"):
        assert await _recover(wallet) == BalanceV2(355, 3)
    assert wallet.last_recovery is not None
    assert wallet.last_recovery.skipped_snapshots == (3,)
    assert "snapshot of 'wallet-1' at sequence_nr 3 cannot be read" in caplog.text


async def test_unreadable_snapshot_fails_recovery_when_the_actor_says_so() -> None:
    journal, snapshots = await _history(codec_v1(), snapshot=True)
    journal.codec = snapshots.codec = codec_without_state_upcaster()
    with pytest.raises(RecoveryFailedError) as info:
        await _recover(StrictWallet(journal, snapshots))
    assert isinstance(info.value.__cause__, SnapshotIntegrityError)
    assert "registered version 2" in str(info.value.__cause__)
