"""The in-memory event journal: streams in a dict, tag queries by scanning.

Same semantics as :class:`~actorpg_lab.postgres.PostgresJournal`; payloads go through
the codec on write and read exactly as in the database.  Each append takes the next
``position`` (a counter, like the writing transaction's id on PostgreSQL); an append
is instantaneous here, so the visibility horizon is the next position, except while
:meth:`InMemoryJournal.open_transaction` models a writer that has taken a position but
not committed yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .._codec import JsonCodec, decode_stored, default_codec
from .._dcb import AppendCondition, ConsistencyToken, MatchingRead, Query, check_after
from .._errors import AppendConditionError, IdempotencyConflictError, JournalConcurrencyError
from .._tag_filter import EventKey, TagFilter, check_tag_query
from .._types import JournalEntry, PersistentEvent, content_digest, read_metadata
from .._validation import (
    Limits,
    check_idempotency_key,
    check_non_negative_int,
    check_optional_limit,
    check_page,
    check_payload_size,
    check_persistence_id,
    check_seq_range,
    entry_metadata,
    validate_entries,
)
from .._write_attempts import report_write_attempt
from ..query import TaggedEvent, TagOffset
from ._clock import now_ms
from ._stored_event import StoredEvent as _StoredEvent

if TYPE_CHECKING:
    from ._journal_within import JournalInTransaction, MemoryTransaction

__all__ = ["InMemoryJournal"]


class InMemoryJournal:
    """A journal held in a dict; same semantics as :class:`~actorpg_lab.postgres.PostgresJournal`."""

    def __init__(self, *, codec: JsonCodec | None = None,
                 limits: Limits | Mapping[str, Any] | None = None) -> None:
        self.codec = codec or default_codec
        self.limits = Limits.of(limits)
        self._events: dict[str, list[_StoredEvent]] = {}
        self._deleted_to: dict[str, int] = {}
        self._waiters: set[asyncio.Future[None]] = set()
        self._next_position = 1
        self._open: set[int] = set()
        #: (pid, idempotency key) -> [first_seq, events, digest, hits, created (epoch s)]
        self._keys: dict[tuple[str, str], list[Any]] = {}
        #: State other components keep per journal (shared by :meth:`sharing` twins), e.g.
        #: the projection checkpoints of :mod:`actorpg_lab.projections`.
        self.extensions: dict[str, Any] = {}

    @classmethod
    def sharing(cls, journal: InMemoryJournal) -> InMemoryJournal:
        """A second journal over ``journal``'s streams (same codec), e.g. for two writers.

        What a second process's store over the same tables is to PostgreSQL: a separate
        handle whose appends, deletes and live waits meet the same data.
        """
        if not isinstance(journal, InMemoryJournal):
            raise TypeError(f"sharing expects an InMemoryJournal, got {type(journal).__name__}")
        twin = cls(codec=journal.codec)
        twin._events, twin._deleted_to, twin._waiters, twin._keys = (
            journal._events, journal._deleted_to, journal._waiters, journal._keys)
        twin.extensions = journal.extensions
        return twin

    def __repr__(self) -> str:
        n = sum(len(v) for v in self._events.values())
        return f"<InMemoryJournal streams={len(self._events)} events={n}>"

    def _head(self, pid: str) -> int:
        events = self._events.get(pid)
        last = events[-1].sequence_nr if events else 0
        return max(last, self._deleted_to.get(pid, 0))

    def _to_event(self, pid: str, e: _StoredEvent) -> PersistentEvent:
        event = decode_stored(self.codec, e.payload, what="event", persistence_id=pid,
                              sequence_nr=e.sequence_nr)
        return PersistentEvent(pid, e.sequence_nr, event, e.timestamp, e.tags, e.position,
                               read_metadata(e.metadata))

    def _take_position(self) -> int:
        position = self._next_position
        self._next_position += 1
        return position

    @property
    def horizon(self) -> int:
        """Positions below this are final: the oldest open transaction's, else the next."""
        return min(self._open, default=self._next_position)

    async def append(
        self, persistence_id: str, entries: Sequence[JournalEntry], expected_seq: int,
        *, condition: AppendCondition | None = None, idempotency_key: str | None = None,
    ) -> list[PersistentEvent]:
        """See :meth:`PostgresJournal.append`; the condition check and the write happen
        with no await in between, so nothing can commit between them."""
        key = check_idempotency_key(idempotency_key)
        if key is not None and condition is not None:
            raise ValueError("idempotency_key cannot be combined with condition (yet): "
                             f"{idempotency_key!r}")
        if condition is not None and not isinstance(condition, AppendCondition):
            raise TypeError(f"condition must be an AppendCondition or None, got "
                            f"{condition!r:.200}")
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("expected_seq", expected_seq)
        checked = validate_entries(entries, self.limits)
        payloads = [check_payload_size(self.codec.encode(event), self.limits, f"entries[{i}] payload")
                    for i, (event, _) in enumerate(checked)]
        if not checked:
            return []
        metas = entry_metadata(entries)
        started = time.time()
        digest = b""
        if key is not None:
            digest = content_digest(payloads, [tags for _, tags in checked], metas)
            prior = self._keys.get((pid, key))
            if prior is not None:  # checked before the head: a retry is a duplicate
                first_seq, n, stored = prior[0], prior[1], prior[2]
                if stored != digest:
                    raise IdempotencyConflictError(pid, key, first_seq, n)
                prior[3] += 1
                report_write_attempt("journal", pid, expected=expected_seq,
                                     actual=first_seq - 1, written=first_seq + n - 1,
                                     outcome="duplicate", started=started, events=n)
                return [self._to_event(pid, e) for e in self._events.get(pid, ())
                        if first_seq <= e.sequence_nr < first_seq + n]
        head = self._head(pid)
        if head != expected_seq:
            report_write_attempt("journal", pid, expected=expected_seq, actual=head, written=None,
                                 outcome="conflict", started=started, events=len(checked))
            raise JournalConcurrencyError(pid, expected_seq, head)
        if condition is not None:
            conflict = next(iter(self._matching(condition.fail_if_events_match,
                                                condition.after)), None)
            if conflict is not None:
                c_pid, c = conflict
                found = (c.position, c_pid, c.sequence_nr)
                text = repr(condition.fail_if_events_match)
                report_write_attempt("journal", pid, expected=expected_seq, actual=head,
                                     written=None, outcome="conflict", started=started,
                                     events=len(checked), kind="condition", conflict=found,
                                     query=text)
                event = self._to_event(c_pid, c)
                raise AppendConditionError(pid, expected_seq, head, found, event.event_type,
                                           c.tags, text)
        ts = now_ms()
        position = self._take_position()
        stored = [
            _StoredEvent(expected_seq + i + 1, payload, tags, ts, position, meta)
            for i, (payload, (_, tags), meta) in enumerate(
                zip(payloads, checked, metas, strict=True))
        ]
        self._events.setdefault(pid, []).extend(stored)
        if key is not None:
            self._keys[(pid, key)] = [expected_seq + 1, len(stored), digest, 0, time.time()]
        report_write_attempt("journal", pid, expected=expected_seq, actual=head,
                             written=expected_seq + len(stored), outcome="ok", started=started,
                             events=len(stored))
        self._wake()
        return [self._to_event(pid, e) for e in stored]

    async def prune_idempotency(self, older_than: float | timedelta) -> int:
        """See :meth:`PostgresJournal.prune_idempotency`."""
        seconds = older_than.total_seconds() if isinstance(older_than, timedelta) \
            else older_than
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError(f"older_than must be >= 0 seconds or a timedelta: {older_than!r}")
        cutoff = time.time() - seconds
        old = [k for k, v in self._keys.items() if v[4] < cutoff]
        for k in old:
            del self._keys[k]
        return len(old)

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
        self,
        tag_filter: TagFilter,
        *,
        after: EventKey | None = None,
        from_timestamp: int = 0,
        limit: int | None = None,
    ) -> list[PersistentEvent]:
        """Events matching ``tag_filter`` after the key ``after``, below the horizon, in
        ``(position, persistence_id, sequence_nr)`` order (as on PostgreSQL)."""
        key = check_tag_query(tag_filter, from_timestamp, limit, after)
        if tag_filter.matches_nothing:
            return []
        horizon = self.horizon
        hits = [
            ((e.position, pid, e.sequence_nr), pid, e)
            for pid, events in self._events.items()
            for e in events
            if key < (e.position, pid, e.sequence_nr) and e.position < horizon
            and e.timestamp >= from_timestamp and tag_filter.matches(e.tags)
        ]
        hits.sort(key=lambda h: h[0])
        if limit is not None:
            hits = hits[:limit]
        return [self._to_event(pid, e) for _, pid, e in hits]

    def _token(self) -> str:
        """The memory journal's snapshot, in pg_snapshot's text form (positions)."""
        xip = ",".join(str(p) for p in sorted(self._open))
        return f"{self.horizon}:{self._next_position}:{xip}"

    def _matching(self, query: Query, after: ConsistencyToken | TagOffset | None,
                  ) -> list[tuple[str, _StoredEvent]]:
        """Committed events matching ``query`` not covered by ``after``, in key order."""
        check_after(after)
        token = ConsistencyToken(self._token())
        hits = []
        for pid, events in self._events.items():
            for e in events:
                key = (e.position, pid, e.sequence_nr)
                if not token.saw(e.position, key):
                    continue  # not committed yet (open_transaction)
                if isinstance(after, ConsistencyToken):
                    if after.saw(e.position, key):
                        continue
                elif after is not None and key <= after.key:
                    continue
                if query.matches(self._to_event(pid, e), self.codec):
                    hits.append((key, pid, e))
        hits.sort(key=lambda h: h[0])
        return [(pid, e) for _, pid, e in hits]

    async def read_matching(
        self, query: Query, *, after: ConsistencyToken | TagOffset | None = None,
        limit: int | None = None,
    ) -> MatchingRead:
        """See :meth:`PostgresJournal.read_matching`."""
        if not isinstance(query, Query):
            raise TypeError(f"query must be a Query, got {query!r:.200}")
        check_optional_limit(limit)
        snapshot = self._token()
        hits = self._matching(query, after)
        if limit is not None:
            hits = hits[:limit]
        events = []
        for pid, e in hits:
            event = self._to_event(pid, e)
            events.append(TaggedEvent(event, TagOffset._after(event.key, None)))
        upto = events[-1].event.key if limit is not None and events and len(events) >= limit \
            else None
        return MatchingRead(events, ConsistencyToken(snapshot, upto))

    async def visibility_horizon(self) -> tuple[int, bool]:
        """``(horizon, held_back)``: see :meth:`PostgresJournal.visibility_horizon`."""
        horizon = self.horizon
        held = any(e.position >= horizon for events in self._events.values() for e in events)
        return horizon, held

    @contextlib.asynccontextmanager
    async def open_transaction(self) -> AsyncIterator[int]:
        """Model a writer whose transaction took a position and has not committed yet.

        Yields the position; until the block exits, tag queries hold back every event at
        or above it, exactly as PostgreSQL holds them back behind an open transaction.
        Events the block stores with this position (tests splice them in) become
        visible when it exits.
        """
        position = self._take_position()
        self._open.add(position)
        try:
            yield position
        finally:
            self._open.discard(position)
            self._wake()

    def within(self, tx: MemoryTransaction) -> JournalInTransaction:
        """``append`` / ``read`` / ``highest_seq`` inside ``tx`` (a projection's
        ``ctx.journal``; see :mod:`._journal_within`)."""
        from ._journal_within import JournalInTransaction

        return JournalInTransaction(self, tx)

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait_for_appends(self, timeout: float) -> bool:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:  # asyncio.timeout: a wait_for would swallow a cancellation racing the wake
            async with asyncio.timeout(timeout):
                await waiter
            return True
        except TimeoutError:
            return False
        finally:
            self._waiters.discard(waiter)

    async def close(self) -> None:
        self._wake()
