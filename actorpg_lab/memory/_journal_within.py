"""Appends inside a transaction of the in-memory journal: ``InMemoryJournal.within(tx)``.

The twin of :mod:`actorpg_lab.postgres._journal_within`.  A :class:`MemoryTransaction`
takes a position when it first appends and holds the visibility horizon there until it
ends, exactly as an open PostgreSQL transaction does: its events are stored at once (so
the transaction reads its own writes and other writers' head checks see them), are
delivered by tag queries only after :meth:`MemoryTransaction.commit`, and are removed
again by :meth:`MemoryTransaction.rollback`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .._errors import JournalConcurrencyError
from .._types import JournalEntry, PersistentEvent
from .._validation import (
    check_non_negative_int,
    check_payload_size,
    check_persistence_id,
    entry_metadata,
    validate_entries,
)
from ._clock import now_ms
from ._stored_event import StoredEvent

if TYPE_CHECKING:
    from ._journal import InMemoryJournal

__all__ = ["JournalInTransaction", "MemoryTransaction"]


class MemoryTransaction:
    """A unit of work over in-memory stores: journal appends made through
    :meth:`InMemoryJournal.within` and callbacks registered with :meth:`on_commit` take
    effect together at :meth:`commit`, or not at all after :meth:`rollback`."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []
        self._after_commit: list[Callable[[], None]] = []
        self._finish: list[Callable[[], None]] = []
        self.state = "open"

    def __repr__(self) -> str:
        return f"<MemoryTransaction {self.state}>"

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (synchronously) when the transaction commits."""
        self._check_open()
        self._after_commit.append(callback)

    def _check_open(self) -> None:
        if self.state != "open":
            raise RuntimeError(f"the transaction is {self.state}")

    def commit(self) -> None:
        """Make every change visible, then run the commit callbacks."""
        self._check_open()
        self.state = "committed"
        for finish in self._finish:
            finish()
        for callback in self._after_commit:
            callback()

    def rollback(self) -> None:
        """Undo the journal appends; the commit callbacks never run."""
        if self.state != "open":
            return
        self.state = "rolled back"
        for undo in reversed(self._undo):
            undo()
        for finish in self._finish:
            finish()


class JournalInTransaction:
    """``append`` / ``read`` / ``highest_seq`` of an :class:`InMemoryJournal` inside a
    :class:`MemoryTransaction` (same semantics as on PostgreSQL)."""

    def __init__(self, journal: InMemoryJournal, tx: MemoryTransaction) -> None:
        if not isinstance(tx, MemoryTransaction):
            raise TypeError(f"tx must be a MemoryTransaction, got {type(tx).__name__}: {tx!r:.200}")
        self.journal = journal
        self.tx = tx
        self._position: int | None = None

    def __repr__(self) -> str:
        return f"<JournalInTransaction of {self.journal!r} {self.tx!r}>"

    async def append(
        self, persistence_id: str, entries: Sequence[JournalEntry], expected_seq: int
    ) -> list[PersistentEvent]:
        """Append inside the transaction (visible to tag queries once it commits)."""
        journal = self.journal
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("expected_seq", expected_seq)
        checked = validate_entries(entries, journal.limits)
        payloads = [check_payload_size(journal.codec.encode(event), journal.limits,
                                       f"entries[{i}] payload")
                    for i, (event, _) in enumerate(checked)]
        metas = entry_metadata(entries)
        if not checked:
            return []
        self.tx._check_open()
        head = journal._head(pid)
        if head != expected_seq:
            raise JournalConcurrencyError(pid, expected_seq, head)
        if self._position is None:
            position = self._position = journal._take_position()
            journal._open.add(position)

            def release() -> None:
                journal._open.discard(position)
                journal._wake()

            self.tx._finish.append(release)
        ts = now_ms()
        stored = [StoredEvent(expected_seq + i, payload, tags, ts, self._position, meta)
                  for i, (payload, (_, tags), meta) in enumerate(
                      zip(payloads, checked, metas, strict=True), start=1)]
        events = journal._events.setdefault(pid, [])
        events.extend(stored)

        def undo() -> None:
            mine = {id(e) for e in stored}
            journal._events[pid] = [e for e in journal._events.get(pid, ()) if id(e) not in mine]
            if not journal._events[pid]:
                del journal._events[pid]

        self.tx._undo.append(undo)
        return [journal._to_event(pid, e) for e in stored]

    async def read(
        self, persistence_id: str, from_seq: int = 1, to_seq: int | None = None
    ) -> list[PersistentEvent]:
        """Events of one stream, the transaction's own appends included."""
        return await self.journal.read(persistence_id, from_seq, to_seq)

    async def highest_seq(self, persistence_id: str) -> int:
        """The stream head, the transaction's own appends included."""
        return await self.journal.highest_seq(persistence_id)
