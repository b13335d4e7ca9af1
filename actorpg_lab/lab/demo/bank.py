"""The demo data set: bank accounts (event-sourced) and durable-state counters.

Everything is written through the public API: :class:`Account` is a
:class:`~actorpg_lab.PersistentActor` (deposits, withdrawals and transfers as
tagged dataclass events, a snapshot every 5 events that the snapshot store prunes
to ``keep_n``); the counters are incremented by concurrent writers doing
load → compare-and-set upsert → retry, which produces real revision conflicts.

>>> wb = lab.connect()
>>> lab.demo.seed_bank(wb)            # or lab.demo.ensure_demo(wb) to seed only once
>>> lab.demo.seed_counters(wb)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..._codec import event_type
from ..._errors import DurableStateConcurrencyError, JournalConcurrencyError
from ..._types import JournalEntry
from ...actors import PersistentActor, SnapshotPolicy, every_n_events
from ..db.statements import composed

if TYPE_CHECKING:
    from .._workbench import Workbench

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


# -- seeding ------------------------------------------------------------------------------
_OWNERS = ("Ada", "Brian", "Chen", "Dana", "Emeka", "Fatima", "Grace", "Hiro", "Ines", "Jonas",
           "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara")


def account_ids(accounts: int, prefix: str = "account-") -> list[str]:
    """The persistence ids :func:`seed_bank` uses."""
    return [f"{prefix}{i:02d}" for i in range(1, accounts + 1)]


def seed_bank(wb: Workbench, *, accounts: int = 12, operations: int = 300, seed: int = 42,
              prefix: str = "account-", snapshot_every: int = 5,
              log_history: bool = False) -> dict[str, int]:
    """Open ``accounts`` accounts and run ``operations`` random deposits, withdrawals and
    transfers through :class:`Account` actors; returns counts (events, rejected, ...).
    ``log_history=True`` saves the snapshots through a store with ``log_pruning=True``
    (``wb.pruned_frame()`` then shows what keep_n pruned, from any process)."""
    return wb.run(_seed_bank(wb, accounts, operations, seed, prefix, snapshot_every,
                             log_history))


def _writer_name(name: str) -> str:
    from ...postgres._write_history import default_writer

    return f"{default_writer()}/{name}"


async def _seed_bank(wb: Workbench, accounts: int, operations: int, seed: int, prefix: str,
                     snapshot_every: int, log_history: bool = False) -> dict[str, int]:
    from ...actors import ActorSystem
    from ...postgres import PostgresSnapshotStore

    snapshot_store: Any = wb.snapshot_store
    if log_history:
        snapshot_store = PostgresSnapshotStore(
            pool=wb.pool, snapshots_table=wb.tables.snapshots, keep_n=wb.snapshot_store.keep_n,
            log_pruning=True, writer=_writer_name("bank"))
    rng = random.Random(seed)
    ids = account_ids(accounts, prefix)
    system = ActorSystem("lab-demo")
    counts = {"accounts": accounts, "deposits": 0, "withdrawals": 0, "transfers": 0,
              "rejected": 0}
    try:
        refs = {}
        for i, pid in enumerate(ids):
            actor = Account(pid)
            actor.snapshot_every = snapshot_every
            actor.journal = wb.journal
            actor.snapshot_store = snapshot_store
            refs[pid] = system.spawn(actor)
            await refs[pid].ask(Open(_OWNERS[i % len(_OWNERS)]))
            await refs[pid].ask(Deposit(rng.randrange(10_000, 100_000, 100)))
            counts["deposits"] += 1
        for n in range(operations):
            pid = rng.choice(ids)
            roll = rng.random()
            try:
                if roll < 0.45:
                    await refs[pid].ask(Deposit(rng.randrange(500, 80_000, 50)))
                    counts["deposits"] += 1
                elif roll < 0.75:
                    await refs[pid].ask(Withdraw(rng.randrange(500, 40_000, 50)))
                    counts["withdrawals"] += 1
                else:
                    other = rng.choice([p for p in ids if p != pid])
                    amount = rng.randrange(500, 60_000, 50)
                    transfer_id = f"t{seed}-{n}"
                    await refs[pid].ask(SendTransfer(transfer_id, other, amount))
                    await refs[other].ask(ReceiveTransfer(transfer_id, pid, amount))
                    counts["transfers"] += 1
            except ValueError:
                counts["rejected"] += 1
    finally:
        await system.terminate()
        if snapshot_store is not wb.snapshot_store:
            await snapshot_store.close()
    return counts


def seed_counters(wb: Workbench, *, keys: Iterable[str] = ("counter-a", "counter-b"),
                  writers: int = 4, increments: int = 10, seed: int = 7,
                  max_delay: float = 0.004, log_history: bool = False) -> dict[str, int]:
    """Increment durable-state counters from ``writers`` concurrent tasks per key (named
    ``writer-<n>``): load → pause → upsert(expected revision) → retry on conflict.

    Every increment lands exactly once, so each counter ends at ``writers * increments``;
    returns ``{"increments": ..., "conflicts": ...}``.  ``log_history=True`` gives each
    writer a store with ``log_conflicts=True`` named ``<host>:<pid>/writer-<n>``
    (``wb.conflicts_frame()`` then shows every rejected upsert, from any process)."""
    return wb.run(_seed_counters(wb, list(keys), writers, increments, seed, max_delay,
                                 log_history))


async def _seed_counters(wb: Workbench, keys: list[str], writers: int, increments: int,
                         seed: int, max_delay: float, log_history: bool = False
                         ) -> dict[str, int]:
    from ...postgres import PostgresDurableStateStore

    rng = random.Random(seed)
    conflicts = 0

    def store_for(name: str) -> Any:
        if not log_history:
            return wb.durable_state_store
        return PostgresDurableStateStore(pool=wb.pool, table=wb.tables.durable_state,
                                         log_conflicts=True, writer=_writer_name(name))

    async def writer(name: str, key: str, delays: list[float]) -> None:
        nonlocal conflicts
        store = store_for(name)
        for i in range(increments):
            while True:
                record = await store.load(key)
                revision = record.revision if record is not None else 0
                value = record.state["value"] if record is not None else 0
                await asyncio.sleep(delays[i])
                try:
                    await store.upsert(key, revision, {"value": value + 1, "last_writer": name})
                    break
                except DurableStateConcurrencyError:
                    conflicts += 1

    tasks = []
    for key in keys:
        for w in range(1, writers + 1):
            delays = [rng.uniform(0, max_delay) for _ in range(increments)]
            tasks.append(asyncio.create_task(writer(f"writer-{w}", key, delays),
                                             name=f"writer-{w}"))
    await asyncio.gather(*tasks)
    return {"increments": len(keys) * writers * increments, "conflicts": conflicts}


def race_appends(wb: Workbench, persistence_id: str, *, writers: int = 3, appends: int = 5,
                 seed: int = 11, max_delay: float = 0.004,
                 log_history: bool = False) -> dict[str, int]:
    """``writers`` tasks each append ``appends`` events to ONE stream, reading the head
    first and retrying on :class:`~actorpg_lab.JournalConcurrencyError`.
    ``log_history=True`` gives each a journal with ``log_conflicts=True``."""
    return wb.run(_race_appends(wb, persistence_id, writers, appends, seed, max_delay,
                                log_history))


async def _race_appends(wb: Workbench, pid: str, writers: int, appends: int, seed: int,
                        max_delay: float, log_history: bool = False) -> dict[str, int]:
    from ...postgres import PostgresJournal

    rng = random.Random(seed)
    conflicts = 0
    opened: list[Any] = []

    def journal_for(name: str) -> Any:
        if not log_history:
            return wb.journal
        journal = PostgresJournal(pool=wb.pool, events_table=wb.tables.events,
                                  tags_table=wb.tables.tags, log_conflicts=True,
                                  writer=_writer_name(name))
        opened.append(journal)
        return journal

    async def writer(name: str, delays: list[float]) -> None:
        nonlocal conflicts
        journal = journal_for(name)
        for i in range(appends):
            while True:
                head = await journal.highest_seq(pid)
                await asyncio.sleep(delays[i])
                try:
                    await journal.append(pid, [JournalEntry(Deposited(100 * (i + 1)),
                                                            ("race", name))], head)
                    break
                except JournalConcurrencyError:
                    conflicts += 1

    tasks = [asyncio.create_task(writer(f"appender-{w}",
                                        [rng.uniform(0, max_delay) for _ in range(appends)]),
                                 name=f"appender-{w}")
             for w in range(1, writers + 1)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for journal in opened:
            await journal.close()
    return {"appends": writers * appends, "conflicts": conflicts}


def ensure_demo(wb: Workbench, *, broken: bool = True, **options: Any) -> dict[str, Any]:
    """Seed the bank, the counters and a raced stream (``race-1``) unless the bank is
    already there (idempotent); the writers log their conflicts and the snapshot store
    its pruning (``log_history=True``: ``wb.conflicts_frame()`` / ``wb.pruned_frame()``).

    With ``broken=True`` (what ``make lab`` seeds) three accounts are then broken the
    way production data breaks (see :func:`break_demo_streams`); ``options`` go to
    :func:`seed_bank`."""
    first = account_ids(1, options.get("prefix", "account-"))[0]
    if wb.run(wb.journal.highest_seq(first)) > 0:
        return {"seeded": False}
    options.setdefault("log_history", True)
    bank = seed_bank(wb, **options)
    counters = seed_counters(wb, log_history=options["log_history"])
    race = race_appends(wb, "race-1", log_history=options["log_history"])
    result: dict[str, Any] = {"seeded": True, **bank, "counter_conflicts": counters["conflicts"],
                              "append_conflicts": race["conflicts"]}
    if broken:
        ids = account_ids(options.get("accounts", 12), options.get("prefix", "account-"))
        result["broken"] = break_demo_streams(wb, ids).as_dict()
    return result


@dataclass(frozen=True)
class BrokenStreams:
    """Which demo accounts :func:`break_demo_streams` broke, and where."""

    #: (persistence id, the sequence number of the lost event)
    gap: tuple[str, int]
    #: (persistence id, the sequence number of the snapshot ahead of the journal)
    snapshot_ahead: tuple[str, int]
    #: (persistence id, the sequence number of the event ``Account`` cannot fold)
    on_event_failed: tuple[str, int]

    def as_dict(self) -> dict[str, tuple[str, int]]:
        return dataclasses.asdict(self)


def break_demo_streams(wb: Workbench, persistence_ids: Iterable[str]) -> BrokenStreams:
    """Break three of ``persistence_ids`` (accounts seeded by :func:`seed_bank`) the way
    production data breaks; each one makes the account's recovery fail:

    * a lost event (a gap): a failover promoted a replica that had missed one commit —
      one row after the latest snapshot is gone;
    * a snapshot ahead of the journal: the snapshot store was restored from a newer
      backup than the journal — its latest snapshot is 3 events beyond the head;
    * an event the current code cannot fold: the compliance service (a newer deployment)
      appended :class:`AccountFrozen`, which :class:`Account` has no handler for
      (:class:`FixedAccount` has).
    """
    return wb.run(_break_demo_streams(wb, list(persistence_ids)))


async def _break_demo_streams(wb: Workbench, ids: list[str]) -> BrokenStreams:
    if len(ids) < 3:
        raise ValueError(f"break_demo_streams needs at least 3 accounts, got {ids!r}")
    journal, snapshots = wb.journal, wb.snapshot_store
    facts: dict[str, tuple[int, int]] = {}
    for pid in ids:
        head = await journal.highest_seq(pid)
        latest = await snapshots.load_latest(pid)
        facts[pid] = (head, latest.sequence_nr if latest is not None else 0)
    # Start in the middle of the list so the first accounts (used in examples) stay healthy.
    order = ids[len(ids) // 2:] + ids[:len(ids) // 2]
    gap_pid = next((p for p in order if facts[p][0] - facts[p][1] >= 3),
                   next((p for p in order if facts[p][0] - facts[p][1] >= 2), None))
    if gap_pid is None:
        raise ValueError(f"no account of {ids!r} has 2+ events after its latest snapshot")
    rest = [p for p in order if p != gap_pid]
    ahead_pid, frozen_pid = rest[0], rest[1]
    gap_head, gap_snapshot = facts[gap_pid]
    lost = gap_snapshot + 2 if gap_head - gap_snapshot >= 3 else gap_snapshot + 1
    await _delete_row(wb, gap_pid, lost)
    _log.info("demo: lost event %d of %s", lost, gap_pid)
    ahead_seq = facts[ahead_pid][0] + 3
    restored = await snapshots.load_latest(ahead_pid)
    state = restored.state if restored is not None else AccountState()
    if isinstance(state, AccountState):
        state = dataclasses.replace(state, balance=state.balance + 12_500,
                                    transactions=state.transactions + 3)
    await snapshots.save(ahead_pid, ahead_seq, state)
    _log.info("demo: snapshot of %s at %d, ahead of the journal", ahead_pid, ahead_seq)
    frozen_head = facts[frozen_pid][0]
    await journal.append(frozen_pid, [JournalEntry(AccountFrozen("sanctions screening hit",
                                                                 "case-2026-0042"),
                                                   ("account", "compliance"))], frozen_head)
    _log.info("demo: %s frozen at %d (Account has no handler)", frozen_pid, frozen_head + 1)
    return BrokenStreams(gap=(gap_pid, lost), snapshot_ahead=(ahead_pid, ahead_seq),
                         on_event_failed=(frozen_pid, frozen_head + 1))


def run_demo_app(wb: Workbench, *, timeout: float = 300.0) -> str:
    """Run the demo application — the main command ``make demo`` runs (``python -m
    actorpg_lab.lab --no-browser --summary``) — in ANOTHER process against this
    workbench's database and schema; returns what it printed.

    It seeds the demo data once (:func:`ensure_demo`) with its writers logging their
    conflicts and pruning, so :meth:`Workbench.conflicts_frame` and
    :meth:`Workbench.pruned_frame` then show history another process wrote.  The URL
    travels in the environment (``ACTORPG_DSN``), never in the process arguments."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "ACTORPG_DSN": wb.url}
    done = subprocess.run([sys.executable, "-m", "actorpg_lab.lab", "--no-browser", "--summary"],
                          env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the demo application failed (exit {done.returncode}): "
                           f"{done.stderr.strip()[-1500:]}")
    return done.stdout


# -- breaking things on purpose (notebook 02) ---------------------------------------------
def break_stream(wb: Workbench, persistence_id: str, sequence_nr: int) -> None:
    """Delete ONE event row (and its tag rows) to simulate a lost write: a gap."""
    wb.run(_delete_row(wb, persistence_id, sequence_nr))


async def _delete_row(wb: Workbench, pid: str, seq: int) -> None:
    statement = composed("demo_delete_event", events=wb.tables.events, tags=wb.tables.tags)
    async with wb.pool.connection() as conn:
        await conn.execute(statement, {"pid": pid, "seq": seq})


def save_snapshot_ahead(wb: Workbench, persistence_id: str, ahead: int = 10) -> int:
    """Save a snapshot ``ahead`` events beyond the journal head (a restored-backup
    mismatch); returns its sequence number."""
    head: int = wb.run(wb.journal.highest_seq(persistence_id))
    seq = head + ahead
    wb.run(wb.snapshot_store.save(persistence_id, seq, AccountState(owner="?", balance=0)))
    return seq
