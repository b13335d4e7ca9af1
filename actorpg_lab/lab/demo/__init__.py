"""The demo data set: bank accounts (event-sourced) and durable-state counters.

``from actorpg_lab.lab.demo import Account, seed_bank``.  The domain (events, commands,
:class:`Account`) is in :mod:`.domain`, seeding in :mod:`.seed`, the broken streams of
notebook 02 in :mod:`.broken` and the demo application (``make demo``) in :mod:`.app`.
"""

from .app import run_demo_app
from .broken import BrokenStreams, break_demo_streams, break_stream, save_snapshot_ahead
from .domain import (
    Account,
    AccountFrozen,
    AccountOpened,
    AccountState,
    BuggyAccount,
    Deposit,
    Deposited,
    FixedAccount,
    GetBalance,
    Open,
    ReceiveTransfer,
    SendTransfer,
    TransferReceived,
    TransferSent,
    Withdraw,
    Withdrawn,
)
from .seed import account_ids, ensure_demo, race_appends, seed_bank, seed_counters

__all__ = [
    "Account",
    "AccountFrozen",
    "AccountOpened",
    "AccountState",
    "BrokenStreams",
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
    "account_ids",
    "break_demo_streams",
    "break_stream",
    "ensure_demo",
    "race_appends",
    "run_demo_app",
    "save_snapshot_ahead",
    "seed_bank",
    "seed_counters",
]
