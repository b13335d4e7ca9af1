"""The demo bank's domain: events, commands and the :class:`Account` actor (plus
:class:`FixedAccount`, which also folds :class:`AccountFrozen`, and :class:`BuggyAccount`)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..._codec import event_type
from ...actors import PersistentActor, SnapshotPolicy, every_n_events

if TYPE_CHECKING:
    pass


__all__ = [
    "Account",
    "AccountFrozen",
    "AccountOpened",
    "AccountState",
    "BuggyAccount",
    "Deposit",
    "Deposited",
    "FixedAccount",
    "GetBalance",
    "Open",
    "ReceiveTransfer",
    "SendTransfer",
    "TransferReceived",
    "TransferSent",
    "Withdraw",
    "Withdrawn",
]

_log = logging.getLogger("actorpg_lab.lab.demo")

#: Amounts are integer cents; this many cents or more is tagged ``large``.
LARGE_AMOUNT = 50_000


# -- events (stored) ----------------------------------------------------------------------
@event_type("bank.AccountOpened")
@dataclass(frozen=True)
class AccountOpened:
    owner: str
    currency: str = "EUR"


@event_type("bank.Deposited")
@dataclass(frozen=True)
class Deposited:
    amount: int


@event_type("bank.Withdrawn")
@dataclass(frozen=True)
class Withdrawn:
    amount: int


@event_type("bank.TransferSent")
@dataclass(frozen=True)
class TransferSent:
    transfer_id: str
    to_account: str
    amount: int


@event_type("bank.TransferReceived")
@dataclass(frozen=True)
class TransferReceived:
    transfer_id: str
    from_account: str
    amount: int


@event_type("bank.AccountFrozen")
@dataclass(frozen=True)
class AccountFrozen:
    """Written by the compliance service (a newer deployment than the :class:`Account`
    code the demo runs, which has no handler for it: the demo's unfoldable event)."""

    reason: str
    case_id: str


@event_type("bank.AccountState")
@dataclass(frozen=True)
class AccountState:
    """The state of an :class:`Account` (snapshots store it through the codec)."""

    owner: str | None = None
    currency: str = "EUR"
    balance: int = 0
    transactions: int = 0
    open: bool = False


# -- commands (not stored) ----------------------------------------------------------------
@dataclass(frozen=True)
class Open:
    owner: str
    currency: str = "EUR"


@dataclass(frozen=True)
class Deposit:
    amount: int


@dataclass(frozen=True)
class Withdraw:
    amount: int


@dataclass(frozen=True)
class SendTransfer:
    transfer_id: str
    to_account: str
    amount: int


@dataclass(frozen=True)
class ReceiveTransfer:
    transfer_id: str
    from_account: str
    amount: int


@dataclass(frozen=True)
class GetBalance:
    pass


class Account(PersistentActor):
    """A bank account: opened once, then deposits, withdrawals and transfers (in cents)."""

    #: Save a snapshot every this many events.
    snapshot_every = 5

    def initial_state(self) -> AccountState:
        return AccountState()

    def on_event(self, state: AccountState, event: Any) -> AccountState:
        if isinstance(event, AccountOpened):
            return dataclasses.replace(state, owner=event.owner, currency=event.currency,
                                       open=True)
        if isinstance(event, Deposited):
            return dataclasses.replace(state, balance=state.balance + event.amount,
                                       transactions=state.transactions + 1)
        if isinstance(event, Withdrawn):
            return dataclasses.replace(state, balance=state.balance - event.amount,
                                       transactions=state.transactions + 1)
        if isinstance(event, TransferSent):
            return dataclasses.replace(state, balance=state.balance - event.amount,
                                       transactions=state.transactions + 1)
        if isinstance(event, TransferReceived):
            return dataclasses.replace(state, balance=state.balance + event.amount,
                                       transactions=state.transactions + 1)
        raise TypeError(f"{self.persistence_id}: unknown event {event!r}")

    async def on_command(self, state: AccountState, command: Any) -> Any:
        if isinstance(command, GetBalance):
            return state.balance
        if isinstance(command, Open):
            if state.open:
                raise ValueError(f"{self.persistence_id} is already open")
            await self.persist(AccountOpened(command.owner, command.currency))
            return self.state
        if not state.open:
            raise ValueError(f"{self.persistence_id} is not open: {command!r}")
        if isinstance(command, Deposit):
            _check_amount(command.amount)
            await self.persist(Deposited(command.amount))
        elif isinstance(command, Withdraw):
            _check_amount(command.amount)
            if command.amount > state.balance:
                raise ValueError(f"insufficient funds on {self.persistence_id}: "
                                 f"{state.balance} < {command.amount}")
            await self.persist(Withdrawn(command.amount))
        elif isinstance(command, SendTransfer):
            _check_amount(command.amount)
            if command.amount > state.balance:
                raise ValueError(f"insufficient funds on {self.persistence_id}: "
                                 f"{state.balance} < {command.amount}")
            await self.persist(TransferSent(command.transfer_id, command.to_account,
                                            command.amount))
        elif isinstance(command, ReceiveTransfer):
            _check_amount(command.amount)
            await self.persist(TransferReceived(command.transfer_id, command.from_account,
                                                command.amount))
        else:
            raise TypeError(f"unknown command {command!r}")
        return self.state

    def snapshot_policy(self) -> SnapshotPolicy | None:
        return every_n_events(self.snapshot_every) if self.snapshot_every else None

    def tags_for(self, event: Any) -> Iterable[str]:
        kind = {
            AccountOpened: "opened", Deposited: "deposit", Withdrawn: "withdrawal",
            TransferSent: "transfer", TransferReceived: "transfer",
        }.get(type(event), "other")
        tags = ["account", kind]
        if getattr(event, "amount", 0) >= LARGE_AMOUNT:
            tags.append("large")
        return tags


class FixedAccount(Account):
    """The fix for the demo's unfoldable event: an :class:`Account` that also handles
    :class:`AccountFrozen` (a frozen account is no longer ``open``)."""

    def on_event(self, state: AccountState, event: Any) -> AccountState:
        if isinstance(event, AccountFrozen):
            return dataclasses.replace(state, open=False)
        return super().on_event(state, event)


class BuggyAccount(Account):
    """An :class:`Account` whose new ``on_event`` forgot incoming transfers (for debugging)."""

    def on_event(self, state: AccountState, event: Any) -> AccountState:
        if isinstance(event, TransferReceived):
            raise KeyError(f"no handler for {type(event).__name__}")
        return super().on_event(state, event)


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"amount must be a positive int (cents), got {amount!r}")
