"""Rebuild an event-sourced state from a snapshot store and a journal, checking integrity.

:func:`replay_state` is THE read path for recovery: the actor runtime recovers
with it and the notebook replayer steps through it (``on_step``), so what the
notebook shows is exactly what an actor would recover.

Algorithm (one snapshot query, one head query, then ``ceil(n / page_size)`` reads):

1. pick a snapshot (``snapshot="latest"``, ``"none"`` or a sequence-number bound);
2. read the journal head (``highest_seq``) *after* the snapshot, so a legitimate
   snapshot can never be ahead of it: a snapshot beyond the head is a
   :class:`~actorpg_lab.SnapshotIntegrityError`;
3. read ``snapshot_seq + 1 .. min(to_seq, head)`` in pages of ``page_size`` events and
   fold each event with ``on_event(state, event)``.  Every event must carry exactly
   the next sequence number: a gap (a missing row, or a deleted prefix that no
   snapshot covers), a duplicate or a descending slice raises
   :class:`~actorpg_lab.JournalIntegrityError` naming the stream and the
   expected/found sequence numbers — a broken stream is never folded.

Paging keeps large recoveries lean: only one page of decoded events is alive at a time.
Exceptions raised by ``on_event`` or ``on_step`` propagate unchanged.

Unreadable snapshots (``unreadable_snapshot``).  A snapshot's state may no longer decode
with the current code (its class changed and no upcaster covers it, or the row was
written by newer code: a :class:`~actorpg_lab.DecodeError` underneath).  Snapshots are a
cache of the events, so by default
(``"replay_events"``) the replay logs a warning, tries the older snapshots, and else
starts from ``initial_state`` at sequence 0 — the events rebuild the same state with the
current ``on_event``.  That is impossible when the events before the snapshot were
deleted (``delete_history``): then the :class:`~actorpg_lab.SnapshotIntegrityError` is
raised, naming the snapshot and the deleted range.  ``"fail"`` raises the error at once.
The result's ``skipped_snapshots`` lists the snapshots that could not be read.  A
snapshot row that is not even valid JSON is corruption, not a schema change: it always
fails the replay, so that it gets looked at.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from ._codec import DecodeError
from ._errors import JournalIntegrityError, SnapshotIntegrityError
from ._protocols import Journal, SnapshotStore
from ._types import PersistentEvent, Snapshot
from ._validation import check_non_negative_int, check_persistence_id

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "ReplayResult",
    "ReplayStep",
    "UnreadableSnapshot",
    "iter_replay_events",
    "replay_state",
    "select_snapshot",
]

_log = logging.getLogger("actorpg_lab.replay")

#: Events read per journal query during a replay.
DEFAULT_PAGE_SIZE = 10_000

SnapshotChoice = Literal["latest", "none"] | int
#: What a replay does when a snapshot cannot be decoded (see the module docstring).
UnreadableSnapshot = Literal["replay_events", "fail"]


@dataclass(frozen=True, slots=True)
class ReplayStep:
    """One fold step: ``state_after == on_event(state_before, event.event)``."""

    event: PersistentEvent
    state_before: Any
    state_after: Any


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """The outcome of :func:`replay_state`.

    ``last_sequence_nr`` is the sequence number the state reflects (the snapshot's
    when no event followed it, 0 for an empty stream); ``snapshot_sequence_nr`` is
    the snapshot the replay started from (``None`` when it started from the initial
    state); ``events_applied`` counts the events folded after it;
    ``skipped_snapshots`` the sequence numbers of snapshots that could not be decoded
    and were replaced by events (``unreadable_snapshot="replay_events"``).
    """

    state: Any
    last_sequence_nr: int
    snapshot_sequence_nr: int | None
    events_applied: int
    skipped_snapshots: tuple[int, ...] = ()


def _check_snapshot_choice(snapshot: object) -> SnapshotChoice:
    if snapshot in ("latest", "none"):
        return snapshot
    if isinstance(snapshot, int) and not isinstance(snapshot, bool):
        check_non_negative_int("snapshot", snapshot)
        return snapshot
    raise (TypeError if not isinstance(snapshot, str) else ValueError)(
        f"snapshot must be 'latest', 'none' or a non-negative int sequence number, "
        f"got {snapshot!r}"
    )


async def select_snapshot(
    snapshot_store: SnapshotStore | None,
    persistence_id: str,
    to_seq: int | None = None,
    snapshot: SnapshotChoice = "latest",
) -> Snapshot | None:
    """The snapshot a replay starts from (see :func:`replay_state`), or ``None``."""
    choice = _check_snapshot_choice(snapshot)
    if snapshot_store is None or choice == "none":
        return None
    bound: int | None = to_seq
    if isinstance(choice, int):
        bound = choice if to_seq is None else min(choice, to_seq)
    if bound is None:
        return await snapshot_store.load_latest(persistence_id)
    return await snapshot_store.load_before(persistence_id, bound + 1)


async def _readable_snapshot(
    snapshot_store: SnapshotStore | None,
    pid: str,
    to_seq: int | None,
    snapshot: SnapshotChoice,
    policy: UnreadableSnapshot,
) -> tuple[Snapshot | None, list[SnapshotIntegrityError]]:
    """The snapshot to start from, and the unreadable ones skipped on the way."""
    skipped: list[SnapshotIntegrityError] = []
    try:
        return await select_snapshot(snapshot_store, pid, to_seq, snapshot), skipped
    except SnapshotIntegrityError as exc:  # the store could not decode the state
        if policy == "fail" or snapshot_store is None or not _schema_mismatch(exc):
            raise
        skipped.append(exc)
    while True:
        bad = skipped[-1].sequence_nr
        _log.warning("snapshot of %r at sequence_nr %s cannot be read with the current code; "
                     "recovering from the events instead (%s)", pid, bad, skipped[-1])
        if bad is None or bad <= 1:
            return None, skipped
        try:
            return await snapshot_store.load_before(pid, bad), skipped
        except SnapshotIntegrityError as exc:
            if not _schema_mismatch(exc):
                raise
            if exc.sequence_nr is not None and exc.sequence_nr >= bad:  # no progress
                return None, [*skipped, exc]
            skipped.append(exc)


def _schema_mismatch(exc: SnapshotIntegrityError) -> bool:
    """The snapshot is well-formed but its state does not decode with the current code."""
    return isinstance(exc.__cause__, DecodeError)


def _integrity_error(pid: str, expected: int, found: int | None) -> JournalIntegrityError:
    if found is None:
        detail = (
            f"expected sequence_nr {expected}, found no event (missing or deleted rows "
            f"not covered by a snapshot)"
        )
    elif found > expected:
        detail = f"gap: expected sequence_nr {expected}, found {found}"
    elif found == expected - 1:
        detail = f"duplicate: expected sequence_nr {expected}, found {found} again"
    else:
        detail = f"out of order: expected sequence_nr {expected}, found {found}"
    return JournalIntegrityError(
        f"journal stream {pid!r} is not contiguous ({detail}); refusing to fold it",
        persistence_id=pid,
        sequence_nr=expected,
    )


async def iter_replay_events(
    journal: Journal,
    persistence_id: str,
    from_seq: int,
    to_seq: int,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> AsyncIterator[list[PersistentEvent]]:
    """Yield checked pages of the events ``from_seq .. to_seq`` (both inclusive).

    Every event must carry exactly the next sequence number and every event up to
    ``to_seq`` must be present, else :class:`JournalIntegrityError`.
    """
    expected = from_seq
    while expected <= to_seq:
        hi = min(to_seq, expected + page_size - 1)
        page = await journal.read(persistence_id, expected, hi)
        for ev in page:
            if ev.sequence_nr != expected:
                raise _integrity_error(persistence_id, expected, ev.sequence_nr)
            expected += 1
        if expected <= hi:
            # The page ended early: rows in expected..hi are missing.
            raise _integrity_error(persistence_id, expected, None)
        yield page


async def replay_state(
    journal: Journal,
    snapshot_store: SnapshotStore | None,
    persistence_id: str,
    initial_state: Any,
    on_event: Callable[[Any, Any], Any],
    to_seq: int | None = None,
    *,
    snapshot: SnapshotChoice | Snapshot = "latest",
    on_step: Callable[[ReplayStep], None] | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    head: int | None = None,
    unreadable_snapshot: UnreadableSnapshot = "replay_events",
) -> ReplayResult:
    """Rebuild the state of ``persistence_id`` up to ``to_seq`` (default: the head).

    ``snapshot="latest"`` starts from the newest snapshot (at or below ``to_seq``),
    ``"none"`` from ``initial_state`` at sequence 0, an ``int`` N from the newest
    snapshot with ``sequence_nr <= N``.  The events after it are read in pages of
    ``page_size`` and folded with ``on_event(state, event)``; ``on_step`` (when given)
    sees every :class:`ReplayStep`.  ``to_seq`` beyond the head replays to the head.

    A caller that already loaded them passes the :class:`Snapshot` itself as
    ``snapshot`` and the journal ``head`` (read after the snapshot), so neither is
    loaded again.

    A snapshot whose state cannot be decoded is replaced by the events
    (``unreadable_snapshot="replay_events"``, the default: a warning is logged) or
    raises (``"fail"``); see the module docstring.

    Raises :class:`JournalIntegrityError` (gap, duplicate, out-of-order, missing or
    undecodable events) or :class:`SnapshotIntegrityError` (snapshot beyond the journal
    head, or unreadable and not replaceable) instead of folding a broken stream.
    Exceptions from ``on_event`` propagate.
    """
    pid = check_persistence_id(persistence_id)
    if to_seq is not None:
        check_non_negative_int("to_seq", to_seq)
    check_non_negative_int("page_size", page_size)
    if page_size == 0:
        raise ValueError("page_size must be positive: 0")
    if not callable(on_event):
        raise TypeError(f"on_event must be callable, got {on_event!r}")
    if on_step is not None and not callable(on_step):
        raise TypeError(f"on_step must be callable or None, got {on_step!r}")
    if unreadable_snapshot not in get_args(UnreadableSnapshot):
        raise ValueError(f"unreadable_snapshot must be 'replay_events' or 'fail', got "
                         f"{unreadable_snapshot!r}")

    skipped: list[SnapshotIntegrityError] = []
    if isinstance(snapshot, Snapshot):
        if snapshot.persistence_id != pid:
            raise ValueError(f"snapshot of {snapshot.persistence_id!r} passed to replay {pid!r}")
        snap: Snapshot | None = snapshot
    else:
        snap, skipped = await _readable_snapshot(snapshot_store, pid, to_seq, snapshot,
                                                 unreadable_snapshot)
    if head is None:
        head = await journal.highest_seq(pid)  # read AFTER the snapshot: head >= snap.seq
    else:
        check_non_negative_int("head", head)
    if snap is not None and snap.sequence_nr > head:
        raise SnapshotIntegrityError(
            f"snapshot of {pid!r} at sequence_nr {snap.sequence_nr} is ahead of the journal "
            f"head {head}",
            persistence_id=pid,
            sequence_nr=snap.sequence_nr,
        )
    state = snap.state if snap is not None else initial_state
    start = snap.sequence_nr if snap is not None else 0
    target = head if to_seq is None else min(to_seq, head)
    last = start
    applied = 0
    pages = iter_replay_events(journal, pid, start + 1, target, page_size=page_size)
    if skipped:
        pages = _replacing(pages, skipped, start)
    async for page in pages:
        if on_step is None:
            for ev in page:
                state = on_event(state, ev.event)
        else:
            for ev in page:
                before = state
                state = on_event(state, ev.event)
                on_step(ReplayStep(ev, before, state))
        applied += len(page)
        last = page[-1].sequence_nr
    _log.debug(
        "replayed %r: snapshot=%s, %d events, last_sequence_nr=%d",
        pid, None if snap is None else snap.sequence_nr, applied, last,
    )
    return ReplayResult(
        state=state,
        last_sequence_nr=last,
        snapshot_sequence_nr=None if snap is None else snap.sequence_nr,
        events_applied=applied,
        skipped_snapshots=tuple(e.sequence_nr for e in skipped if e.sequence_nr is not None),
    )


async def _replacing(
    pages: AsyncIterator[list[PersistentEvent]], skipped: list[SnapshotIntegrityError],
    start: int,
) -> AsyncIterator[list[PersistentEvent]]:
    """``pages``; a gap right at ``start + 1`` (events deleted under the skipped
    snapshot) means the events cannot replace it: the snapshot's error, explained."""
    first = True
    try:
        async for page in pages:
            first = False
            yield page
    except JournalIntegrityError as exc:
        if not first or exc.sequence_nr != start + 1:
            raise
        bad = skipped[0]
        raise SnapshotIntegrityError(
            f"{bad} -- and the events cannot replace it: the journal of "
            f"{bad.persistence_id!r} has no event {start + 1} (deleted history); register an "
            f"upcaster for the snapshot state, or recover with the code that wrote it",
            persistence_id=bad.persistence_id, sequence_nr=bad.sequence_nr,
        ) from bad
