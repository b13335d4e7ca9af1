"""Read your writes: ``ProjectionRunner.wait_for``, woken by the batches' NOTIFY.

LISTEN first, then check, so that a commit after the check cannot go unnoticed.  A
projection has handled a target key when its checkpoint is at or past it, or when the
visibility horizon has passed the target (no late commit can still precede it) and the
next event it follows after its checkpoint comes after the target (or there is none).
Only while an open transaction holds the horizon back does it re-check on a timer: the
end of a transaction that appended nothing sends no NOTIFY.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .._errors import ProjectionLagTimeout
from .._tag_filter import EventKey, check_event_key
from .._types import PersistentEvent
from ..query import TagOffset
from ._health import status_of
from ._settings import HELD_FIRST, HELD_MAX, check_seconds

if TYPE_CHECKING:
    from ._runner import ProjectionRunner
    from ._worker import Worker

__all__ = ["target_key", "wait_for"]


def target_key(target: object) -> EventKey:
    """The key to wait for: the last of the list ``append`` returned, an event's, a
    :class:`TagOffset`'s, or a ``(position, persistence_id, sequence_nr)`` key."""
    if isinstance(target, PersistentEvent):
        return target.key
    if isinstance(target, TagOffset):
        return target.key
    if isinstance(target, (list, tuple)) and target and all(
            isinstance(e, PersistentEvent) for e in target):
        keys: list[EventKey] = [e.key for e in target]
        return max(keys)
    if isinstance(target, tuple) and len(target) == 3:
        return check_event_key(target)
    raise TypeError(
        "wait_for expects the list append returned, a PersistentEvent, a TagOffset or a "
        f"(position, persistence_id, sequence_nr) key, got {type(target).__name__}: "
        f"{target!r:.200}")


async def _reached(runner: ProjectionRunner, worker: Worker, target: EventKey) -> bool | None:
    """Whether ``worker`` has handled ``target``; ``None``: not yet, and this runner's own
    worker is about to commit an event at or before it (no query needed: its commit
    wakes the waiter)."""
    if worker.role == "active":
        if worker.key >= target:
            return True
        pending = await worker.next_pending()
        if pending is not None and pending <= target:
            return None
    rows = await runner._store.read(worker.name, worker.version)
    if not rows:
        return False
    row = rows[0]
    if row.status in ("rebuilding", "rebuild_requested"):
        return False
    key = row.key
    if key >= target:
        return True
    horizon, _ = await runner.journal.visibility_horizon()
    if horizon <= target[0]:
        return False  # the target may still be preceded by a late commit
    nxt = await runner.journal.read_by_tag(worker.tag_filter, after=key, limit=1)
    return not nxt or nxt[0].key > target


async def wait_for(runner: ProjectionRunner, workers: list[Worker], target: object,
                   timeout: float) -> None:
    """Return once every one of ``workers`` has handled ``target`` (see the module);
    :class:`~actorpg_lab.ProjectionLagTimeout` with the statuses still behind after
    ``timeout`` seconds."""
    key = target_key(target)
    timeout = check_seconds("timeout", timeout) if timeout != 0 else 0.0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = list(workers)
    pause = HELD_FIRST
    # LISTEN first, then check: a commit after the check cannot go unnoticed.
    await runner._store.listen(max(0.0, min(timeout, 10.0)))
    while True:
        local = runner._local_advanced
        reached = [(w, await _reached(runner, w, key)) for w in pending]
        pending = [w for w, done in reached if not done]
        if not pending:
            return
        local_only = local is not None and all(done is None for _, done in reached if not done)
        remaining = deadline - loop.time()
        if remaining <= 0:
            statuses = tuple([await status_of(runner, w) for w in pending])
            lag = ", ".join(f"{s.name!r}: {s.state}, {s.lag_events}"
                            f"{'+' if s.lag_capped else ''} events / {s.lag_seconds:.2f}s behind"
                            for s in statuses)
            raise ProjectionLagTimeout(
                f"wait_for({key!r}) timed out after {timeout}s ({lag})", lag=statuses)
        if local_only:  # each one waits for a batch this runner is committing
            wait = remaining
        elif (await runner.journal.visibility_horizon())[0] <= key[0]:
            # held back: the end of a non-append sends no NOTIFY
            wait = min(pause, remaining)
            pause = min(pause * 2, HELD_MAX)
        else:
            wait = remaining
        waiters: list[asyncio.Task[Any]] = [
            asyncio.ensure_future(runner._store.wait_advanced(wait))]
        if local is not None:
            waiters.append(asyncio.ensure_future(local.wait()))
        try:
            await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            # asyncio.wait, not ``await waiter`` under suppress(CancelledError): that would
            # also swallow a cancellation of this wait_for arriving meanwhile.
            await asyncio.wait(waiters)
            for waiter in waiters:
                if not waiter.cancelled():
                    waiter.exception()  # retrieved: a failed wake-up only ends this wait
