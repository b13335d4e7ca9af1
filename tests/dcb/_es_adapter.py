"""eventsourcing 9.5.6's ``DCBRecorder`` over our journal (tests only): D11.

Synchronous, as the suite is (it uses threads): a private event-loop thread runs the
async journal.  The suite assumes dense per-event int positions: position n is the
n-th event in ``(position, persistence_id, sequence_nr)`` key order (ordinal rank:
correct because the suite is single-threaded).  A ``DCBEvent(type, data, tags)`` is
stored as a dataclass registered under ``type`` in the adapter's own codec, so the
journal's type function and index see the suite's types; each append goes to a new
stream (DCB appends belong to no stream).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import threading
import uuid
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from eventsourcing.dcb.api import (
    DCBAppendCondition,
    DCBEvent,
    DCBQuery,
    DCBReadResponse,
    DCBRecorder,
    DCBSequencedEvent,
    DCBSubscription,
)
from eventsourcing.dcb.popo import SimpleDCBReadResponse
from eventsourcing.persistence import IntegrityError

from actorpg_lab import (
    AppendCondition,
    AppendConditionError,
    JournalEntry,
    JsonCodec,
    PersistentEvent,
    Query,
    QueryItem,
)
from actorpg_lab.postgres import PostgresJournal
from actorpg_lab.query import TagOffset

T = TypeVar("T")


class ActorpgDCBRecorder(DCBRecorder):
    def __init__(self, url: str, events_table: str = "events") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.codec = JsonCodec(unregistered="error")
        self._classes: dict[str, type[Any]] = {}
        self.journal = self._run(self._open(url, events_table))

    async def _open(self, url: str, events_table: str) -> PostgresJournal:
        return PostgresJournal(url=url, events_table=events_table, codec=self.codec,
                               pool_config={"min_size": 1, "max_size": 4})

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def close(self) -> None:
        self._run(self.journal.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    # -- mapping ----------------------------------------------------------------------
    def _class(self, type_name: str) -> type[Any]:
        cls = self._classes.get(type_name)
        if cls is None:
            cls = dataclasses.make_dataclass(f"DCB_{len(self._classes)}", [("b64", str)],
                                             frozen=True)
            cls.__module__ = __name__
            self.codec.register(cls, type_name)
            self._classes[type_name] = cls
        return cls

    def _to_dcb(self, event: PersistentEvent, position: int) -> DCBSequencedEvent:
        type_name = self.codec.type_name(type(event.event))
        assert type_name is not None
        return DCBSequencedEvent(
            DCBEvent(type_name, base64.b64decode(event.event.b64), list(event.tags)), position)

    def _query(self, query: DCBQuery | None) -> Query:
        if query is None or not query.items:
            return Query.all()
        return Query([QueryItem(types=i.types, tags=i.tags) for i in query.items])

    async def _ranked(self) -> list[PersistentEvent]:
        """Every event in key order: index + 1 is the suite's position."""
        return [t.event for t in (await self.journal.read_matching(Query.all())).events]

    # -- DCBRecorder ------------------------------------------------------------------
    def read(self, query: DCBQuery | None = None, *, after: int | None = None,
             limit: int | None = None) -> DCBReadResponse:
        async def go() -> tuple[list[DCBSequencedEvent], int | None]:
            ranked = await self._ranked()
            rank = {e.key: n for n, e in enumerate(ranked, start=1)}
            matching = (await self.journal.read_matching(self._query(query))).events
            events = [self._to_dcb(t.event, rank[t.event.key]) for t in matching
                      if rank[t.event.key] > (after or 0)]
            if limit is not None:
                events = events[:limit]
                return events, (events[-1].position if events else None)
            return events, (len(ranked) or None)

        events, head = self._run(go())
        return SimpleDCBReadResponse(iter(events), head)

    def append(self, events: Sequence[DCBEvent],
               condition: DCBAppendCondition | None = None) -> int:
        async def go() -> int:
            entries = [JournalEntry(self._class(e.type)(base64.b64encode(e.data).decode()),
                                    tags=tuple(e.tags)) for e in events]
            cond = None
            if condition is not None:
                after = None
                if condition.after:
                    ranked = await self._ranked()
                    after = TagOffset(*ranked[condition.after - 1].key) \
                        if condition.after <= len(ranked) else TagOffset(*ranked[-1].key)
                cond = AppendCondition(self._query(condition.fail_if_events_match), after)
            try:
                await self.journal.append(f"dcb-{uuid.uuid4().hex}", entries, 0,
                                          condition=cond)
            except AppendConditionError as exc:
                raise IntegrityError(str(exc)) from exc
            return len(await self._ranked())

        return self._run(go())

    def subscribe(self, query: DCBQuery | None = None, *,
                  after: int | None = None) -> DCBSubscription[ActorpgDCBRecorder]:
        return _Subscription(self, query, after)


class _Subscription(DCBSubscription[ActorpgDCBRecorder]):
    """Yields what is there, then blocks until the journal's NOTIFY brings more."""

    def __init__(self, recorder: ActorpgDCBRecorder, query: DCBQuery | None,
                 after: int | None) -> None:
        super().__init__(recorder, query, after)
        self._buffer: list[DCBSequencedEvent] = []

    def __next__(self) -> DCBSequencedEvent:
        recorder = self._recorder
        while not self._has_been_stopped:
            if self._buffer:
                event = self._buffer.pop(0)
                self._last_position = event.position
                return event
            self._buffer = list(recorder.read(self._query, after=self._last_position))
            if not self._buffer:
                recorder._run(recorder.journal.wait_for_appends(0.2))
        raise StopIteration
