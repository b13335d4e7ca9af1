"""The projection runner: one task per projection, exactly-once batches, leases, errors.

Follow one batch (see :mod:`actorpg_lab.projections` for why each step is correct):

1. the worker owns the projection's checkpoint row (a lease on the server clock);
2. it reads the next events after the checkpoint key with ``journal.read_by_tag``
   (exact keys below the visibility horizon: never skipped behind a late commit);
3. one transaction: ``projection_advance.sql`` moves the checkpoint from the key read
   after to the last event's key *only if* the row still has that key and this owner
   (compare-and-set; no row: fenced, roll back), then ``projection.apply(ctx, events)``
   writes the read model through ``ctx.conn`` / ``ctx.journal``; COMMIT (the NOTIFY in
   the advance wakes ``wait_for``);
4. a failing ``apply`` rolls back; the events are then applied one at a time to find
   the failing one, which ``on_error`` stops at, retries, or dead-letters.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from .._errors import (
    PersistenceError,
    ProjectionConfigError,
    ProjectionError,
    ProjectionFenced,
    ProjectionLagTimeout,
)
from .._protocols import Journal
from .._tag_filter import START_KEY, EventKey, TagFilter
from .._types import PersistentEvent
from ..query import PersistenceQuery, TagOffset
from ._checkpoint import Checkpoint, CheckpointStore, DeadLetter, HandlerFailed
from ._projection import Projection, ProjectionContext, check_projection, filter_json
from ._status import Blocker, ProjectionStatus, derive_state, to_datetime

__all__ = ["ProjectionRunner", "checkpoint_store"]

_log = logging.getLogger("actorpg_lab.projections")

ON_ERROR = ("stop", "retry", "skip")
#: Lag is counted up to this many events (``lag_capped`` beyond).
LAG_CAP = 10_000
#: Back-off after a storage failure (first, longest; seconds).
_INFRA_BACKOFF = (0.05, 2.0)
#: First back-off of on_error="retry" (doubling up to ``retry_max_s``).
_RETRY_FIRST = 0.1
#: How often a live query re-checks while events are held back (first, longest).
_HELD_FIRST, _HELD_MAX = 0.002, 0.1


def checkpoint_store(journal: Journal, checkpoints_table: str, *,
                     auto_create_tables: bool = True) -> CheckpointStore:
    """The checkpoint store that goes with ``journal`` (PostgreSQL or in-memory)."""
    from ..memory import InMemoryJournal

    if isinstance(journal, InMemoryJournal):
        from ._memory_store import MemoryCheckpointStore

        return MemoryCheckpointStore(journal, checkpoints_table)
    from ..postgres import PostgresJournal

    if isinstance(journal, PostgresJournal):
        from ._postgres_store import PostgresCheckpointStore

        return PostgresCheckpointStore(journal, checkpoints_table,
                                       auto_create_tables=auto_create_tables)
    raise TypeError(f"journal must be a PostgresJournal or an InMemoryJournal, got "
                    f"{type(journal).__name__}: {journal!r:.200}")


def _check_seconds(name: str, value: object, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}: {value!r}")
    if not value > minimum:
        raise ValueError(f"{name} must be more than {minimum}: {value!r}")
    return float(value)


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}: {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1: {value!r}")
    return value


def _error_text(exc: BaseException) -> str:
    cause = exc.__cause__ if isinstance(exc, HandlerFailed) and exc.__cause__ else exc
    return f"{type(cause).__name__}: {cause}"


class _Worker:
    """Drives one projection: standby until it owns the lease, then batches."""

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

    def __repr__(self) -> str:
        return f"<_Worker {self.name!r} v{self.version} {self.role} key={self.key!r}>"

    # -- the loop ---------------------------------------------------------------------------
    async def run(self) -> None:
        runner = self.runner
        backoff = _INFRA_BACKOFF[0]
        while True:
            try:
                row = await runner._store.try_acquire(self.name, self.version, runner.owner,
                                                      runner.lease_s)
                if row is None:
                    self.role = "standby"
                    await asyncio.sleep(runner._standby_poll_s)
                    continue
                self.role = "active"
                await self._owned(row)
                backoff = _INFRA_BACKOFF[0]
            except ProjectionFenced as exc:
                self.role = "standby"
                runner._fenced(exc)
                await asyncio.sleep(runner._standby_poll_s)
            except PersistenceError as exc:
                _log.warning("projection %r v%d: %s; retrying in %.2fs", self.name, self.version,
                             exc, backoff)
                runner.last_storage_error = exc
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _INFRA_BACKOFF[1])

    def _fence(self, row: Checkpoint | None, what: str) -> ProjectionFenced:
        owner = row.owner if row is not None else None
        return ProjectionFenced(
            f"projection {self.name!r} v{self.version}: {what}: the checkpoint is owned by "
            f"{owner!r}, not by this runner ({self.runner.owner!r}); nothing was committed",
            name=self.name, version=self.version, owner=owner)

    async def _owned(self, row: Checkpoint) -> None:
        runner, store = self.runner, self.runner._store
        await runner.journal.wait_for_appends(0.0)  # start listening for appends now
        await store.setup(self.name, self.version, self.projection.setup)
        self.key, status = row.key, row.status
        self.halted = False
        last_beat = time.monotonic()
        held_pause = _HELD_FIRST
        while True:
            if status == "rebuild_requested":
                started = await store.start_rebuild(
                    self.name, self.version, runner.owner, runner.lease_s,
                    reset=self.projection.reset, tag_filter=self.tag_filter)
                if started is None:
                    raise self._fence(None, "starting a rebuild")
                self.key, status = started.key, started.status
                last_beat = time.monotonic()
                continue
            if status == "paused" or (status == "failed" and self.halted):
                status = await self._beat("holding a paused or failed projection")
                last_beat = time.monotonic()
                await runner._sleep_or_stop(min(runner.lease_s / 3, runner.poll_interval))
                continue
            rebuilding = status == "rebuilding"
            limit = runner.rebuild_batch_size if rebuilding else runner.batch_size
            events = await runner.journal.read_by_tag(self.tag_filter, after=self.key, limit=limit)
            if events:
                status = await self._handle(events, rebuilding=rebuilding,
                                            finish=rebuilding and len(events) < limit,
                                            keep_error=status == "failed")
                last_beat = time.monotonic()
                held_pause = _HELD_FIRST
                continue
            if rebuilding:  # caught up with the rebuild: back to running
                status = await self._commit([], rebuilding=True, finish=True, keep_error=False)
                last_beat = time.monotonic()
                continue
            if time.monotonic() - last_beat >= runner.lease_s / 3:
                status = await self._beat("renewing the lease")
                last_beat = time.monotonic()
            _, held_back = await runner.journal.visibility_horizon()
            if held_back:
                await runner.journal.wait_for_appends(held_pause)
                held_pause = min(held_pause * 2, _HELD_MAX)
            else:
                held_pause = _HELD_FIRST
                due = runner.lease_s / 3 - (time.monotonic() - last_beat)
                await runner.journal.wait_for_appends(max(0.0, min(runner.poll_interval, due)))

    async def _beat(self, what: str) -> str:
        row = await self.runner._store.heartbeat(self.name, self.version, self.runner.owner,
                                                 self.runner.lease_s)
        if row is None:
            raise self._fence(None, what)
        if row.key != self.key:
            self.key = row.key
        return row.status

    async def _commit(self, events: list[PersistentEvent], *, rebuilding: bool, finish: bool,
                      keep_error: bool, apply: Callable[[ProjectionContext], Any] | None = None,
                      last: EventKey | None = None) -> str:
        """One batch transaction; returns the row's status after it."""
        runner = self.runner
        after = self.key
        if last is None:
            last = events[-1].key if events else after
        projection = self.projection

        async def default_apply(ctx: ProjectionContext) -> None:
            if events:
                await projection.apply(ctx, events)

        status = await runner._store.run_batch(
            self.name, self.version, runner.owner, runner.lease_s, after=after, last=last,
            count=len(events), last_event_ms=events[-1].timestamp if events else None,
            apply=apply or default_apply, rebuilding=rebuilding, finish_rebuild=finish,
            keep_error=keep_error, idle_timeout_s=runner.batch_timeout_s)
        if not status:  # compare-and-set failed: who has the row now?
            rows = await runner._store.read(self.name, self.version)
            row = rows[0] if rows else None
            if row is None or row.owner != runner.owner:
                raise self._fence(row, "committing a batch")
            if row.key != after:
                _log.warning("projection %r v%d: the checkpoint moved under this runner (%r, "
                             "expected %r); continuing from it", self.name, self.version,
                             row.key, after)
            self.key = row.key
            return row.status
        self.key = last
        self.retries = 0
        self.advanced.set()
        self.advanced = asyncio.Event()
        runner._advanced()
        return status

    async def _handle(self, events: list[PersistentEvent], *, rebuilding: bool, finish: bool,
                      keep_error: bool) -> str:
        try:
            return await self._commit(events, rebuilding=rebuilding, finish=finish,
                                      keep_error=keep_error)
        except HandlerFailed as exc:
            first_error: HandlerFailed = exc
        # Find the failing event: one transaction per event up to it (each exactly once).
        status = "running"
        for i, event in enumerate(events):
            try:
                status = await self._commit(
                    [event], rebuilding=rebuilding,
                    finish=finish and i == len(events) - 1, keep_error=keep_error)
            except HandlerFailed as exc:
                return await self._failed(event, exc, rebuilding=rebuilding)
        _log.info("projection %r v%d: a batch failed (%s) but each event passed alone",
                  self.name, self.version, _error_text(first_error))
        return status

    async def _failed(self, event: PersistentEvent, exc: HandlerFailed, *,
                      rebuilding: bool) -> str:
        runner, store = self.runner, self.runner._store
        error = _error_text(exc)
        pid, seq = event.persistence_id, event.sequence_nr
        _log.warning("projection %r v%d failed at %r #%d (%s): on_error=%r", self.name,
                     self.version, pid, seq, error, runner.on_error)
        if runner.on_error == "skip":
            async def letter(ctx: ProjectionContext) -> None:
                await store.dead_letter(ctx, pid=pid, seq=seq, position=event.position,
                                        error=error)

            return await self._commit([], rebuilding=rebuilding, finish=False, keep_error=False,
                                      apply=letter, last=event.key)
        failed = runner.on_error == "stop"
        row = await store.record_error(self.name, self.version, runner.owner, pid=pid, seq=seq,
                                       error=error, failed=failed)
        if row is None:
            raise self._fence(None, "recording a failure")
        if failed:
            self.halted = True
            return row.status
        delay = min(_RETRY_FIRST * 2 ** self.retries, runner.retry_max_s)
        self.retries += 1
        await runner._sleep_or_stop(delay)
        return row.status


class ProjectionRunner:
    """Runs projections over a journal: each batch and its checkpoint commit together
    (exactly once), one active runner per projection across processes (the others
    stand by and take over), errors stopped at / retried / dead-lettered.

    :param journal: a :class:`~actorpg_lab.postgres.PostgresJournal` (checkpoints in
        ``checkpoints_table`` of its database) or an :class:`~actorpg_lab.InMemoryJournal`.
    :param projections: the :class:`Projection` instances (distinct ``(name, version)``).
    :param batch_size: events per batch transaction.
    :param rebuild_batch_size: events per batch while rebuilding.
    :param on_error: ``"stop"`` (state ``failed``), ``"retry"`` (back off, doubling up to
        ``retry_max_s``), ``"skip"`` (dead-letter the event, move on).
    :param checkpoints_table: the checkpoint table (dead letters in
        ``<checkpoints_table>_dead_letters``).
    :param lease_s: the lease; a standby takes over at most about ``lease_s + 0.5`` s after
        the owner died (at once after a clean :meth:`stop`).
    :param stall_after_s: events waiting and no commit for this long: ``stalled``.
    :param owner: this runner's owner id (default ``host:pid:random``).
    :param batch_timeout_s: a batch transaction (a hung handler) is cut off after this.
    :param poll_interval: the longest an idle runner sleeps between checks.
    """

    def __init__(
        self,
        journal: Journal,
        projections: Sequence[Projection] | Projection,
        *,
        batch_size: int = 500,
        rebuild_batch_size: int = 5000,
        on_error: str = "stop",
        checkpoints_table: str = "projection_checkpoints",
        lease_s: float = 5.0,
        stall_after_s: float = 30.0,
        owner: str | None = None,
        batch_timeout_s: float = 60.0,
        retry_max_s: float = 30.0,
        poll_interval: float = 1.0,
        auto_create_tables: bool = True,
    ) -> None:
        if isinstance(projections, Projection):
            projections = [projections]
        if isinstance(projections, (str, bytes)) or not isinstance(projections, Sequence):
            raise TypeError(f"projections must be a list of Projection, got "
                            f"{type(projections).__name__}: {projections!r:.200}")
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {', '.join(map(repr, ON_ERROR))}: "
                             f"{on_error!r}")
        if owner is not None and (not isinstance(owner, str) or not owner or "\x00" in owner):
            raise ValueError(f"owner must be a non-empty str without NUL: {owner!r}")
        self.journal = journal
        self.batch_size = _check_size("batch_size", batch_size)
        self.rebuild_batch_size = _check_size("rebuild_batch_size", rebuild_batch_size)
        self.on_error = on_error
        self.lease_s = _check_seconds("lease_s", lease_s, minimum=0.05)
        self.stall_after_s = _check_seconds("stall_after_s", stall_after_s)
        self.batch_timeout_s = _check_seconds("batch_timeout_s", batch_timeout_s)
        self.retry_max_s = _check_seconds("retry_max_s", retry_max_s)
        self.poll_interval = _check_seconds("poll_interval", poll_interval)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.checkpoints_table = checkpoints_table
        self._store = checkpoint_store(journal, checkpoints_table,
                                       auto_create_tables=auto_create_tables)
        self._standby_poll_s = min(0.5, self.lease_s / 4)
        self._workers: dict[str, _Worker] = {}
        for projection in projections:
            name, version, tag_filter = check_projection(projection)
            if name in self._workers:
                raise ValueError(f"two projections named {name!r} in one runner")
            self._workers[name] = _Worker(self, projection, name, version, tag_filter)
        self._running = False
        self._stopping: asyncio.Event | None = None
        self._local_advanced: asyncio.Event | None = None
        #: The last :class:`~actorpg_lab.ProjectionFenced` errors (newest last), and a count.
        self.fenced: list[ProjectionFenced] = []
        self.fenced_count = 0
        #: The last storage failure a worker backed off from (``None``: none yet).
        self.last_storage_error: PersistenceError | None = None

    def __repr__(self) -> str:
        roles = ", ".join(f"{w.name}:{w.role}" for w in self._workers.values())
        return (f"<ProjectionRunner owner={self.owner!r} {'running' if self._running else 'stopped'}"
                f" [{roles}] journal={self.journal!r}>")

    @property
    def projections(self) -> list[Projection]:
        return [w.projection for w in self._workers.values()]

    @property
    def running(self) -> bool:
        return self._running

    def role(self, name: str) -> str:
        """``"active"``, ``"standby"`` or ``"stopped"``: what this runner does for ``name``."""
        return self._worker(name).role

    def _worker(self, name: str) -> _Worker:
        try:
            return self._workers[name]
        except KeyError:
            raise ValueError(f"no projection named {name!r} in this runner (it runs "
                             f"{', '.join(map(repr, self._workers)) or 'none'})") from None

    def _fenced(self, exc: ProjectionFenced) -> None:
        _log.warning("%s", exc)
        self.fenced_count += 1
        self.fenced = [*self.fenced[-9:], exc]

    def _advanced(self) -> None:
        if self._local_advanced is not None:
            self._local_advanced.set()
            self._local_advanced = asyncio.Event()

    async def _sleep_or_stop(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    # -- lifecycle ------------------------------------------------------------------------
    async def _ensure(self) -> None:
        for worker in self._workers.values():
            row = await self._store.ensure(worker.name, worker.version, worker.filter_json)
            if row.tag_filter != worker.filter_json:
                raise ProjectionConfigError(
                    f"projection {worker.name!r} v{worker.version}: tag_filter "
                    f"{worker.projection.tag_filter!r} (stored as {worker.filter_json}) differs "
                    f"from the one its checkpoint was built with ({row.tag_filter}); a changed "
                    f"tag_filter needs a new version (bump {type(worker.projection).__name__}"
                    f".version to rebuild beside the old read model)",
                    name=worker.name, version=worker.version)

    async def start(self) -> ProjectionRunner:
        """Check the checkpoints (creating missing ones) and start every projection's
        worker; returns at once (standby or active)."""
        if self._running:
            return self
        await self._ensure()
        self._local_advanced = asyncio.Event()
        for worker in self._workers.values():
            worker.role = "standby"
            worker.task = asyncio.create_task(worker.run(), name=f"projection:{worker.name}")
        self._running = True
        return self

    async def stop(self) -> None:
        """Stop every worker (a batch in flight rolls back) and release the leases so a
        standby takes over at once.  Idempotent."""
        if not self._running:
            return
        self._running = False
        tasks = [w.task for w in self._workers.values() if w.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for worker in self._workers.values():
            worker.task = None
            was_active = worker.role == "active"
            worker.role = "stopped"
            if was_active:
                try:
                    await self._store.release(worker.name, worker.version, self.owner)
                except PersistenceError as exc:
                    _log.warning("projection %r: releasing the lease failed (%s); it runs out "
                                 "in %.1fs", worker.name, exc, self.lease_s)
        await self._store.close()

    async def __aenter__(self) -> ProjectionRunner:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    # -- waiting ----------------------------------------------------------------------------
    @staticmethod
    def _target_key(target: object) -> EventKey:
        if isinstance(target, PersistentEvent):
            return target.key
        if isinstance(target, TagOffset):
            return target.key
        if isinstance(target, (list, tuple)) and target and all(
                isinstance(e, PersistentEvent) for e in target):
            keys: list[EventKey] = [e.key for e in target]
            return max(keys)
        if isinstance(target, tuple) and len(target) == 3:
            from .._tag_filter import check_event_key

            return check_event_key(target)
        raise TypeError(
            "wait_for expects the list append returned, a PersistentEvent, a TagOffset or a "
            f"(position, persistence_id, sequence_nr) key, got {type(target).__name__}: "
            f"{target!r:.200}")

    async def _reached(self, worker: _Worker, target: EventKey) -> bool:
        if worker.role == "active" and worker.key >= target:
            return True
        rows = await self._store.read(worker.name, worker.version)
        if not rows:
            return False
        row = rows[0]
        if row.status in ("rebuilding", "rebuild_requested"):
            return False
        key = row.key
        if key >= target:
            return True
        horizon, _ = await self.journal.visibility_horizon()
        if horizon <= target[0]:
            return False  # the target may still be preceded by a late commit
        nxt = await self.journal.read_by_tag(worker.tag_filter, after=key, limit=1)
        return not nxt or nxt[0].key > target

    async def wait_for(self, target: object, timeout: float = 10.0, *,
                       name: str | None = None) -> None:
        """Return once every projection of this runner (or only ``name``) has handled
        ``target`` — the list ``append`` returned, a :class:`PersistentEvent`, or a
        :class:`~actorpg_lab.query.TagOffset` — and everything before it that it follows.

        Events a projection does not follow count as handled once the visibility horizon
        has passed them and nothing it follows before them is pending.  Woken by the
        batches' NOTIFY (and this process's own commits), not by polling, except while
        an open transaction holds the horizon back.  Raises
        :class:`~actorpg_lab.ProjectionLagTimeout` (carrying the statuses of the
        projections still behind) after ``timeout`` seconds.
        """
        key = self._target_key(target)
        timeout = _check_seconds("timeout", timeout) if timeout != 0 else 0.0
        workers = [self._worker(name)] if name is not None else list(self._workers.values())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pending = list(workers)
        pause = _HELD_FIRST
        # LISTEN first, then check: a commit after the check cannot go unnoticed.
        await self._store.listen(max(0.0, min(timeout, 10.0)))
        while True:
            local = self._local_advanced
            still = []
            for worker in pending:
                if not await self._reached(worker, key):
                    still.append(worker)
            pending = still
            if not pending:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                statuses = tuple([await self._status_of(w) for w in pending])
                lag = ", ".join(f"{s.name!r}: {s.state}, {s.lag_events}"
                                f"{'+' if s.lag_capped else ''} events / {s.lag_seconds:.2f}s behind"
                                for s in statuses)
                raise ProjectionLagTimeout(
                    f"wait_for({key!r}) timed out after {timeout}s ({lag})", lag=statuses)
            horizon, _ = await self.journal.visibility_horizon()
            if horizon <= key[0]:  # held back: the end of a non-append sends no NOTIFY
                wait = min(pause, remaining)
                pause = min(pause * 2, _HELD_MAX)
            else:
                wait = remaining
            waiters: list[asyncio.Task[Any]] = [
                asyncio.ensure_future(self._store.wait_advanced(wait))]
            if local is not None:
                waiters.append(asyncio.ensure_future(local.wait()))
            try:
                await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
                for waiter in waiters:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await waiter

    # -- status -------------------------------------------------------------------------------
    async def _status_of(self, worker: _Worker) -> ProjectionStatus:
        rows = await self._store.read(worker.name, worker.version)
        if not rows:
            row = await self._store.ensure(worker.name, worker.version, worker.filter_json)
        else:
            row = rows[0]
        return await self._status_row(row, worker.tag_filter,
                                      standby=worker.role == "standby" and row.lease_live
                                      and row.owner != self.owner)

    async def _status_row(self, row: Checkpoint, tag_filter: TagFilter, *,
                          standby: bool = False) -> ProjectionStatus:
        query = PersistenceQuery(self.journal, page_size=1000)
        offset = TagOffset(*row.key) if row.persistence_id else TagOffset(row.position)
        lag = await query.lag(tag_filter, offset, limit=LAG_CAP)
        state = derive_state(row, lag_events=lag.events, held_back=lag.held_back,
                             stall_after_s=self.stall_after_s, standby=standby)
        blocker = None
        if lag.held_back:
            found = await self._store.blocker()
            if found is not None:
                blocker = Blocker(*found)
        progress = None
        if row.status in ("rebuilding", "rebuild_requested"):
            if row.status == "rebuild_requested":
                progress = 0.0
            elif row.rebuild_total:
                progress = min(1.0, row.handled / row.rebuild_total)
            elif row.rebuild_horizon:
                progress = min(1.0, row.position / row.rebuild_horizon)
            else:
                progress = 1.0 if row.rebuild_total == 0 else 0.0
        failed_event = ((row.error_pid, int(row.error_seq))
                        if row.error_pid is not None and row.error_seq is not None else None)
        since = row.committed_ms
        return ProjectionStatus(
            name=row.name, version=row.version, state=state, offset=offset,
            lag_events=lag.events, lag_seconds=lag.lag_ms / 1000, owner=row.owner,
            updated_at=to_datetime(row.updated_ms), last_error=row.error,
            failed_event=failed_event, rebuild_progress=progress, lag_capped=lag.capped,
            handled=row.handled,
            heartbeat_age_seconds=(None if row.heartbeat_ms is None
                                   else max(0.0, (row.now_ms - row.heartbeat_ms) / 1000)),
            commit_age_seconds=None if since is None else max(0.0, (row.now_ms - since) / 1000),
            blocker=blocker)

    async def status(self) -> list[ProjectionStatus]:
        """The status of every projection of this runner (see :class:`ProjectionStatus`)."""
        return [await self._status_of(w) for w in self._workers.values()]

    async def dead_letters(self, name: str | None = None) -> list[DeadLetter]:
        """The events ``on_error="skip"`` moved past (of ``name``'s current version, or of
        every projection of this runner's checkpoint table)."""
        if name is None:
            return await self._store.dead_letters()
        worker = self._worker(name)
        return await self._store.dead_letters(worker.name, worker.version)

    # -- control --------------------------------------------------------------------------------
    async def _set(self, name: str, status: str, from_: tuple[str, ...]) -> Checkpoint | None:
        worker = self._worker(name)
        await self._store.ensure(worker.name, worker.version, worker.filter_json)
        return await self._store.set_status(worker.name, worker.version, status, from_)

    async def pause(self, name: str) -> None:
        """Pause ``name`` (any process): its owner handles nothing until :meth:`resume`."""
        await self._set(name, "paused", ("running", "failed"))

    async def resume(self, name: str) -> None:
        """Resume a paused projection."""
        await self._set(name, "running", ("paused",))

    async def rebuild(self, name: str, progress: Any = None, *, timeout: float | None = None) -> None:
        """Empty ``name``'s read model (``reset``) and replay every event, in batches of
        ``rebuild_batch_size``; returns when the rebuild has caught up.

        The rebuild is driven by the projection's owner (this runner or one in another
        process); it survives a crash (the next owner continues from the last committed
        batch), and calling ``rebuild`` while one runs waits for it instead of starting
        over.  ``progress``: ``None``, a callable ``progress(status)`` called as batches
        commit, or ``True`` for a tqdm bar.
        """
        worker = self._worker(name)
        await self._store.ensure(worker.name, worker.version, worker.filter_json)
        requested = await self._store.set_status(worker.name, worker.version,
                                                 "rebuild_requested",
                                                 ("running", "failed", "paused"))
        if requested is None:
            rows = await self._store.read(worker.name, worker.version)
            if not rows or rows[0].status not in ("rebuilding", "rebuild_requested"):
                raise ProjectionError(f"projection {name!r} v{worker.version} cannot be rebuilt "
                                      f"now (status {rows[0].status if rows else None!r})",
                                      name=name, version=worker.version)
        report = _progress_reporter(progress, name)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        try:
            while True:
                rows = await self._store.read(worker.name, worker.version)
                row = rows[0]
                done = row.status not in ("rebuilding", "rebuild_requested")
                if report is not None:
                    status = await self._status_row(row, worker.tag_filter)
                    report(dataclasses.replace(status, rebuild_progress=1.0) if done else status)
                if done:
                    return
                if deadline is not None and loop.time() > deadline:
                    raise ProjectionLagTimeout(
                        f"rebuild of {name!r} v{worker.version} not done after {timeout}s",
                        lag=(await self._status_row(row, worker.tag_filter),))
                await self._store.wait_advanced(0.25)
        finally:
            if report is not None:
                report(None)


def _progress_reporter(progress: Any, name: str) -> Callable[[ProjectionStatus | None], None] | None:
    """``progress`` as a callback taking a status (``None`` at the end)."""
    if progress is None or progress is False:
        return None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=100, desc=f"rebuild {name}", unit="%")

        def update(status: ProjectionStatus | None) -> None:
            if status is None:
                bar.close()
                return
            done = round(100 * (status.rebuild_progress if status.rebuild_progress is not None
                                else 1.0))
            bar.update(max(0, done - bar.n))

        return update
    if not callable(progress):
        raise TypeError(f"progress must be None, True or a callable, got {progress!r:.200}")

    def call(status: ProjectionStatus | None) -> None:
        if status is not None:
            progress(status)

    return call
