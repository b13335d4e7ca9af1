"""The demo data set (public face of :mod:`actorpg_lab.lab._demo`).

``from actorpg_lab.lab.demo import Account, seed_bank`` — see :mod:`._demo` for details.
"""

from ._demo import (
    Account,
    AccountOpened,
    AccountState,
    BuggyAccount,
    Deposit,
    Deposited,
    GetBalance,
    Open,
    ReceiveTransfer,
    SendTransfer,
    TransferReceived,
    TransferSent,
    Withdraw,
    Withdrawn,
    account_ids,
    break_stream,
    ensure_demo,
    race_appends,
    save_snapshot_ahead,
    seed_bank,
    seed_counters,
)

__all__ = [
    "Account",
    "AccountOpened",
    "AccountState",
    "BuggyAccount",
    "Deposit",
    "Deposited",
    "GetBalance",
    "Open",
    "ReceiveTransfer",
    "SendTransfer",
    "TransferReceived",
    "TransferSent",
    "Withdraw",
    "Withdrawn",
    "account_ids",
    "break_stream",
    "ensure_demo",
    "race_appends",
    "save_snapshot_ahead",
    "seed_bank",
    "seed_counters",
]
