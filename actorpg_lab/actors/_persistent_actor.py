"""Event-sourced actors: :class:`PersistentActor`, snapshot policies (:func:`every_n_events`).

Life cycle of a :class:`PersistentActor`:

1. **Recovery** (before the first command) is :func:`~actorpg_lab.replay_state`: the
   latest snapshot, then the events after it, each folded with ``on_event``.  An
   integrity problem, a storage error or an exception in ``on_event`` stops the actor:
   ``on_recovery_failure(exc)`` is called and every ``ask`` raises
   :class:`~actorpg_lab.RecoveryFailedError` (``__cause__`` = the original error).
   Success calls ``on_recovery_complete(state)``.
2. **Commands** arrive one at a time: ``on_command(state, command)`` decides and calls
   ``await self.persist(event)`` / ``await self.persist_all(events)``.  Persisting

   * folds the new events with ``on_event`` first (so a bug there fails the command
     before anything is written),
   * appends them with ``expected_seq = last_sequence_nr`` and the tags from
     ``tags_for(event)``,
   * applies the stored events (decoded, exactly as recovery will see them),
   * asks ``snapshot_policy()`` whether to save a snapshot (a failed snapshot is
     logged, never fails the command).

   A :class:`~actorpg_lab.JournalConcurrencyError` (someone else wrote this stream)
   re-syncs the actor from the journal and is then raised to the asker, so the next
   command runs on the real head.  Any other storage error marks the actor for a
   re-sync before its next command (the append may or may not have committed).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .._errors import JournalConcurrencyError, PersistenceError
from .._protocols import Journal, SnapshotStore
from .._replay import DEFAULT_PAGE_SIZE, ReplayResult, UnreadableSnapshot, replay_state
from .._types import JournalEntry, PersistentEvent, Snapshot
from .._validation import check_non_negative_int
from ._base import PersistenceActorBase
from ._system import ActorSystem

__all__ = [
    "EveryNEvents",
    "PersistentActor",
    "SnapshotPolicy",
    "every_n_events",
]

_log = logging.getLogger("actorpg_lab.actor")


@dataclass(frozen=True, slots=True)
class SnapshotPolicy:
    """Decides after each successful persist whether to save a snapshot (base: never)."""

    def should_snapshot(self, previous_seq: int, new_seq: int, state: Any) -> bool:
        """``True`` to snapshot ``state`` at ``new_seq`` (the head moved from ``previous_seq``)."""
        return False


@dataclass(frozen=True, slots=True)
class EveryNEvents(SnapshotPolicy):
    """Snapshot whenever the head crosses a multiple of ``n`` (``persist_all`` batches included)."""

    n: int

    def __post_init__(self) -> None:
        check_non_negative_int("n", self.n)
        if self.n == 0:
            raise ValueError("every_n_events needs n >= 1: 0")

    def should_snapshot(self, previous_seq: int, new_seq: int, state: Any) -> bool:
        return new_seq // self.n > previous_seq // self.n


def every_n_events(n: int) -> EveryNEvents:
    """A policy saving a snapshot every ``n`` events (at sequence numbers n, 2n, 3n, ...)."""
    return EveryNEvents(n)


class PersistentActor(PersistenceActorBase):
    """An event-sourced actor; subclass and implement the hooks (see the module docstring).

    Optional attributes: ``journal`` / ``snapshot_store`` (store instances; default: the
    system's configured plugins) or ``journal_plugin_id`` / ``snapshot_store_plugin_id``.
    """

    journal: Journal | None = None
    snapshot_store: SnapshotStore | None = None
    journal_plugin_id: str | None = None
    snapshot_store_plugin_id: str | None = None
    #: A snapshot whose state no longer decodes (schema changed): ``"replay_events"``
    #: (default: log a warning and recover from the events, which the current
    #: ``on_event`` folds) or ``"fail"`` (recovery fails).  See :func:`replay_state`.
    unreadable_snapshot: UnreadableSnapshot = "replay_events"

    _last_seq: int = 0
    _policy: SnapshotPolicy | None = None
    _page_size: int = DEFAULT_PAGE_SIZE
    #: The :class:`ReplayResult` of the last (re-)recovery.
    last_recovery: ReplayResult | None = None

    # -- hooks -------------------------------------------------------------------------
    def on_event(self, state: Any, event: Any) -> Any:
        """Apply one event to the state and return the new state (pure)."""
        raise NotImplementedError(f"{type(self).__name__} must implement on_event(state, event)")

    def snapshot_policy(self) -> SnapshotPolicy | None:
        """When to save snapshots automatically (e.g. ``every_n_events(100)``); default never."""
        return None

    def tags_for(self, event: Any) -> Iterable[str]:
        """The tags stored with ``event`` (for tag queries); default none."""
        return ()

    # -- properties --------------------------------------------------------------------
    @property
    def last_sequence_nr(self) -> int:
        """The sequence number of the last event reflected in :attr:`state`."""
        return self._last_seq

    def _position(self) -> str:
        return f"last_sequence_nr={self._last_seq}"

    # -- life cycle --------------------------------------------------------------------
    def _attach(self, system: ActorSystem) -> None:
        from ._persistence_extension import PersistenceExtension

        self._check_persistence_id()
        ext = system.extension(PersistenceExtension)
        if self.journal is None:
            self.journal = ext.journal_for(self.journal_plugin_id)
        if self.snapshot_store is None:
            self.snapshot_store = ext.snapshot_store_for(self.snapshot_store_plugin_id)
        policy = self.snapshot_policy()
        if policy is not None and not isinstance(policy, SnapshotPolicy):
            raise TypeError(
                f"snapshot_policy() of {type(self).__name__} must return a SnapshotPolicy "
                f"(e.g. every_n_events(100)) or None, got {policy!r}"
            )
        self._policy = policy
        page = system.config.get("actorpg.persistence.replay.page-size", DEFAULT_PAGE_SIZE)
        self._page_size = check_non_negative_int("actorpg.persistence.replay.page-size", page) or 1

    def _stores(self) -> tuple[Journal, SnapshotStore]:
        if self.journal is None or self.snapshot_store is None:
            raise RuntimeError(f"{type(self).__name__} is not spawned in an ActorSystem yet")
        return self.journal, self.snapshot_store

    async def _recover(self) -> ReplayResult:
        journal, snapshots = self._stores()
        result = await replay_state(
            journal, snapshots, self.persistence_id, self.initial_state(), self.on_event,
            page_size=self._page_size, unreadable_snapshot=self.unreadable_snapshot,
        )
        self._state = result.state
        self._last_seq = result.last_sequence_nr
        self._needs_resync = False
        self.last_recovery = result
        return result

    async def _load(self) -> ReplayResult:
        return await self._recover()

    # -- persisting --------------------------------------------------------------------
    async def persist(self, event: Any) -> PersistentEvent:
        """Append one event, apply it, maybe snapshot; returns the stored event."""
        return (await self.persist_all([event]))[0]

    async def persist_all(self, events: Iterable[Any]) -> list[PersistentEvent]:
        """Append ``events`` atomically, apply them, maybe snapshot; returns the stored events."""
        self._require_command("persist")
        journal, _ = self._stores()
        batch = list(events)
        if not batch:
            return []
        entries = [JournalEntry(e, tuple(self.tags_for(e) or ())) for e in batch]
        candidate = self._state
        for e in batch:  # a failing on_event fails the command before anything is written
            candidate = self.on_event(candidate, e)
        previous = self._last_seq
        try:
            stored = await journal.append(self.persistence_id, entries, previous)
        except JournalConcurrencyError:
            if await self._resync_after_conflict():
                _log.info("%s: another writer appended; re-synced to sequence_nr %d",
                          self.persistence_id, self._last_seq)
            raise
        except PersistenceError:
            self._needs_resync = True  # the append may or may not have committed
            raise
        if all(s.event is e or s.event == e for s, e in zip(stored, batch, strict=True)):
            state = candidate
        else:  # the codec changed the values (e.g. tuples became lists): apply what is stored
            state = self._state
            try:
                for s in stored:
                    state = self.on_event(state, s.event)
            except Exception:
                self._needs_resync = True
                raise
        self._state = state
        self._last_seq = stored[-1].sequence_nr
        if self._policy is not None and self._policy.should_snapshot(
            previous, self._last_seq, state
        ):
            try:
                await self.save_snapshot()
            except Exception:
                _log.warning("%s: saving the snapshot at %d failed (the events are stored)",
                             self.persistence_id, self._last_seq, exc_info=True)
        return stored

    # -- snapshots and history ---------------------------------------------------------
    async def save_snapshot(self) -> Snapshot:
        """Save the current state as a snapshot at :attr:`last_sequence_nr`."""
        _, snapshots = self._stores()
        return await snapshots.save(self.persistence_id, self._last_seq, self._state)

    async def delete_history(self, to_seq: int) -> None:
        """Delete the journal events up to ``to_seq`` and the snapshots older than the latest.

        Only allowed when the latest snapshot covers ``to_seq`` (its ``sequence_nr >=
        to_seq``), so recovery afterwards reaches the same state; otherwise ``ValueError``
        before anything is deleted.
        """
        check_non_negative_int("to_seq", to_seq)
        journal, snapshots = self._stores()
        latest = await snapshots.load_latest(self.persistence_id)
        if latest is None or latest.sequence_nr < to_seq:
            raise ValueError(
                f"cannot delete the history of {self.persistence_id!r} up to {to_seq}: "
                + ("there is no snapshot" if latest is None
                   else f"the latest snapshot is at sequence_nr {latest.sequence_nr}")
                + "; save a snapshot covering it first (await self.save_snapshot())"
            )
        await journal.delete(self.persistence_id, to_seq)
        if latest.sequence_nr > 0:
            await snapshots.delete(self.persistence_id, latest.sequence_nr - 1)
