"""Demo streams broken on purpose, the way production data breaks (notebook 02)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..._types import JournalEntry
from ..db.statements import bound

if TYPE_CHECKING:
    from .._workbench import Workbench

from .domain import AccountFrozen, AccountState

_log = logging.getLogger("actorpg_lab.lab.demo")

__all__ = ["BrokenStreams", "break_demo_streams", "break_stream", "save_snapshot_ahead"]
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


def break_stream(wb: Workbench, persistence_id: str, sequence_nr: int) -> None:
    """Delete ONE event row (and its tag rows) to simulate a lost write: a gap."""
    wb.run(_delete_row(wb, persistence_id, sequence_nr))


async def _delete_row(wb: Workbench, pid: str, seq: int) -> None:
    statement = bound("demo_delete_event", {"pid": pid, "seq": seq},
                      events=wb.tables.events, tags=wb.tables.tags)
    async with wb.pool.connection() as conn:
        await conn.execute(statement)


def save_snapshot_ahead(wb: Workbench, persistence_id: str, ahead: int = 10) -> int:
    """Save a snapshot ``ahead`` events beyond the journal head (a restored-backup
    mismatch); returns its sequence number."""
    head: int = wb.run(wb.journal.highest_seq(persistence_id))
    seq = head + ahead
    wb.run(wb.snapshot_store.save(persistence_id, seq, AccountState(owner="?", balance=0)))
    return seq
