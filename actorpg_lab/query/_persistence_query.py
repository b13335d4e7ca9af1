"""Read-side queries over a journal: by tag (finite and live), by persistence id, all ids.

Tag queries deliver events in ``(position, persistence_id, sequence_nr)`` order and
attach a :class:`~actorpg_lab.query.TagOffset` (that key) to each; resuming from the
offset of the last processed event delivers every later event exactly once, however
late its transaction commits.  See :mod:`actorpg_lab.query` for why that holds.

The live query (:meth:`PersistenceQuery.events_by_tag`) re-runs the finite query
whenever the journal signals an append (``wait_for_appends``: LISTEN/NOTIFY on
PostgreSQL, an in-process wake-up in memory) and at least every ``poll_interval``
seconds.  When committed events are held back behind an open transaction (which sends
no notification when it ends if it is not an append), it re-checks with a short,
growing back-off instead.  It never ends on its own; stop it by cancelling the
consuming task or by ``aclose()``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from .._protocols import Journal
from .._reprs import field_repr, fields_html
from .._tag_filter import TagFilter, as_tag_filter
from .._types import PersistentEvent
from .._validation import check_non_negative_int, check_persistence_id, check_seq_range
from ._offset import TagOffset

__all__ = ["ConsumerLag", "PersistenceQuery", "TaggedEvent"]

#: First and longest pause of a live query while events are held back (seconds): the
#: transaction holding them may not be an append, so its end sends no notification.
_HELD_BACK_FIRST_PAUSE = 0.002
_HELD_BACK_MAX_PAUSE = 0.1

_log = logging.getLogger("actorpg_lab.query")


@dataclass(frozen=True, slots=True)
class TaggedEvent:
    """An event delivered by a tag query and the offset to resume right after it."""

    event: PersistentEvent
    offset: TagOffset

    @property
    def persistence_id(self) -> str:
        return self.event.persistence_id

    @property
    def sequence_nr(self) -> int:
        return self.event.sequence_nr

    @property
    def position(self) -> int:
        return self.event.position


@dataclass(frozen=True, slots=True)
class ConsumerLag:
    """How far a tag consumer is behind (see :meth:`PersistenceQuery.lag`).

    :param events: matching events deliverable now after the offset (counted up to the
        ``limit`` of the call; ``capped`` says the count stopped there).
    :param oldest_timestamp: the stored timestamp of the first of them (epoch ms).
    :param lag_ms: how long that event has been waiting (0 when there is none).
    :param held_back: committed events wait behind a transaction that is still open
        (on PostgreSQL any transaction that has written, in any table of the database):
        a live query delivers them once it ends.  Nothing is lost meanwhile; a
        ``held_back`` that stays true points at a long-running transaction.
    :param horizon: the visibility horizon: positions below it are final.
    """

    events: int
    capped: bool
    oldest_timestamp: int | None
    lag_ms: int
    held_back: bool
    horizon: int

    def _fields(self) -> list[tuple[str, Any]]:
        return [("events", self.events), ("capped", self.capped),
                ("oldest_timestamp", self.oldest_timestamp), ("lag_ms", self.lag_ms),
                ("held_back", self.held_back), ("horizon", self.horizon)]

    def __repr__(self) -> str:
        """All fields, ``oldest_timestamp`` as ISO UTC."""
        shown = [field_repr(k, v, times=("oldest_timestamp",)) for k, v in self._fields()]
        return f"ConsumerLag({', '.join(shown)})"

    def _repr_html_(self) -> str:
        return fields_html("ConsumerLag", self._fields(), times=("oldest_timestamp",))


class PersistenceQuery:
    """Queries over ``journal`` (any :class:`~actorpg_lab.Journal`).

    :param page_size: events per journal read.
    :param poll_interval: the longest a live query sleeps between checks (seconds).
    """

    def __init__(
        self,
        journal: Journal,
        *,
        page_size: int = 1_000,
        poll_interval: float = 1.0,
    ) -> None:
        if not isinstance(journal, Journal):
            raise TypeError(f"journal must implement the Journal protocol, got {journal!r:.200}")
        check_non_negative_int("page_size", page_size)
        if page_size == 0:
            raise ValueError("page_size must be positive: 0")
        if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)):
            raise TypeError(f"poll_interval must be a number of seconds, got {poll_interval!r}")
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be positive: {poll_interval!r}")
        self.journal = journal
        self.page_size = page_size
        self.poll_interval = float(poll_interval)

    def __repr__(self) -> str:
        return (f"<PersistenceQuery journal={self.journal!r} page_size={self.page_size} "
                f"poll_interval={self.poll_interval}>")

    # -- tags ------------------------------------------------------------------------
    def _start(self, offset: TagOffset | None) -> TagOffset:
        if offset is None:
            return TagOffset.start()
        if not isinstance(offset, TagOffset):
            raise TypeError(
                f"offset must be a TagOffset (from a TaggedEvent, or TagOffset.from_json), "
                f"got {type(offset).__name__}: {offset!r:.200}"
            )
        return offset

    async def _pages(
        self, tag_filter: TagFilter, offset: TagOffset
    ) -> AsyncIterator[list[TaggedEvent]]:
        """Yield the not-yet-delivered matching events below the horizon, page by page."""
        key, legacy = offset.key, offset.legacy
        from_ts = legacy.from_timestamp if legacy is not None else 0
        while True:
            page = await self.journal.read_by_tag(
                tag_filter, after=key, from_timestamp=from_ts, limit=self.page_size)
            out: list[TaggedEvent] = []
            for ev in page:
                key = (ev.position, ev.persistence_id, ev.sequence_nr)
                if legacy is not None:
                    if legacy.skips(ev.persistence_id, ev.sequence_nr):
                        continue  # delivered by the version that wrote the offset
                    legacy = legacy.after_delivering(ev.persistence_id)
                out.append(TaggedEvent(ev, TagOffset._after(key, legacy)))
            if out:
                yield out
            if len(page) < self.page_size:
                return

    async def current_events_by_tag(
        self, tag_filter: str | TagFilter, offset: TagOffset | None = None
    ) -> list[TaggedEvent]:
        """The matching events visible now after ``offset`` (all of them when ``None``)."""
        tf = as_tag_filter(tag_filter)
        start = self._start(offset)
        result: list[TaggedEvent] = []
        async for page in self._pages(tf, start):
            result.extend(page)
        return result

    async def events_by_tag(
        self, tag_filter: str | TagFilter, offset: TagOffset | None = None
    ) -> AsyncGenerator[TaggedEvent, None]:
        """Every matching event after ``offset``, then new ones as they are appended (live).

        Never ends on its own; cancel the consuming task or ``aclose()`` the iterator.
        """
        tf = as_tag_filter(tag_filter)
        current = self._start(offset)
        pause = _HELD_BACK_FIRST_PAUSE
        while True:
            delivered = False
            async for page in self._pages(tf, current):  # everything below the horizon
                for tagged in page:
                    yield tagged
                    current = tagged.offset
                delivered = True
            if delivered:  # appends made while the consumer handled these: look again
                pause = _HELD_BACK_FIRST_PAUSE
                continue
            # Nothing new: sleep until an append is notified, unless committed events
            # are held back behind an open transaction.  That one may not be an append
            # (no notification when it ends), so look again soon, backing off.
            _, held_back = await self.journal.visibility_horizon()
            if held_back:
                await self.journal.wait_for_appends(pause)
                pause = min(pause * 2, self.poll_interval, _HELD_BACK_MAX_PAUSE)
            else:
                pause = _HELD_BACK_FIRST_PAUSE
                await self.journal.wait_for_appends(self.poll_interval)

    async def lag(
        self, tag_filter: str | TagFilter, offset: TagOffset | None = None, *,
        limit: int = 10_000,
    ) -> ConsumerLag:
        """How far a consumer at ``offset`` is behind: matching events deliverable now
        (counted up to ``limit``), how long the first has waited, and whether events
        are held back behind an open transaction (see :class:`ConsumerLag`)."""
        import time

        tf = as_tag_filter(tag_filter)
        start = self._start(offset)
        check_non_negative_int("limit", limit)
        horizon, held_back = await self.journal.visibility_horizon()
        count, oldest = 0, None
        async for page in self._pages(tf, start):
            if oldest is None:
                oldest = page[0].event.timestamp
            count += len(page)
            if count >= limit:
                break
        lag_ms = max(0, time.time_ns() // 1_000_000 - oldest) if oldest is not None else 0
        return ConsumerLag(min(count, limit), count >= limit > 0, oldest, lag_ms, held_back,
                           horizon)

    # -- persistence ids -----------------------------------------------------------------
    async def current_events_by_persistence_id(
        self, persistence_id: str, from_seq: int = 1, to_seq: int | None = None
    ) -> list[PersistentEvent]:
        """The events of one stream with ``from_seq <= sequence_nr <= to_seq``, ascending."""
        pid = check_persistence_id(persistence_id)
        check_seq_range(from_seq, to_seq)
        head = await self.journal.highest_seq(pid)
        upper = head if to_seq is None else min(to_seq, head)
        result: list[PersistentEvent] = []
        step = max(self.page_size, 10_000)
        lo = max(from_seq, 1)
        while lo <= upper:
            hi = min(upper, lo + step - 1)
            result.extend(await self.journal.read(pid, lo, hi))
            lo = hi + 1
        return result

    async def current_persistence_ids(self) -> list[str]:
        """Every persistence id in the journal, sorted.

        Pages through the journal's ``persistence_ids(after=, limit=)`` listing.
        """
        ids: list[str] = []
        after: str | None = None
        while True:
            page = await self.journal.persistence_ids(after=after, limit=self.page_size)
            ids.extend(page)
            if len(page) < self.page_size:
                return ids
            after = page[-1]
