"""The projection runner: one worker per projection, started, stopped and asked.

Where each part lives (see :mod:`actorpg_lab.projections` for why each step is correct):

* :mod:`._worker` — the lease: standby until this runner owns the checkpoint row, the
  batch loop and the heartbeat while it does;
* :mod:`._batch` — one batch transaction (checkpoint compare-and-set + ``apply``), and
  ``on_error`` when ``apply`` raises;
* :mod:`._health` — the status: state, lag in events and seconds, the blocker;
* :mod:`._wait` — ``wait_for`` (read your writes); :mod:`._rebuild` — reset + replay.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from .._errors import PersistenceError, ProjectionConfigError, ProjectionFenced
from .._protocols import Journal
from ._checkpoint import DeadLetter
from ._health import status_of
from ._projection import Projection, check_projection
from ._rebuild import rebuild
from ._settings import ON_ERROR, check_seconds, check_size
from ._status import ProjectionStatus
from ._stores import checkpoint_store
from ._wait import wait_for
from ._worker import Worker

__all__ = ["ProjectionRunner"]

_log = logging.getLogger("actorpg_lab.projections")


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
        self.batch_size = check_size("batch_size", batch_size)
        self.rebuild_batch_size = check_size("rebuild_batch_size", rebuild_batch_size)
        self.on_error = on_error
        self.lease_s = check_seconds("lease_s", lease_s, minimum=0.05)
        self.stall_after_s = check_seconds("stall_after_s", stall_after_s)
        self.batch_timeout_s = check_seconds("batch_timeout_s", batch_timeout_s)
        self.retry_max_s = check_seconds("retry_max_s", retry_max_s)
        self.poll_interval = check_seconds("poll_interval", poll_interval)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.checkpoints_table = checkpoints_table
        self._store = checkpoint_store(journal, checkpoints_table,
                                       auto_create_tables=auto_create_tables)
        self._standby_poll_s = min(0.5, self.lease_s / 4)
        self._workers: dict[str, Worker] = {}
        for projection in projections:
            name, version, tag_filter = check_projection(projection)
            if name in self._workers:
                raise ValueError(f"two projections named {name!r} in one runner")
            self._workers[name] = Worker(self, projection, name, version, tag_filter)
        self._running = False
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

    def _worker(self, name: str) -> Worker:
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
            await _finish(task)
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

    # -- asking -------------------------------------------------------------------------------
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
        workers = [self._worker(name)] if name is not None else list(self._workers.values())
        await wait_for(self, workers, target, timeout)

    async def status(self) -> list[ProjectionStatus]:
        """The status of every projection of this runner (see :class:`ProjectionStatus`)."""
        return [await status_of(self, w) for w in self._workers.values()]

    async def dead_letters(self, name: str | None = None) -> list[DeadLetter]:
        """The events ``on_error="skip"`` moved past (of ``name``'s current version, or of
        every projection of this runner's checkpoint table)."""
        if name is None:
            return await self._store.dead_letters()
        worker = self._worker(name)
        return await self._store.dead_letters(worker.name, worker.version)

    # -- control --------------------------------------------------------------------------------
    async def _set(self, name: str, status: str, from_: tuple[str, ...]) -> None:
        worker = self._worker(name)
        await self._store.ensure(worker.name, worker.version, worker.filter_json)
        await self._store.set_status(worker.name, worker.version, status, from_)

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
        commit, or ``True`` for a tqdm bar.  ``timeout``: raise
        :class:`~actorpg_lab.ProjectionLagTimeout` if not done after that many seconds
        (the rebuild goes on).
        """
        await rebuild(self, self._worker(name), progress, timeout=timeout)


async def _finish(task: asyncio.Task[None]) -> None:
    """Wait for a cancelled worker task to end, cancelling it again while it runs: a
    cancellation swallowed inside a library must not leave ``stop()`` waiting forever
    (the worker's loops also end at their next turn once ``_running`` is false)."""
    while not task.done():
        await asyncio.wait([task], timeout=_RECANCEL_S)
        if not task.done():
            _log.debug("projection task %s still running after cancel; cancelling again",
                       task.get_name())
            task.cancel()
    if not task.cancelled() and task.exception() is not None:
        _log.debug("projection task %s ended with %r", task.get_name(), task.exception())


#: How long ``stop()`` waits for a cancelled worker before cancelling it again.
_RECANCEL_S = 0.5
