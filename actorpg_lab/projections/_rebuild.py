"""Rebuild: reset the read model and replay every event, with progress.

Asking for a rebuild only sets the checkpoint's status to ``rebuild_requested``: the
projection's owner (in this process or another) runs ``reset`` and rewinds the
checkpoint in one transaction, then replays in batches of ``rebuild_batch_size``.  A
crash mid-rebuild leaves the last committed batch: the next owner continues from it.
:func:`rebuild` waits for it to finish, reporting progress as batches commit.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._errors import ProjectionError, ProjectionLagTimeout
from ._health import status_from_row
from ._status import ProjectionStatus

if TYPE_CHECKING:
    from ._runner import ProjectionRunner
    from ._worker import Worker

__all__ = ["progress_reporter", "rebuild"]


async def rebuild(runner: ProjectionRunner, worker: Worker, progress: Any = None, *,
                  timeout: float | None = None) -> None:
    """Request a rebuild of ``worker``'s projection (or join the one running) and wait
    until it has caught up; ``progress`` as in :meth:`ProjectionRunner.rebuild`."""
    store, name = runner._store, worker.name
    await store.ensure(name, worker.version, worker.filter_json)
    requested = await store.set_status(name, worker.version, "rebuild_requested",
                                       ("running", "failed", "paused"))
    if requested is None:
        rows = await store.read(name, worker.version)
        if not rows or rows[0].status not in ("rebuilding", "rebuild_requested"):
            raise ProjectionError(f"projection {name!r} v{worker.version} cannot be rebuilt "
                                  f"now (status {rows[0].status if rows else None!r})",
                                  name=name, version=worker.version)
    report = progress_reporter(progress, name)
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout

    async def status_now(row: Any) -> ProjectionStatus:
        return await status_from_row(runner.journal, store, row, worker.tag_filter,
                                     stall_after_s=runner.stall_after_s)

    try:
        while True:
            row = (await store.read(name, worker.version))[0]
            done = row.status not in ("rebuilding", "rebuild_requested")
            if report is not None:
                status = await status_now(row)
                report(dataclasses.replace(status, rebuild_progress=1.0) if done else status)
            if done:
                return
            if deadline is not None and loop.time() > deadline:
                raise ProjectionLagTimeout(
                    f"rebuild of {name!r} v{worker.version} not done after {timeout}s",
                    lag=(await status_now(row),))
            await store.wait_advanced(0.25)
    finally:
        if report is not None:
            report(None)


def progress_reporter(progress: Any, name: str) -> Callable[[ProjectionStatus | None], None] | None:
    """``progress`` (None, True for a tqdm bar, or a callable taking a status) as a
    callback taking a status, or ``None`` at the end."""
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
