"""A waiter cancelled in the same tick as its wake-up is cancelled, never returned from.

On Python 3.11 ``asyncio.wait_for`` returns the inner result when the cancellation and
the completion meet, swallowing the cancellation: a loop built on such a wait
(``ProjectionRunner.rebuild`` waiting for batches, ``wait_for``, live queries) then could
not be cancelled at all — notebook 07 hung on exactly that when it stopped a rebuild's
runner (the listener's close wakes its waiters) and then cancelled the rebuild.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from actorpg_lab import InMemoryJournal
from actorpg_lab.projections import Projection, ProjectionRunner

from .conftest import Backend

pytestmark = pytest.mark.asyncio


class _Nothing(Projection):
    name = "nothing"

    async def apply(self, ctx: Any, events: list[Any]) -> None:
        return None


async def _cancel_as_it_wakes(wait: Callable[[], Awaitable[bool]],
                              wake: Callable[[], None]) -> None:
    task = asyncio.ensure_future(wait())
    await asyncio.sleep(0.2)  # the waiter is waiting (listening, on Postgres)
    assert not task.done()
    wake()
    task.cancel()  # in the same tick as the wake-up
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert task.cancelled()


def _waking(target: Any) -> Callable[[], None]:
    """What wakes ``target``'s waiters now: the listener's event (what its pump sets on a
    NOTIFY) on Postgres, the waiters' futures in memory."""
    listener = getattr(target, "_listener", None)
    if listener is not None:
        return listener._event.set  # type: ignore[no-any-return]
    waiters = target._waiters if hasattr(target, "_waiters") else target._shared.waiters

    def wake() -> None:
        for waiter in list(waiters):
            if not waiter.done():
                waiter.set_result(None)

    return wake


async def test_a_journal_wait_cancelled_as_an_append_wakes_it_is_cancelled(
        backend: Backend) -> None:
    journal = backend.journal()
    await journal.wait_for_appends(0.5)  # connects the listener (Postgres)
    await _cancel_as_it_wakes(lambda: journal.wait_for_appends(10), _waking(journal))


async def test_a_checkpoint_wait_cancelled_as_a_batch_commits_is_cancelled(
        backend: Backend) -> None:
    runner = ProjectionRunner(backend.journal(), [_Nothing()])
    store = runner._store
    try:
        await store.listen(5)
        await _cancel_as_it_wakes(lambda: store.wait_advanced(10), _waking(store))
    finally:
        await store.close()


class _SwallowingJournal(InMemoryJournal):
    """A journal whose append wait drops a cancellation (what Python 3.11's
    ``asyncio.wait_for`` does, inside a library, when the cancel meets the wake-up)."""

    swallowed = 0

    async def wait_for_appends(self, timeout: float) -> bool:
        try:
            return await super().wait_for_appends(timeout)
        except asyncio.CancelledError:
            self.swallowed += 1
            return False


async def test_stop_ends_a_worker_whose_cancellation_was_swallowed() -> None:
    journal = _SwallowingJournal()
    runner = await ProjectionRunner(journal, [_Nothing()], poll_interval=0.05).start()
    await asyncio.sleep(0.3)  # active and idle: waiting for appends
    assert runner.role("nothing") == "active"
    async with asyncio.timeout(10):
        await runner.stop()  # hung forever before: the worker looped on
    assert journal.swallowed >= 1 and runner.role("nothing") == "stopped"


async def test_a_cancelled_stop_is_cancelled() -> None:
    """stop() awaiting a worker that will not end is itself cancellable (it used to
    suppress its own cancellation while awaiting the worker)."""
    journal = _SwallowingJournal()
    runner = await ProjectionRunner(journal, [_Nothing()], poll_interval=0.05).start()
    await asyncio.sleep(0.3)
    stopping = asyncio.ensure_future(runner.stop())
    await asyncio.sleep(0)
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    await runner.stop()  # idempotent
    await asyncio.sleep(0.3)  # the worker ends at its next turn (stopping was set)
    assert all(task.get_name() != "projection:nothing" for task in asyncio.all_tasks())
