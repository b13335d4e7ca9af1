"""eventsourcing 9.5.6's ``TrackingRecorderTestCase`` and ``EventCountersViewTestCase``
against the projection checkpoint store, through synchronous adapters.

The suites are synchronous (threads), so a private event-loop thread runs the async
store.  ``Tracking(application_name, notification_id)`` maps to the checkpoint of
projection ``application_name`` (version 1) at key ``(notification_id, "", 0)``; an
insert is one batch transaction of the real store (compare-and-set on the exact
previous key and the owner), refused with eventsourcing's ``IntegrityError`` when the id
is not above the current one.  The counters of ``EventCountersView`` are a table written
in that same transaction (``ctx.conn``), so a refused tracking leaves them unchanged.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import pytest

pytest.importorskip("eventsourcing")

import eventsourcing.persistence as es_persistence
import eventsourcing.tests.persistence as es_persistence_tests
import eventsourcing.tests.projection as es_projection_tests

from actorpg_lab._errors import PersistenceError
from actorpg_lab.postgres import PostgresJournal
from actorpg_lab.projections import ProjectionContext
from actorpg_lab.projections._postgres_store import PostgresCheckpointStore

T = TypeVar("T")

_OWNER = "eventsourcing-adapter"
_LEASE_S = 3600.0


class _Loop:
    """An event loop in a daemon thread; ``run(coro)`` blocks for its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class ActorpgTrackingRecorder(es_persistence.TrackingRecorder):
    """eventsourcing's ``TrackingRecorder`` over :class:`PostgresCheckpointStore`."""

    def __init__(self, url: str) -> None:
        self._loop = _Loop()
        self.journal = PostgresJournal(url=url, pool_config={"min_size": 1, "max_size": 3})
        self.store = PostgresCheckpointStore(self.journal, "es_tracking")

    def close(self) -> None:
        self._loop.run(self.store.close())
        self._loop.run(self.journal.close())
        self._loop.close()

    async def _advance(self, tracking: es_persistence.Tracking,
                       apply: Any = None) -> None:
        name, n = tracking.application_name, int(tracking.notification_id)
        await self.store.ensure(name, 1, "{}")
        row = await self.store.try_acquire(name, 1, _OWNER, _LEASE_S)
        assert row is not None, f"the adapter could not own {name!r}"
        if n <= row.position:
            raise es_persistence.IntegrityError(
                f"tracking {name!r} #{n} is not after the checkpoint #{row.position}")

        async def nothing(ctx: ProjectionContext) -> None:
            return None

        status = await self.store.run_batch(
            name, 1, _OWNER, _LEASE_S, after=row.key, last=(n, "", 0), count=1,
            last_event_ms=None, apply=apply or nothing, rebuilding=False, finish_rebuild=False,
            keep_error=False, idle_timeout_s=60.0)
        if not status:  # a racing insert moved the checkpoint first
            raise es_persistence.IntegrityError(f"tracking {name!r} #{n} lost a race")

    def insert_tracking(self, tracking: es_persistence.Tracking) -> None:
        self._loop.run(self._advance(tracking))

    def max_tracking_id(self, application_name: str) -> int | None:
        rows = self._loop.run(self.store.read(application_name, 1))
        if not rows or rows[0].key == (0, "", 0):
            return None
        return rows[0].position

    def wait(self, application_name: str, notification_id: int | None, timeout: float = 1.0,
             interrupt: threading.Event | None = None) -> None:
        """Woken by the checkpoint table's NOTIFY (eventsourcing polls 100-800 ms)."""
        import time

        deadline = time.monotonic() + timeout
        while not self.has_tracking_id(application_name, notification_id):
            if interrupt is not None and interrupt.is_set():
                raise es_persistence.WaitInterruptedError
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{application_name!r} has not reached #{notification_id}")
            self._loop.run(self.store.wait_advanced(min(remaining, 0.05)))


class ActorpgEventCountersView(ActorpgTrackingRecorder, es_projection_tests.EventCountersView):
    """The counters in a table written in the tracking's batch transaction."""

    def __init__(self, url: str) -> None:
        super().__init__(url)

        async def create() -> None:
            pool = await self.journal.database.ready_pool()
            async with pool.connection() as conn:
                await conn.execute("CREATE TABLE IF NOT EXISTS es_counters (kind TEXT PRIMARY "
                                   "KEY, n BIGINT NOT NULL)")
                await conn.execute("INSERT INTO es_counters VALUES ('created', 0), "
                                   "('subsequent', 0) ON CONFLICT DO NOTHING")

        self._loop.run(create())

    def _get(self, kind: str) -> int:
        async def read() -> int:
            pool = await self.journal.database.ready_pool()
            async with pool.connection() as conn:
                cur = await conn.execute("SELECT n FROM es_counters WHERE kind = %s", [kind])
                row = await cur.fetchone()
                return int(row[0]) if row else 0

        return self._loop.run(read())

    def _incr(self, kind: str, tracking: es_persistence.Tracking) -> None:
        async def bump(ctx: ProjectionContext) -> None:
            assert ctx.conn is not None
            await ctx.conn.execute("UPDATE es_counters SET n = n + 1 WHERE kind = %s", [kind])

        self._loop.run(self._advance(tracking, bump))

    def get_created_event_counter(self) -> int:
        return self._get("created")

    def get_subsequent_event_counter(self) -> int:
        return self._get("subsequent")

    def incr_created_event_counter(self, tracking: es_persistence.Tracking) -> None:
        self._incr("created", tracking)

    def incr_subsequent_event_counter(self, tracking: es_persistence.Tracking) -> None:
        self._incr("subsequent", tracking)


class _OnPostgres:
    url: str
    recorders: list[ActorpgTrackingRecorder]

    @pytest.fixture(autouse=True)
    def _database(self, pg_url: str) -> Iterator[None]:
        self.url = pg_url
        self.recorders = []
        yield
        for recorder in self.recorders:
            try:
                recorder.close()
            except PersistenceError:
                pass


class TestTrackingRecorder(_OnPostgres, es_persistence_tests.TrackingRecorderTestCase):
    def create_recorder(self) -> es_persistence.TrackingRecorder:
        recorder = ActorpgTrackingRecorder(self.url)
        self.recorders.append(recorder)
        return recorder


class TestEventCountersView(_OnPostgres, es_projection_tests.EventCountersViewTestCase):
    def construct_event_counters_view(self) -> es_projection_tests.EventCountersView:
        view = ActorpgEventCountersView(self.url)
        self.recorders.append(view)
        return view
