"""The event type every scenario writes, and the eventsourcing twin of our actor.

``Deposited`` is a small typed event (a registered dataclass, so it travels as
``{"$type": "bench.Deposited", "$value": {...}}`` like events of real actors); the
eventsourcing ``Account`` aggregate records the same fields.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from actorpg_lab import event_type

__all__ = ["Deposited", "deposited", "es_application"]

NOTE = "monthly salary"


@event_type("bench.Deposited")
@dataclass(frozen=True)
class Deposited:
    account: str
    amount: int
    note: str


def deposited(i: int, account: str = "acc-1") -> Deposited:
    return Deposited(account, i % 1000 + 1, NOTE)


def fold(balance: int, event: Any) -> int:
    """The actor's pure ``on_event``: the balance of an account."""
    return balance + int(event.amount)


@functools.cache
def _es_classes() -> tuple[Any, Any]:
    """The eventsourcing classes, defined once (eventsourcing registers them by topic)."""
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Account(Aggregate):
        @event("Opened")
        def __init__(self, account: str) -> None:
            self.account = account
            self.balance = 0

        @event("Deposited")
        def deposit(self, amount: int, note: str) -> None:
            self.balance += amount

    class Bank(Application):  # type: ignore[type-arg]
        pass

    return Account, Bank


def es_application(env: dict[str, str]) -> Any:
    """An eventsourcing application with an ``Account`` aggregate (no snapshots, no cache)."""
    account_cls, bank_cls = _es_classes()
    app = bank_cls(env=env)
    app.Account = account_cls
    return app
