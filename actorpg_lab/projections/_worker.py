"""One projection's worker: standby until it owns the lease, then the batch loop.

Ownership is a lease on the checkpoint row (server clock): :meth:`Worker.run` tries to
take it (free, or run out) every ``standby_poll_s``; once owned, the loop reads the next
events after the checkpoint and hands them to :mod:`._batch` (each batch renews the
lease; while a full batch commits, the page after it is read: :class:`_Ahead`), renews
it by a heartbeat every ``lease_s / 3`` while idle, and sleeps on the journal's NOTIFY.
A heartbeat or a batch that finds the row taken over raises
:class:`~actorpg_lab.ProjectionFenced`: the worker goes back to standby having
committed nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from .._errors import PersistenceError, ProjectionFenced
from .._tag_filter import START_KEY, EventKey, TagFilter
from .._types import PersistentEvent
from ._batch import commit, handle
from ._checkpoint import Checkpoint
from ._projection import Projection, filter_json
from ._settings import HELD_FIRST, HELD_MAX, INFRA_BACKOFF

if TYPE_CHECKING:
    from ._runner import ProjectionRunner

__all__ = ["Worker"]

_log = logging.getLogger("actorpg_lab.projections")


class _Ahead:
    """The next page, read while the batch before it commits.

    It is read after the last key of that batch and used only if the batch committed
    exactly that key (``take`` checks the key the loop is at, and the page size): a
    fenced, failed, redirected or rolled-back batch leaves the key elsewhere and the page
    is dropped.  Reading before the commit is sound because a page is final once read:
    every event it holds is below the visibility horizon of its read, so no transaction
    can still add an event between ``after`` and the page's last key.  Dropped before
    a pause or a rebuild, so it is never kept across a long wait.
    """

    def __init__(self) -> None:
        self._task: asyncio.Task[list[PersistentEvent]] | None = None
        self._after: EventKey = START_KEY
        self._limit = 0

    def start(self, worker: Worker, after: EventKey, limit: int) -> None:
        self._task = asyncio.create_task(worker.read(after, limit),
                                         name=f"projection:{worker.name}:next-page")
        self._after, self._limit = after, limit

    async def first_after(self, after: EventKey) -> EventKey | None:
        """The key of the first event of the page read after ``after`` (waiting for the
        read), ``None`` when there is no such page, it is empty or its read failed."""
        task = self._task
        if task is None or self._after != after:
            return None
        try:
            page = await asyncio.shield(task)
        except Exception:
            return None  # the loop meets the error when it takes the page
        return page[0].key if page else None

    async def take(self, after: EventKey, limit: int) -> list[PersistentEvent] | None:
        """The page read after ``after`` (at most ``limit``), or ``None`` (read it)."""
        task = self._task
        if task is None:
            return None
        if (after, limit) != (self._after, self._limit):
            await self.drop()
            return None
        self._task = None
        return await task  # its storage error is the loop's, as a read's would be

    async def drop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait([task])  # its outcome is dropped with it; a cancel of ours is not
        if not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" warning


class Worker:
    """Drives one projection of a runner: standby until it owns the lease, then batches."""

    def __init__(self, runner: ProjectionRunner, projection: Projection, name: str,
                 version: int, tag_filter: TagFilter) -> None:
        self.runner = runner
        self.projection = projection
        self.name = name
        self.version = version
        self.tag_filter = tag_filter
        self.filter_json = filter_json(tag_filter)
        self.role = "stopped"  # stopped | standby | active
        self.key: EventKey = START_KEY
        self.halted = False  # on_error="stop" hit: hold the lease, handle nothing
        self.task: asyncio.Task[None] | None = None
        self.advanced = asyncio.Event()
        self.retries = 0
        self.ahead = _Ahead()
        #: ``(after, first)``: the batch being committed was read after ``after`` and starts
        #: at ``first`` (while ``self.key == after``, ``first`` is the next event pending).
        self.pending: tuple[EventKey, EventKey] | None = None

    def __repr__(self) -> str:
        return f"<Worker {self.name!r} v{self.version} {self.role} key={self.key!r}>"

    async def run(self) -> None:
        """Take the lease when it is free, run while owned, stand by when fenced."""
        runner = self.runner
        backoff = INFRA_BACKOFF[0]
        # Loop on _running, not forever: stop() clears it before it cancels this task, so
        # a cancellation swallowed on the way (Python 3.11's wait_for inside a library can
        # return a result and drop a cancel arriving in the same tick) still ends the loop.
        while runner._running:
            try:
                row = await runner._store.try_acquire(self.name, self.version, runner.owner,
                                                      runner.lease_s)
                if row is None:
                    self.role = "standby"
                    await asyncio.sleep(runner._standby_poll_s)
                    continue
                self.role = "active"
                await self._owned(row)
                backoff = INFRA_BACKOFF[0]
            except ProjectionFenced as exc:
                self.role = "standby"
                runner._fenced(exc)
                await asyncio.sleep(runner._standby_poll_s)
            except PersistenceError as exc:
                _log.warning("projection %r v%d: %s; retrying in %.2fs", self.name, self.version,
                             exc, backoff)
                runner.last_storage_error = exc
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, INFRA_BACKOFF[1])

    def fence(self, row: Checkpoint | None, what: str) -> ProjectionFenced:
        """The error for finding the row owned by someone else while doing ``what``."""
        owner = row.owner if row is not None else None
        return ProjectionFenced(
            f"projection {self.name!r} v{self.version}: {what}: the checkpoint is owned by "
            f"{owner!r}, not by this runner ({self.runner.owner!r}); nothing was committed",
            name=self.name, version=self.version, owner=owner)

    async def _owned(self, row: Checkpoint) -> None:
        self.ahead = ahead = _Ahead()
        try:
            await self._batches(row, ahead)
        finally:
            self.pending = None
            await ahead.drop()

    async def next_pending(self) -> EventKey | None:
        """While active: the key of the next event this projection follows after its
        checkpoint, when the loop already knows it (the batch being committed, or the
        page read ahead after it); ``None`` when it does not (ask the database)."""
        if self.role != "active":
            return None
        key, pending = self.key, self.pending
        if pending is not None and pending[0] == key:
            return pending[1]
        return await self.ahead.first_after(key)

    async def _batches(self, row: Checkpoint, ahead: _Ahead) -> None:
        runner, store = self.runner, self.runner._store
        await runner.journal.wait_for_appends(0.0)  # start listening for appends now
        await store.setup(self.name, self.version, self.projection.setup)
        self.key, status = row.key, row.status
        self.halted = False
        last_beat = time.monotonic()
        held_pause = HELD_FIRST
        while runner._running:
            if status == "rebuild_requested":
                await ahead.drop()
                started = await store.start_rebuild(
                    self.name, self.version, runner.owner, runner.lease_s,
                    reset=self.projection.reset, tag_filter=self.tag_filter)
                if started is None:
                    raise self.fence(None, "starting a rebuild")
                self.key, status = started.key, started.status
                last_beat = time.monotonic()
                continue
            if status == "paused" or (status == "failed" and self.halted):
                await ahead.drop()
                status = await self.beat("holding a paused or failed projection")
                last_beat = time.monotonic()
                await asyncio.sleep(min(runner.lease_s / 3, runner.poll_interval))
                continue
            rebuilding = status == "rebuilding"
            limit = runner.rebuild_batch_size if rebuilding else runner.batch_size
            events = await ahead.take(self.key, limit)
            if events is None:
                events = await self.read(self.key, limit)
            if events:
                self.pending = (self.key, events[0].key)
                if len(events) == limit:  # more may follow: read them while this commits
                    ahead.start(self, events[-1].key, limit)
                status = await handle(self, events, rebuilding=rebuilding,
                                      finish=rebuilding and len(events) < limit,
                                      keep_error=status == "failed")
                last_beat = time.monotonic()
                held_pause = HELD_FIRST
                continue
            if rebuilding:  # caught up with the rebuild: back to running
                status = await commit(self, [], rebuilding=True, finish=True, keep_error=False)
                last_beat = time.monotonic()
                continue
            if time.monotonic() - last_beat >= runner.lease_s / 3:
                status = await self.beat("renewing the lease")
                last_beat = time.monotonic()
            _, held_back = await runner.journal.visibility_horizon()
            if held_back:
                await runner.journal.wait_for_appends(held_pause)
                held_pause = min(held_pause * 2, HELD_MAX)
            else:
                held_pause = HELD_FIRST
                due = runner.lease_s / 3 - (time.monotonic() - last_beat)
                await runner.journal.wait_for_appends(max(0.0, min(runner.poll_interval, due)))

    async def read(self, after: EventKey, limit: int) -> list[PersistentEvent]:
        """The next ``limit`` events this projection follows after ``after``."""
        return await self.runner.journal.read_by_tag(self.tag_filter, after=after, limit=limit)

    async def beat(self, what: str) -> str:
        """Renew the lease (fenced if the row is no longer ours); the row's status."""
        row = await self.runner._store.heartbeat(self.name, self.version, self.runner.owner,
                                                 self.runner.lease_s)
        if row is None:
            raise self.fence(None, what)
        if row.key != self.key:
            self.key = row.key
        return row.status
