"""Test actors: an event-sourced bank account and a durable-state counter."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from actorpg_lab import (
    DurableStateActor,
    PersistentActor,
    SnapshotPolicy,
    event_type,
    every_n_events,
)


@event_type("test.Deposited")
@dataclass(frozen=True)
class Deposited:
    amount: int


@event_type("test.Withdrawn")
@dataclass(frozen=True)
class Withdrawn:
    amount: int


@event_type("test.AccountState")
@dataclass(frozen=True)
class AccountState:
    balance: int = 0
    history: tuple[int, ...] = ()

    def __post_init__(self) -> None:  # JSON gives a list back from a snapshot
        object.__setattr__(self, "history", tuple(self.history))


class InsufficientFunds(Exception):
    pass


class Account(PersistentActor):
    """Commands: ("deposit", n), ("withdraw", n), ("deposit_many", [n, ...]), ("get",),
    ("snapshot",), ("delete_history", seq)."""

    def __init__(self, persistence_id: str, policy: SnapshotPolicy | None = None) -> None:
        super().__init__(persistence_id)
        self.policy = policy
        self.recovered_with: Any = None
        self.recovery_failure: BaseException | None = None

    def initial_state(self) -> AccountState:
        return AccountState()

    def on_event(self, state: AccountState, event: Any) -> AccountState:
        if isinstance(event, Deposited):
            return AccountState(state.balance + event.amount, (*state.history, event.amount))
        if isinstance(event, Withdrawn):
            return AccountState(state.balance - event.amount, (*state.history, -event.amount))
        raise TypeError(f"unknown event {event!r}")

    def snapshot_policy(self) -> SnapshotPolicy | None:
        return self.policy

    def tags_for(self, event: Any) -> Iterable[str]:
        return ("bank", "deposit" if isinstance(event, Deposited) else "withdrawal")

    def on_recovery_complete(self, state: Any) -> None:
        self.recovered_with = state

    def on_recovery_failure(self, exc: BaseException) -> None:
        self.recovery_failure = exc

    async def on_command(self, state: AccountState, command: tuple[Any, ...]) -> Any:
        match command:
            case ("deposit", int(amount)):
                await self.persist(Deposited(amount))
                return self.state.balance
            case ("deposit_many", amounts):
                await self.persist_all([Deposited(a) for a in amounts])
                return self.state.balance
            case ("withdraw", int(amount)):
                if amount > state.balance:
                    raise InsufficientFunds(f"balance {state.balance} < {amount}")
                await self.persist(Withdrawn(amount))
                return self.state.balance
            case ("get",):
                return state
            case ("snapshot",):
                return await self.save_snapshot()
            case ("delete_history", int(to_seq)):
                await self.delete_history(to_seq)
                return None
        raise ValueError(f"unknown command {command!r}")


def snapshots_every(n: int) -> SnapshotPolicy:
    return every_n_events(n)


class Counter(DurableStateActor):
    """Commands: ("add", n) -> new value, ("get",)."""

    def initial_state(self) -> dict[str, int]:
        return {"value": 0}

    async def on_command(self, state: dict[str, int], command: tuple[Any, ...]) -> Any:
        if command[0] == "add":
            await self.persist({"value": state["value"] + command[1]})
            return self.state["value"]
        if command[0] == "get":
            return state["value"]
        raise ValueError(f"unknown command {command!r}")
