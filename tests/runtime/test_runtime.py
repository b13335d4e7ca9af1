"""ActorSystem mechanics: mailboxes, ordering, lazy start, termination, errors, reprs."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from actorpg_lab import (
    Actor,
    ActorStoppedError,
    ActorSystem,
    InMemoryJournal,
    InMemorySnapshotStore,
    PersistenceExtension,
    PersistentActor,
)
from tests.runtime._bank import Account, AccountState, Deposited

T = 20.0


class Recorder(Actor):
    """A plain actor: records commands; ("block", event) waits for the event."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    async def receive(self, command: Any) -> Any:
        if isinstance(command, tuple) and command[0] == "block":
            await command[1].wait()
        if command == "fail":
            raise RuntimeError("told to fail")
        self.seen.append(command)
        return len(self.seen)


async def test_commands_run_one_at_a_time_in_arrival_order() -> None:
    async with ActorSystem("order") as system:
        actor = Account("acc")
        ref = system.spawn(actor)
        for i in range(1, 101):
            ref.tell(("deposit", i))
        results = await asyncio.gather(*(ref.ask(("deposit", 1000 + i)) for i in range(5)))
        state = await asyncio.wait_for(ref.ask(("get",)), T)
    assert state.history == (*range(1, 101), 1000, 1001, 1002, 1003, 1004)
    assert results == [5050 + 1000, 5050 + 2001, 5050 + 3003, 5050 + 4006, 5050 + 5010]
    assert actor.last_sequence_nr == 105


async def test_told_failures_are_logged_and_the_actor_continues(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with ActorSystem("tells") as system:
        rec = Recorder()
        ref = system.spawn(rec, name="rec")
        with caplog.at_level(logging.ERROR, logger="actorpg_lab.actor"):
            ref.tell("fail")
            assert await asyncio.wait_for(ref.ask("after"), T) == 1
        with pytest.raises(RuntimeError, match="told to fail"):
            await ref.ask("fail")
    assert rec.seen == ["after"]
    assert any("failed on told command 'fail'" in r.getMessage() for r in caplog.records)


def test_spawn_without_a_running_loop_starts_lazily() -> None:
    """Plain scripts: build the system and spawn at import time, run later."""
    system = ActorSystem("script")
    ref = system.spawn(Account("acc"))
    ref.tell(("deposit", 5))  # queued until the actor starts
    assert ref.status == "idle" and ref.mailbox_size == 1

    async def main() -> AccountState:
        balance = await ref.ask(("deposit", 10))
        assert balance == 15
        state: AccountState = await ref.ask(("get",))
        await system.terminate()
        return state

    assert asyncio.run(main()) == AccountState(15, (5, 10))
    assert system.is_terminated


async def test_terminate_drains_queued_commands_then_refuses() -> None:
    system = ActorSystem("drain")
    journal = InMemoryJournal()
    ext = system.extension(PersistenceExtension)
    ext.register_journal("j", journal)
    actor = Account("acc")
    actor.journal_plugin_id = "j"
    ref = system.spawn(actor)
    for _ in range(10):
        ref.tell(("deposit", 1))
    await system.terminate()
    assert await journal.highest_seq("acc") == 10  # every queued command ran
    with pytest.raises(ActorStoppedError, match="actor system terminated"):
        await ref.ask(("get",))
    with pytest.raises(RuntimeError, match="terminated"):
        system.spawn(Account("other"))
    await system.terminate()  # idempotent
    await journal.close()  # registered as an instance: not owned by the system


async def test_terminate_cancels_a_stuck_actor_and_fails_its_asks() -> None:
    system = ActorSystem("stuck")
    ref = system.spawn(Recorder())
    never = asyncio.Event()
    blocked = asyncio.ensure_future(ref.ask(("block", never)))
    queued = asyncio.ensure_future(ref.ask("queued"))
    await asyncio.sleep(0)
    await system.terminate(timeout=0.2)
    for fut in (blocked, queued):
        with pytest.raises(ActorStoppedError):
            await asyncio.wait_for(fut, T)


async def test_spawn_validation() -> None:
    async with ActorSystem("v") as system:
        system.spawn(Account("dup"))
        with pytest.raises(ValueError, match="persistence id 'dup' is already used"):
            system.spawn(Account("dup"), name="another-name")
        with pytest.raises(ValueError, match="an actor named 'dup' already runs"):
            system.spawn(Recorder(), name="dup")
        with pytest.raises(TypeError, match="spawn expects an actor instance"):
            system.spawn("not an actor")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="has no persistence_id"):
            system.spawn(PersistentActor())
        with pytest.raises(ValueError, match="persistence_id must not be empty"):
            Account("")
        odd = system.spawn(Account("orders/42 (EU)"))  # any persistence id is a valid name
        assert await odd.ask(("deposit", 2)) == 2
        actor = Account("once")
        system.spawn(actor)
        with pytest.raises(ValueError, match="already spawned"):
            system.spawn(actor)
    with pytest.raises(TypeError, match="name must be a str"):
        ActorSystem(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="without whitespace"):
        ActorSystem("has space")
    with pytest.raises(TypeError, match="config must be a HOCON string, a dict or None"):
        ActorSystem("x", config=42)  # type: ignore[arg-type]


async def test_persist_outside_on_command_is_refused() -> None:
    async with ActorSystem("guard") as system:
        actor = Account("acc")
        ref = system.spawn(actor)
        await ref.ask(("get",))
        with pytest.raises(RuntimeError, match="may only be called from on_command"):
            await actor.persist(Deposited(1))


async def test_on_event_failure_writes_nothing() -> None:
    class Picky(Account):
        def on_event(self, state: AccountState, event: Any) -> AccountState:
            if isinstance(event, Deposited) and event.amount == 13:
                raise ValueError("unlucky")
            return super().on_event(state, event)

    async with ActorSystem("picky") as system:
        actor = Picky("acc")
        ref = system.spawn(actor)
        await ref.ask(("deposit", 1))
        with pytest.raises(ValueError, match="unlucky"):
            await ref.ask(("deposit_many", [2, 13]))
        assert await ref.ask(("deposit", 3)) == 4
        journal = actor.journal
        assert journal is not None
        assert [e.event for e in await journal.read("acc")] == [Deposited(1), Deposited(3)]


async def test_reprs_and_introspection() -> None:
    async with ActorSystem("bank") as system:
        actor = Account("acc-1")
        ref = system.spawn(actor)
        await ref.ask(("deposit", 3))
        assert repr(ref) == "<ActorRef actorpg://bank/acc-1 running mailbox=0>"
        assert "last_sequence_nr=1" in repr(actor) and "balance=3" in repr(actor)
        assert "<b>Account</b>" in actor._repr_html_()
        assert repr(system).startswith("<ActorSystem 'bank' actors=1")
        assert "<td>acc-1</td><td>Account</td><td>running</td>" in system._repr_html_()
        assert system.actor_for("acc-1") == ref and system.actors == [ref]
        ext = system.extension(PersistenceExtension)
        assert ext is system.extension(PersistenceExtension)
        assert "journal='actorpg.persistence.journal.inmem'" in repr(ext)
        assert isinstance(ext.snapshot_store, InMemorySnapshotStore)
    assert "terminated" in repr(system)


async def test_custom_extensions_are_per_system_singletons() -> None:
    from actorpg_lab import Extension

    class Metrics(Extension):
        closed = 0

        @classmethod
        def create_extension(cls, system: ActorSystem) -> Metrics:
            ext = cls(system)
            ext.label = f"metrics of {system.name}"
            return ext

        label = ""

        async def close(self) -> None:
            Metrics.closed += 1

    a, b = ActorSystem("a"), ActorSystem("b")
    assert a.extension(Metrics) is a.extension(Metrics)
    assert a.extension(Metrics) is not b.extension(Metrics)
    assert b.extension(Metrics).label == "metrics of b"
    with pytest.raises(TypeError, match="Extension subclass"):
        a.extension(int)  # type: ignore[type-var]
    await a.terminate()
    await b.terminate()
    assert Metrics.closed == 2


class AmbiguousJournal(InMemoryJournal):
    """Commits the next append but then reports a storage failure (a lost COMMIT reply)."""

    fail_next = False

    async def append(self, persistence_id: str, entries: Any, expected_seq: int,
                     **options: Any) -> Any:
        written = await super().append(persistence_id, entries, expected_seq, **options)
        if self.fail_next:
            self.fail_next = False
            from actorpg_lab import JournalError

            raise JournalError("connection lost while committing")
        return written


async def test_ambiguous_append_failure_resyncs_before_the_next_command() -> None:
    from actorpg_lab import JournalError

    journal = AmbiguousJournal()
    async with ActorSystem("flaky") as system:
        actor = Account("acc")
        actor.journal = journal
        ref = system.spawn(actor)
        await ref.ask(("deposit", 1))
        journal.fail_next = True
        with pytest.raises(JournalError, match="connection lost"):
            await ref.ask(("deposit", 2))
        assert actor.last_sequence_nr == 1  # the actor does not know whether it committed
        # the next command first re-syncs: the committed deposit is there, no conflict
        assert await ref.ask(("deposit", 3)) == 6
        assert actor.state.history == (1, 2, 3)
    await journal.close()
