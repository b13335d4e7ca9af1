"""In-memory reference stores with the same semantics as the PostgreSQL stores.

Payloads are encoded to JSON on write and decoded on read, exactly as in the
database, so a value that would not survive PostgreSQL does not survive here either.
Used for teaching, for unit tests of actors, and as the model in contract tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from ._codec import JsonCodec, default_codec
from ._errors import DurableStateConcurrencyError, JournalConcurrencyError
from ._tag_filter import TagFilter, check_tag_query
from ._types import DurableStateRecord, JournalEntry, PersistentEvent, Snapshot
from ._validation import (
    check_non_negative_int,
    check_page,
    check_persistence_id,
    check_seq_range,
    check_tags,
)
from ._write_attempts import report_snapshot_activity, report_write_attempt

__all__ = ["InMemoryDurableStateStore", "InMemoryJournal", "InMemorySnapshotStore"]

_log = logging.getLogger("actorpg_lab.memory")


def now_ms() -> int:
    """Current wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def validate_entries(entries: object) -> list[tuple[Any, tuple[str, ...]]]:
    """Check an ``append`` batch: a sequence of :class:`JournalEntry`; returns (event, tags)."""
    if isinstance(entries, (str, bytes)) or not isinstance(entries, Sequence):
        raise TypeError(
            f"entries must be a sequence of JournalEntry, got {type(entries).__name__}: "
            f"{entries!r:.200}"
        )
    checked = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, JournalEntry):
            raise TypeError(
                f"entries[{i}] must be a JournalEntry, got {type(entry).__name__}: {entry!r:.200}"
            )
        checked.append((entry.event, check_tags(entry.tags)))
    return checked


class _StoredEvent:
    __slots__ = ("payload", "sequence_nr", "tags", "timestamp")

    def __init__(self, sequence_nr: int, payload: str, tags: tuple[str, ...], timestamp: int):
        self.sequence_nr = sequence_nr
        self.payload = payload
        self.tags = tags
        self.timestamp = timestamp


class InMemoryJournal:
    """A journal held in a dict; same semantics as :class:`~actorpg_lab.postgres.PostgresJournal`."""

    def __init__(self, *, codec: JsonCodec | None = None) -> None:
        self.codec = codec or default_codec
        self._events: dict[str, list[_StoredEvent]] = {}
        self._deleted_to: dict[str, int] = {}
        self._waiters: set[asyncio.Future[None]] = set()

    def __repr__(self) -> str:
        n = sum(len(v) for v in self._events.values())
        return f"<InMemoryJournal streams={len(self._events)} events={n}>"

    def _head(self, pid: str) -> int:
        events = self._events.get(pid)
        last = events[-1].sequence_nr if events else 0
        return max(last, self._deleted_to.get(pid, 0))

    def _to_event(self, pid: str, e: _StoredEvent) -> PersistentEvent:
        return PersistentEvent(pid, e.sequence_nr, self.codec.decode(e.payload), e.timestamp, e.tags)

    async def append(
        self, persistence_id: str, entries: Sequence[JournalEntry], expected_seq: int
    ) -> list[PersistentEvent]:
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("expected_seq", expected_seq)
        checked = validate_entries(entries)
        payloads = [self.codec.encode(event) for event, _ in checked]
        if not checked:
            return []
        started = time.time()
        head = self._head(pid)
        if head != expected_seq:
            report_write_attempt("journal", pid, expected=expected_seq, actual=head, written=None,
                                 outcome="conflict", started=started, events=len(checked))
            raise JournalConcurrencyError(pid, expected_seq, head)
        ts = now_ms()
        stored = [
            _StoredEvent(expected_seq + i + 1, payload, tags, ts)
            for i, (payload, (_, tags)) in enumerate(zip(payloads, checked, strict=True))
        ]
        self._events.setdefault(pid, []).extend(stored)
        report_write_attempt("journal", pid, expected=expected_seq, actual=head,
                             written=expected_seq + len(stored), outcome="ok", started=started,
                             events=len(stored))
        self._wake()
        return [self._to_event(pid, e) for e in stored]

    async def read(
        self, persistence_id: str, from_seq: int = 1, to_seq: int | None = None
    ) -> list[PersistentEvent]:
        pid = check_persistence_id(persistence_id)
        check_seq_range(from_seq, to_seq)
        upper = to_seq if to_seq is not None else float("inf")
        return [
            self._to_event(pid, e)
            for e in self._events.get(pid, ())
            if from_seq <= e.sequence_nr <= upper
        ]

    async def highest_seq(self, persistence_id: str) -> int:
        return self._head(check_persistence_id(persistence_id))

    async def delete(self, persistence_id: str, to_seq: int) -> None:
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("to_seq", to_seq)
        head = self._head(pid)
        mark = min(to_seq, head)
        if mark <= self._deleted_to.get(pid, 0):
            return
        self._events[pid] = [e for e in self._events.get(pid, ()) if e.sequence_nr > mark]
        self._deleted_to[pid] = mark

    async def persistence_ids(
        self, *, after: str | None = None, limit: int | None = None
    ) -> list[str]:
        check_page(after, limit)
        ids = sorted(i for i in set(self._events) | set(self._deleted_to) if after is None or i > after)
        return ids if limit is None else ids[:limit]

    async def read_by_tag(
        self, tag_filter: TagFilter, *, from_timestamp: int = 0, limit: int | None = None
    ) -> list[PersistentEvent]:
        check_tag_query(tag_filter, from_timestamp, limit)
        hits = [
            (e.timestamp, pid, e.sequence_nr, e)
            for pid, events in self._events.items()
            for e in events
            if e.timestamp >= from_timestamp and tag_filter.matches(e.tags)
        ]
        hits.sort(key=lambda h: h[:3])
        if limit is not None:
            hits = hits[:limit]
        return [self._to_event(pid, e) for _, pid, _, e in hits]

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait_for_appends(self, timeout: float) -> bool:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self._waiters.discard(waiter)

    async def close(self) -> None:
        self._wake()


class InMemorySnapshotStore:
    """Snapshots in a dict, keeping the newest ``keep_n`` per id (``keep_n <= 0`` keeps all)."""

    def __init__(self, keep_n: int = 3, *, codec: JsonCodec | None = None) -> None:
        if isinstance(keep_n, bool) or not isinstance(keep_n, int):
            raise TypeError(f"keep_n must be an int, got {type(keep_n).__name__}: {keep_n!r}")
        self.keep_n = keep_n
        self.codec = codec or default_codec
        self._snapshots: dict[str, dict[int, tuple[str, int]]] = {}

    def __repr__(self) -> str:
        n = sum(len(v) for v in self._snapshots.values())
        return f"<InMemorySnapshotStore keep_n={self.keep_n} streams={len(self._snapshots)} snapshots={n}>"

    async def save(self, persistence_id: str, sequence_nr: int, state: Any) -> Snapshot:
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("sequence_nr", sequence_nr)
        payload = self.codec.encode(state)
        ts = now_ms()
        self._snapshots.setdefault(pid, {})[sequence_nr] = (payload, ts)
        try:
            pruned = await self._prune(pid)
        except Exception:
            _log.warning("pruning snapshots of %r failed; the snapshot was saved", pid, exc_info=True)
            report_snapshot_activity(pid, sequence_nr, (), self.keep_n, prune_failed=True)
        else:
            report_snapshot_activity(pid, sequence_nr, pruned, self.keep_n)
        return Snapshot(pid, sequence_nr, self.codec.decode(payload), ts)

    async def _prune(self, persistence_id: str) -> tuple[int, ...]:
        """Delete all but the newest ``keep_n`` snapshots; returns the pruned sequence numbers."""
        if self.keep_n <= 0:
            return ()
        snaps = self._snapshots.get(persistence_id, {})
        pruned = tuple(sorted(snaps, reverse=True)[self.keep_n:])
        for seq in pruned:
            del snaps[seq]
        return tuple(sorted(pruned))

    def _pick(self, pid: str, below: float) -> Snapshot | None:
        snaps = self._snapshots.get(pid, {})
        candidates = [s for s in snaps if s < below]
        if not candidates:
            return None
        seq = max(candidates)
        payload, ts = snaps[seq]
        return Snapshot(pid, seq, self.codec.decode(payload), ts)

    async def load_latest(self, persistence_id: str) -> Snapshot | None:
        return self._pick(check_persistence_id(persistence_id), float("inf"))

    async def load_before(self, persistence_id: str, sequence_nr: int) -> Snapshot | None:
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("sequence_nr", sequence_nr)
        return self._pick(pid, sequence_nr)

    async def delete(self, persistence_id: str, to_seq: int) -> None:
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("to_seq", to_seq)
        snaps = self._snapshots.get(pid, {})
        for seq in [s for s in snaps if s <= to_seq]:
            del snaps[seq]

    async def close(self) -> None:
        return None


class InMemoryDurableStateStore:
    """Durable state in a dict with revision compare-and-set."""

    def __init__(self, *, codec: JsonCodec | None = None) -> None:
        self.codec = codec or default_codec
        self._records: dict[str, tuple[int, str, int]] = {}

    def __repr__(self) -> str:
        return f"<InMemoryDurableStateStore records={len(self._records)}>"

    async def upsert(
        self, persistence_id: str, expected_revision: int, state: Any
    ) -> DurableStateRecord:
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("expected_revision", expected_revision)
        payload = self.codec.encode(state)
        started = time.time()
        current = self._records.get(pid)
        actual = current[0] if current else 0
        if actual != expected_revision:
            report_write_attempt("durable_state", pid, expected=expected_revision, actual=actual,
                                 written=None, outcome="conflict", started=started)
            raise DurableStateConcurrencyError(pid, expected_revision, actual)
        ts = now_ms()
        revision = expected_revision + 1
        self._records[pid] = (revision, payload, ts)
        report_write_attempt("durable_state", pid, expected=expected_revision, actual=actual,
                             written=revision, outcome="ok", started=started)
        return DurableStateRecord(pid, revision, self.codec.decode(payload), ts)

    async def load(self, persistence_id: str) -> DurableStateRecord | None:
        pid = check_persistence_id(persistence_id)
        record = self._records.get(pid)
        if record is None:
            return None
        revision, payload, ts = record
        return DurableStateRecord(pid, revision, self.codec.decode(payload), ts)

    async def delete(self, persistence_id: str) -> None:
        self._records.pop(check_persistence_id(persistence_id), None)

    async def close(self) -> None:
        return None
