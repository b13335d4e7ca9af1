"""Seeding the demo data set: bank accounts (event-sourced), durable-state counters
incremented by concurrent writers (real revision conflicts) and a raced stream.

Everything is written through the public API.

>>> wb = lab.connect()
>>> lab.demo.seed_bank(wb)            # or lab.demo.ensure_demo(wb) to seed only once
>>> lab.demo.seed_counters(wb)
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..._errors import DurableStateConcurrencyError, JournalConcurrencyError
from ..._types import JournalEntry

if TYPE_CHECKING:
    from .._workbench import Workbench

from .broken import break_demo_streams
from .domain import (
    Account,
    Deposit,
    Deposited,
    Open,
    ReceiveTransfer,
    SendTransfer,
    Withdraw,
)

_log = logging.getLogger("actorpg_lab.lab.demo")

__all__ = ["account_ids", "ensure_demo", "race_appends", "seed_bank", "seed_counters"]
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
