"""One batch transaction, and what happens when ``apply`` raises.

:func:`commit`: one transaction in which ``projection_advance.sql`` moves the checkpoint
from the key the batch was read after to its last key *only if* the row still has that
key and this owner (compare-and-set; no row: fenced, roll back), then
``projection.apply(ctx, events)`` writes the read model through ``ctx.conn`` /
``ctx.journal``; COMMIT (the NOTIFY in the advance wakes ``wait_for``).

:func:`handle`: a failing batch rolls back and is re-applied one event per transaction
to find the failing event (the read model then holds exactly the events before it),
which :func:`failed` stops at, retries, or dead-letters, as ``on_error`` says.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._tag_filter import EventKey
from .._types import PersistentEvent
from ._checkpoint import HandlerFailed
from ._projection import ProjectionContext
from ._settings import RETRY_FIRST

if TYPE_CHECKING:
    from ._worker import Worker

__all__ = ["commit", "error_text", "failed", "handle"]

_log = logging.getLogger("actorpg_lab.projections")


def error_text(exc: BaseException) -> str:
    """``Type: message`` of the handler's error (not of the wrapper)."""
    cause = exc.__cause__ if isinstance(exc, HandlerFailed) and exc.__cause__ else exc
    return f"{type(cause).__name__}: {cause}"


async def commit(worker: Worker, events: list[PersistentEvent], *, rebuilding: bool,
                 finish: bool, keep_error: bool,
                 apply: Callable[[ProjectionContext], Any] | None = None,
                 last: EventKey | None = None) -> str:
    """One batch transaction; returns the row's status after it."""
    runner = worker.runner
    after = worker.key
    if last is None:
        last = events[-1].key if events else after
    projection = worker.projection

    async def default_apply(ctx: ProjectionContext) -> None:
        if events:
            await projection.apply(ctx, events)

    status = await runner._store.run_batch(
        worker.name, worker.version, runner.owner, runner.lease_s, after=after, last=last,
        count=len(events), last_event_ms=events[-1].timestamp if events else None,
        apply=apply or default_apply, rebuilding=rebuilding, finish_rebuild=finish,
        keep_error=keep_error, idle_timeout_s=runner.batch_timeout_s)
    if not status:  # compare-and-set failed: who has the row now?
        rows = await runner._store.read(worker.name, worker.version)
        row = rows[0] if rows else None
        if row is None or row.owner != runner.owner:
            raise worker.fence(row, "committing a batch")
        if row.key != after:
            _log.warning("projection %r v%d: the checkpoint moved under this runner (%r, "
                         "expected %r); continuing from it", worker.name, worker.version,
                         row.key, after)
        worker.key = row.key
        return row.status
    worker.key = last
    worker.retries = 0
    worker.advanced.set()
    worker.advanced = asyncio.Event()
    runner._advanced()
    return status


async def handle(worker: Worker, events: list[PersistentEvent], *, rebuilding: bool,
                 finish: bool, keep_error: bool) -> str:
    """Commit ``events`` as one batch; if ``apply`` raises, find the failing event."""
    try:
        return await commit(worker, events, rebuilding=rebuilding, finish=finish,
                            keep_error=keep_error)
    except HandlerFailed as exc:
        first_error: HandlerFailed = exc
    # Find the failing event: one transaction per event up to it (each exactly once).
    status = "running"
    for i, event in enumerate(events):
        try:
            status = await commit(worker, [event], rebuilding=rebuilding,
                                  finish=finish and i == len(events) - 1, keep_error=keep_error)
        except HandlerFailed as exc:
            return await failed(worker, event, exc, rebuilding=rebuilding)
    _log.info("projection %r v%d: a batch failed (%s) but each event passed alone",
              worker.name, worker.version, error_text(first_error))
    return status


async def failed(worker: Worker, event: PersistentEvent, exc: HandlerFailed, *,
                 rebuilding: bool) -> str:
    """``event`` failed alone: stop at it, retry it after a back-off, or dead-letter it."""
    runner, store = worker.runner, worker.runner._store
    error = error_text(exc)
    pid, seq = event.persistence_id, event.sequence_nr
    _log.warning("projection %r v%d failed at %r #%d (%s): on_error=%r", worker.name,
                 worker.version, pid, seq, error, runner.on_error)
    if runner.on_error == "skip":
        async def letter(ctx: ProjectionContext) -> None:
            await store.dead_letter(ctx, pid=pid, seq=seq, position=event.position, error=error)

        return await commit(worker, [], rebuilding=rebuilding, finish=False, keep_error=False,
                            apply=letter, last=event.key)
    stop = runner.on_error == "stop"
    row = await store.record_error(worker.name, worker.version, runner.owner, pid=pid, seq=seq,
                                   error=error, failed=stop)
    if row is None:
        raise worker.fence(None, "recording a failure")
    if stop:
        worker.halted = True
        return row.status
    delay = min(RETRY_FIRST * 2 ** worker.retries, runner.retry_max_s)
    worker.retries += 1
    await asyncio.sleep(delay)
    return row.status
