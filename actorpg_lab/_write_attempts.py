"""Observe compare-and-set writes (journal appends, durable-state upserts) as they happen.

Stores report every append/upsert attempt here: who expected which sequence number
or revision, what was found, and the outcome.  The workbench's conflict recorder
subscribes with :func:`add_write_listener`; with no listener the cost is one
``if`` per write.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "SnapshotActivity",
    "WriteAttempt",
    "add_snapshot_listener",
    "add_write_listener",
    "report_snapshot_activity",
    "report_write_attempt",
]

_log = logging.getLogger("actorpg_lab.write_attempts")

#: "duplicate": a keyed retry answered with the events already stored.
Outcome = Literal["ok", "conflict", "error", "duplicate"]
StoreKind = Literal["journal", "durable_state"]
ConflictKind = Literal["head", "condition"]


@dataclass(frozen=True, slots=True)
class WriteAttempt:
    """One compare-and-set write attempt and its outcome.

    ``expected`` is the head (journal) or revision (durable state) the writer
    expected; ``actual`` what the store held (read back on conflict); ``written``
    the new head/revision on success.

    ``kind`` says why a conflict was rejected: ``"head"`` (the head / revision had
    moved) or ``"condition"`` (a conditional append found an event matching its
    query that the decision had not seen: ``conflict`` is that event's ``(position,
    persistence_id, sequence_nr)`` and ``query`` the condition's query as text).
    """

    store: StoreKind
    persistence_id: str
    writer: str
    expected: int
    actual: int
    written: int | None
    outcome: Outcome
    started: float
    finished: float
    events: int = 1
    kind: ConflictKind = "head"
    conflict: tuple[int, str, int] | None = None
    query: str | None = None


_listeners: list[Callable[[WriteAttempt], None]] = []


def add_write_listener(listener: Callable[[WriteAttempt], None]) -> Callable[[], None]:
    """Call ``listener`` for every write attempt; returns a function that unsubscribes."""
    _listeners.append(listener)

    def remove() -> None:
        if listener in _listeners:
            _listeners.remove(listener)

    return remove


def has_listeners() -> bool:
    return bool(_listeners)


def current_writer() -> str:
    """``"<os pid>/<asyncio task name>"`` of the caller."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    return f"{os.getpid()}/{task.get_name() if task is not None else 'main'}"


def report_write_attempt(
    store: StoreKind,
    persistence_id: str,
    *,
    expected: int,
    actual: int,
    written: int | None,
    outcome: Outcome,
    started: float,
    events: int = 1,
    kind: ConflictKind = "head",
    conflict: tuple[int, str, int] | None = None,
    query: str | None = None,
) -> None:
    """Deliver a write attempt to every listener (a failing listener is logged, not raised)."""
    if not _listeners:
        return
    attempt = WriteAttempt(
        store=store,
        persistence_id=persistence_id,
        writer=current_writer(),
        expected=expected,
        actual=actual,
        written=written,
        outcome=outcome,
        started=started,
        finished=time.time(),
        events=events,
        kind=kind,
        conflict=conflict,
        query=query,
    )
    for listener in list(_listeners):
        try:
            listener(attempt)
        except Exception:
            _log.exception("write listener %r failed", listener)


@dataclass(frozen=True, slots=True)
class SnapshotActivity:
    """A snapshot save and the snapshots that ``keep_n`` pruned right after it."""

    persistence_id: str
    saved_seq: int
    pruned_seqs: tuple[int, ...]
    keep_n: int
    at: float
    prune_failed: bool = False


_snapshot_listeners: list[Callable[[SnapshotActivity], None]] = []


def add_snapshot_listener(listener: Callable[[SnapshotActivity], None]) -> Callable[[], None]:
    """Call ``listener`` after every snapshot save (with what was pruned); returns unsubscribe."""
    _snapshot_listeners.append(listener)

    def remove() -> None:
        if listener in _snapshot_listeners:
            _snapshot_listeners.remove(listener)

    return remove


def report_snapshot_activity(
    persistence_id: str, saved_seq: int, pruned_seqs: tuple[int, ...], keep_n: int,
    prune_failed: bool = False,
) -> None:
    """Deliver a snapshot save/prune to every snapshot listener."""
    if not _snapshot_listeners:
        return
    activity = SnapshotActivity(persistence_id, saved_seq, pruned_seqs, keep_n, time.time(),
                                prune_failed)
    for listener in list(_snapshot_listeners):
        try:
            listener(activity)
        except Exception:
            _log.exception("snapshot listener %r failed", listener)
