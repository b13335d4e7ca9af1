"""PersistentActor and DurableStateActor behaviour, on the in-memory stores and on PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actorpg_lab import (
    DurableStateConcurrencyError,
    JournalConcurrencyError,
    JournalEntry,
    JournalIntegrityError,
    RecoveryFailedError,
    SnapshotIntegrityError,
    every_n_events,
)
from tests.runtime._bank import Account, AccountState, Counter, Deposited, InsufficientFunds
from tests.runtime.conftest import Backend

PID = "account-1"
T = 20.0  # generous bound for asyncio.wait_for: a hang fails instead of blocking the suite


async def ask(ref: Any, command: Any) -> Any:
    return await asyncio.wait_for(ref.ask(command), T)


async def run_commands(ref: Any) -> AccountState:
    await ask(ref, ("deposit", 100))
    await ask(ref, ("withdraw", 30))
    await ask(ref, ("deposit_many", [1, 2, 3]))
    with pytest.raises(InsufficientFunds):
        await ask(ref, ("withdraw", 1000))
    await ask(ref, ("deposit", 7))
    state: AccountState = await ask(ref, ("get",))
    return state


async def test_round_trip_without_snapshots(backend: Backend) -> None:
    system = backend.system("bank")
    ref = system.spawn(Account(PID))
    state = await run_commands(ref)
    assert state == AccountState(83, (100, -30, 1, 2, 3, 7))
    assert ref.actor.last_sequence_nr == 6
    await system.terminate()
    assert not ref.is_alive

    system2 = backend.system("bank")
    actor2 = Account(PID)
    ref2 = system2.spawn(actor2)
    assert await ask(ref2, ("get",)) == state
    assert actor2.recovered_with == state
    assert actor2.last_sequence_nr == 6
    assert actor2.last_recovery is not None
    assert (actor2.last_recovery.snapshot_sequence_nr, actor2.last_recovery.events_applied) == (
        None, 6)
    events = await backend.journal.read(PID)
    assert [e.tags for e in events][:2] == [("bank", "deposit"), ("bank", "withdrawal")]


async def test_round_trip_with_snapshots(backend: Backend) -> None:
    system = backend.system("bank")
    ref = system.spawn(Account(PID, every_n_events(4)))
    state = await run_commands(ref)  # heads: 1, 2, 5 (crosses 4), 6
    snap = await backend.snapshots.load_latest(PID)
    assert snap is not None and snap.sequence_nr == 5
    assert snap.state == AccountState(76, (100, -30, 1, 2, 3))
    await system.terminate()

    system2 = backend.system("bank")
    actor2 = Account(PID, every_n_events(4))
    ref2 = system2.spawn(actor2)
    assert await ask(ref2, ("get",)) == state
    assert actor2.last_recovery is not None
    assert (actor2.last_recovery.snapshot_sequence_nr, actor2.last_recovery.events_applied) == (5, 1)
    assert await ask(ref2, ("deposit_many", [1, 1])) == 85  # head 8: snapshot again
    snap = await backend.snapshots.load_latest(PID)
    assert snap is not None and (snap.sequence_nr, snap.state.balance) == (8, 85)


async def test_snapshot_policy_and_keep_n(backend: Backend) -> None:
    system = backend.system("bank", keep_n=2)
    ref = system.spawn(Account(PID, every_n_events(2)))
    for i in range(1, 10):
        await ask(ref, ("deposit", i))
    # snapshots were saved at 2, 4, 6, 8; keep_n=2 keeps 6 and 8
    latest = await backend.snapshots.load_latest(PID)
    assert latest is not None and latest.sequence_nr == 8
    older = await backend.snapshots.load_before(PID, 8)
    assert older is not None and older.sequence_nr == 6
    assert await backend.snapshots.load_before(PID, 6) is None
    await system.terminate()
    actor2 = Account(PID)
    ref2 = backend.system("bank2", keep_n=2).spawn(actor2)
    assert (await ask(ref2, ("get",))).balance == 45
    assert actor2.last_recovery is not None
    assert (actor2.last_recovery.snapshot_sequence_nr, actor2.last_recovery.events_applied) == (8, 1)


async def test_delete_history_then_recovery(backend: Backend) -> None:
    system = backend.system("bank")
    ref = system.spawn(Account(PID))
    for i in range(1, 6):
        await ask(ref, ("deposit", i))
    with pytest.raises(ValueError, match="no snapshot"):
        await ask(ref, ("delete_history", 3))
    assert len(await backend.journal.read(PID)) == 5  # nothing deleted
    await ask(ref, ("snapshot",))  # at 5... then two more events and another snapshot at 7
    await ask(ref, ("deposit", 6))
    await ask(ref, ("deposit", 7))
    await ask(ref, ("snapshot",))
    with pytest.raises(ValueError, match="latest snapshot is at sequence_nr 7"):
        await ask(ref, ("delete_history", 8))
    await ask(ref, ("delete_history", 6))
    assert [e.sequence_nr for e in await backend.journal.read(PID)] == [7]
    assert await backend.snapshots.load_before(PID, 7) is None  # older snapshots gone
    assert await backend.journal.highest_seq(PID) == 7
    assert await ask(ref, ("deposit", 8)) == 36
    before = await ask(ref, ("get",))
    await system.terminate()

    actor2 = Account(PID)
    ref2 = backend.system("bank").spawn(actor2)
    assert await ask(ref2, ("get",)) == before
    assert actor2.last_sequence_nr == 8


async def test_two_systems_writing_one_stream(backend: Backend) -> None:
    s1, s2 = backend.system("node-1"), backend.system("node-2")
    a1, a2 = Account(PID), Account(PID)
    r1, r2 = s1.spawn(a1), s2.spawn(a2)
    await ask(r1, ("get",))
    await ask(r2, ("get",))  # both recovered at head 0
    assert await ask(r1, ("deposit", 10)) == 10
    with pytest.raises(JournalConcurrencyError) as ei:
        await ask(r2, ("deposit", 5))
    assert (ei.value.persistence_id, ei.value.expected_seq, ei.value.actual_seq) == (PID, 0, 1)
    # the losing actor re-synced from the journal: it sees node-1's deposit
    assert a2.last_sequence_nr == 1 and a2.state.balance == 10
    assert await ask(r2, ("deposit", 5)) == 15
    with pytest.raises(JournalConcurrencyError):
        await ask(r1, ("deposit", 1))
    assert await ask(r1, ("get",)) == AccountState(15, (10, 5))
    assert [e.event for e in await backend.journal.read(PID)] == [Deposited(10), Deposited(5)]


async def test_recovery_failure_fails_every_ask(backend: Backend) -> None:
    await backend.journal.append(PID, [JournalEntry(Deposited(i)) for i in range(1, 6)], 0)
    await backend.delete_event_row(PID, 3)
    system = backend.system("bank")
    actor = Account(PID)
    ref = system.spawn(actor)
    pending = [asyncio.ensure_future(ref.ask(("deposit", 1))) for _ in range(3)]
    for fut in pending:
        with pytest.raises(RecoveryFailedError) as ei:
            await asyncio.wait_for(fut, T)
        assert isinstance(ei.value.__cause__, JournalIntegrityError)
        assert ei.value.cause is ei.value.__cause__
    assert isinstance(actor.recovery_failure, JournalIntegrityError)
    assert actor.recovery_failure.sequence_nr == 3
    assert not ref.is_alive and ref.failure is actor.recovery_failure
    with pytest.raises(RecoveryFailedError, match="recovery failed with JournalIntegrityError"):
        await ask(ref, ("get",))
    ref.tell(("deposit", 1))  # a dead letter: logged, nothing written
    assert await backend.journal.highest_seq(PID) == 5
    # the persistence id is free again once the failed actor stopped
    ref_again = system.spawn(Account(PID))
    with pytest.raises(RecoveryFailedError):
        await ask(ref_again, ("get",))


async def test_recovery_failure_from_on_event_and_snapshot_ahead(backend: Backend) -> None:
    await backend.journal.append("poison", [JournalEntry({"not": "an account event"})], 0)
    await backend.journal.append(PID, [JournalEntry(Deposited(1))], 0)
    await backend.insert_snapshot_row(PID, 4, {"balance": 99})
    system = backend.system("bank")
    poison = system.spawn(Account("poison"))
    ahead = system.spawn(Account(PID))
    with pytest.raises(RecoveryFailedError) as ei:
        await ask(poison, ("get",))
    assert isinstance(ei.value.__cause__, TypeError)
    with pytest.raises(RecoveryFailedError) as ei2:
        await ask(ahead, ("get",))
    assert isinstance(ei2.value.__cause__, SnapshotIntegrityError)
    assert "ahead of the journal head 1" in str(ei2.value)


async def test_durable_state_conflict_reports_actual_and_reloads(backend: Backend) -> None:
    system = backend.system("counters")
    actor = Counter("counter-1")
    ref = system.spawn(actor)
    assert await ask(ref, ("add", 5)) == 5
    assert actor.revision == 1
    # another writer (another process, say) moves the record to revision 3
    await backend.durable.upsert("counter-1", 1, {"value": 40})
    await backend.durable.upsert("counter-1", 2, {"value": 41})
    with pytest.raises(DurableStateConcurrencyError) as ei:
        await ask(ref, ("add", 1))
    assert (ei.value.expected, ei.value.actual) == (1, 3)
    assert actor.revision == ei.value.actual
    assert actor.state == {"value": 41}
    assert await ask(ref, ("add", 1)) == 42
    await system.terminate()
    actor2 = Counter("counter-1")
    ref2 = backend.system("counters").spawn(actor2)
    assert await ask(ref2, ("get",)) == 42
    assert actor2.revision == 4


async def test_durable_state_actor_uses_explicit_store(backend: Backend) -> None:
    system = backend.system("counters")
    counter = Counter("counter-2")
    counter.durable_state_store = backend.durable
    ref = system.spawn(counter)
    await ask(ref, ("add", 2))
    record = await backend.durable.load("counter-2")
    assert record is not None and (record.revision, record.state) == (1, {"value": 2})
    assert "revision=1" in repr(counter)


async def test_many_actors_concurrently(backend: Backend) -> None:
    """50 actors x 6 commands at once on one (Postgres: 12-connection) pool."""
    system = backend.system("bank")
    refs = [system.spawn(Account(f"acc-{i}", every_n_events(4))) for i in range(50)]

    async def drive(i: int, ref: Any) -> AccountState:
        for k in range(1, 6):
            await ref.ask(("deposit", i + k))
        state: AccountState = await ref.ask(("get",))
        return state

    states = await asyncio.wait_for(asyncio.gather(*(drive(i, r) for i, r in enumerate(refs))), T)
    assert [s.balance for s in states] == [5 * i + 15 for i in range(50)]
    await system.terminate()
    system2 = backend.system("bank")
    again = [system2.spawn(Account(f"acc-{i}")) for i in range(50)]
    recovered = await asyncio.wait_for(asyncio.gather(*(r.ask(("get",)) for r in again)), T)
    assert recovered == states
