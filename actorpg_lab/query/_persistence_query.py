"""Read-side queries over a journal: by tag (finite and live), by persistence id, all ids.

Tag queries deliver events in ``(timestamp, persistence_id, sequence_nr)`` order and
attach a :class:`~actorpg_lab.query.TagOffset` to each; resuming from the offset of
the last processed event delivers every later event exactly once — including an
event whose transaction committed after a later-stamped event was delivered (see
:mod:`actorpg_lab.query._offset` for why and how).

The live query (:meth:`PersistenceQuery.events_by_tag`) re-runs the finite query
whenever the journal signals an append (``wait_for_appends``: LISTEN/NOTIFY on
PostgreSQL, an in-process wake-up in memory) and at least every ``poll_interval``
seconds, so latency is low without hammering the database.  It never ends on its
own; stop it by cancelling the consuming task or by ``aclose()``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from .._protocols import Journal
from .._tag_filter import TagFilter, as_tag_filter
from .._types import PersistentEvent
from .._validation import check_non_negative_int, check_persistence_id, check_seq_range
from ._offset import DEFAULT_WINDOW_MS, TagOffset

__all__ = ["PersistenceQuery", "TaggedEvent"]

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


class PersistenceQuery:
    """Queries over ``journal`` (any :class:`~actorpg_lab.Journal`).

    :param window_ms: backtracking window of new tag streams (see :class:`TagOffset`);
        resuming from an offset keeps the window recorded in it.
    :param page_size: events per journal read.
    :param poll_interval: the longest a live query sleeps between checks (seconds).
    """

    def __init__(
        self,
        journal: Journal,
        *,
        window_ms: int = DEFAULT_WINDOW_MS,
        page_size: int = 1_000,
        poll_interval: float = 1.0,
    ) -> None:
        if not isinstance(journal, Journal):
            raise TypeError(f"journal must implement the Journal protocol, got {journal!r:.200}")
        check_non_negative_int("window_ms", window_ms)
        check_non_negative_int("page_size", page_size)
        if page_size == 0:
            raise ValueError("page_size must be positive: 0")
        if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)):
            raise TypeError(f"poll_interval must be a number of seconds, got {poll_interval!r}")
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be positive: {poll_interval!r}")
        self.journal = journal
        self.window_ms = window_ms
        self.page_size = page_size
        self.poll_interval = float(poll_interval)

    def __repr__(self) -> str:
        return (f"<PersistenceQuery journal={self.journal!r} window_ms={self.window_ms} "
                f"poll_interval={self.poll_interval}>")

    # -- tags ------------------------------------------------------------------------
    def _start(self, offset: TagOffset | None) -> TagOffset:
        if offset is None:
            return TagOffset.start(self.window_ms)
        if not isinstance(offset, TagOffset):
            raise TypeError(
                f"offset must be a TagOffset (from a TaggedEvent, or TagOffset.from_json), "
                f"got {type(offset).__name__}: {offset!r:.200}"
            )
        return offset

    async def _pages(
        self, tag_filter: TagFilter, offset: TagOffset
    ) -> AsyncIterator[list[TaggedEvent]]:
        """Yield the not-yet-delivered matching events visible now, page by page."""
        working = dict(offset._entries())  # pid -> (seq, ts); a superset is fine for dedupe
        current = offset
        from_ts = offset.read_from
        limit = self.page_size
        while True:
            page = await self.journal.read_by_tag(tag_filter, from_timestamp=from_ts, limit=limit)
            out: list[TaggedEvent] = []
            for ev in page:
                prev = working.get(ev.persistence_id)
                if prev is not None and ev.sequence_nr <= prev[0]:
                    continue
                working[ev.persistence_id] = (ev.sequence_nr, ev.timestamp)
                current = current._advance(ev.persistence_id, ev.sequence_nr, ev.timestamp)
                out.append(TaggedEvent(ev, current))
            if out:
                current._entries()  # materialise once per page: keeps offset chains short
                yield out
            if len(page) < limit:
                return
            last_ts = page[-1].timestamp
            if last_ts <= from_ts:  # a whole page within one millisecond: widen the page
                limit *= 2
            else:
                from_ts, limit = last_ts, self.page_size

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
        while True:
            delivered = False
            async for page in self._pages(tf, current):
                for tagged in page:
                    yield tagged
                    current = tagged.offset
                delivered = True
            if not delivered:
                await self.journal.wait_for_appends(self.poll_interval)

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
