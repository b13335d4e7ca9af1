"""Group commit: coalesce appends that arrive while others are in flight.

An :class:`AppendCoalescer` knows nothing about SQL.  It is driven by two callbacks:
``write_one(request)`` writes a single append in its own statement and
``write_many(batch)`` writes appends to distinct streams in ONE statement and returns
one ``(result, error)`` outcome per request.  While ``slots`` writes are in flight,
further requests queue; when a slot frees up, the queued requests (at most one per
stream, bounded by ``max_requests`` and ``max_items``) are written together.  A lone
writer never waits: with a free slot and an empty queue ``submit`` calls ``write_one``
directly.

With ``eager_slots`` below ``slots`` only that many writes start at once; the other
slots are spares: queued requests go through one only after ``spare_after`` seconds
with a write still running (a write stuck on a lock, say, holds back the rest that
long at most).  And the appends of a batch come back together, so the requests that
arrive in the event-loop turn right after a batch ended are queued, not written
alone, and go as one batch at the end of that turn: writers that keep appending then
share one statement and one commit per round instead of a lone write plus a batch.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Hashable
from typing import Generic, TypeVar

from .._errors import JournalError

__all__ = ["AppendCoalescer", "outcome"]

Req = TypeVar("Req")
Res = TypeVar("Res")
T = TypeVar("T")

async def outcome(aw: Awaitable[T]) -> tuple[T | None, BaseException | None]:
    """``(result, None)`` or ``(None, exception)`` of an awaitable."""
    try:
        return await aw, None
    except Exception as exc:
        return None, exc


class _Pending(Generic[Req, Res]):
    __slots__ = ("future", "request")

    def __init__(self, request: Req, future: asyncio.Future[Res]) -> None:
        self.request = request
        self.future = future


class AppendCoalescer(Generic[Req, Res]):
    """Runs appends one by one while slots are free, in batches once they are not.

    :param write_one: write one request in its own statement.
    :param write_many: write several requests (distinct keys) in one statement;
        returns one ``(result, error)`` per request, in order.
    :param key: the stream a request writes to (one request per key per batch).
    :param size: how many events a request carries (bounds a batch).
    :param locks: the lock keys a request takes (a batch takes the union, at most
        ``max_locks`` distinct ones; a request with more is written on its own).
    :param exclusive: the lock keys a request takes EXCLUSIVELY (a conditional append's
        boundary): a request is never batched with one whose keys meet its exclusive
        keys (either way round), so no request of a batch can write what another's
        condition checks; ``None`` from it: the request is written in a batch of its own.
    :param slots: writes in flight at once before requests are queued.
    :param eager_slots: writes started at once (``None``: ``slots``); the rest are
        spares, used once a write has been in flight ``spare_after`` seconds.
    :param enabled: ``False`` writes every request on its own (no queueing at all).
    """

    def __init__(
        self,
        *,
        write_one: Callable[[Req], Awaitable[Res]],
        write_many: Callable[[list[Req]], Awaitable[list[tuple[Res | None, BaseException | None]]]],
        key: Callable[[Req], Hashable],
        size: Callable[[Req], int],
        locks: Callable[[Req], Collection[Hashable]] = lambda _: (),
        exclusive: Callable[[Req], Collection[Hashable] | None] | None = None,
        slots: int = 2,
        eager_slots: int | None = None,
        spare_after: float = 0.005,
        max_requests: int = 256,
        max_items: int = 10_000,
        max_locks: int = 256,
        enabled: bool = True,
    ) -> None:
        self._write_one = write_one
        self._write_many = write_many
        self._key = key
        self._size = size
        self._locks = locks
        self._exclusive = exclusive
        self.max_locks = max_locks
        self.slots = slots
        self.eager_slots = slots if eager_slots is None else eager_slots
        self.spare_after = spare_after
        self._spare_timer: asyncio.TimerHandle | None = None
        self._gathering = False  # the turn after a batch ended (see the module docstring)
        self.max_requests = max_requests
        self.max_items = max_items
        self.enabled = enabled
        self._in_flight = 0
        self._queue: deque[_Pending[Req, Res]] = deque()
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return (f"<AppendCoalescer in_flight={self._in_flight} queued={len(self._queue)} "
                f"slots={self.slots} enabled={self.enabled}>")

    @property
    def in_flight(self) -> int:
        """Writes (single or batched) currently running."""
        return self._in_flight

    async def submit(self, request: Req) -> Res:
        """Write ``request`` now if a slot is free, else with the next batch."""
        if not self.enabled or (self._in_flight < self.eager_slots and not self._queue
                                and not self._gathering):
            self._in_flight += 1
            try:
                return await self._write_one(request)
            finally:
                self._finished(1)
        future: asyncio.Future[Res] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(request, future))
        if not self._gathering:
            self._start_batch()
        return await future

    def _gathered(self) -> None:
        """The end of the turn after a batch ended: write what arrived meanwhile."""
        self._gathering = False
        self._start_batch()

    def _spare(self) -> None:
        """``spare_after`` passed without a write ending while requests were queued:
        use the spare slots."""
        self._spare_timer = None
        self._start_batch(self.slots)

    def _start_batch(self, limit: int | None = None) -> None:
        """Start writing the queued requests as one batch while an eager slot (or, with
        ``limit``, any of that many) is free; with requests left queued behind busy
        eager slots, arm the spare slots' timer."""
        self._fill(self.eager_slots if limit is None else limit)
        if self._queue and self._in_flight < self.slots and self._spare_timer is None:
            self._spare_timer = asyncio.get_running_loop().call_later(self.spare_after,
                                                                      self._spare)

    def _fill(self, limit: int) -> None:
        while self._queue and self._in_flight < limit:
            batch: list[_Pending[Req, Res]] = []
            deferred: list[_Pending[Req, Res]] = []
            keys: set[Hashable] = set()
            locks: set[Hashable] = set()
            held: set[Hashable] = set()  # the batch's exclusive keys
            alone = False
            items = 0
            while self._queue and len(batch) < self.max_requests and items < self.max_items \
                    and not alone:
                pending = self._queue.popleft()
                if pending.future.done():  # the caller was cancelled before we started
                    continue
                key = self._key(pending.request)
                if key in keys:  # one request per stream per statement
                    deferred.append(pending)
                    continue
                wanted = self._locks(pending.request)
                if batch and len(locks) + len(wanted) > self.max_locks and \
                        len(locks.union(wanted)) > self.max_locks:
                    deferred.append(pending)  # the next batch
                    continue
                if self._exclusive is not None:
                    mine = self._exclusive(pending.request)
                    if batch and (mine is None or not locks.isdisjoint(mine)
                                  or not held.isdisjoint(wanted)):
                        deferred.append(pending)  # their boundaries meet: another batch
                        continue
                    if mine is None:
                        alone = True
                    else:
                        held.update(mine)
                locks.update(wanted)
                keys.add(key)
                batch.append(pending)
                items += self._size(pending.request)
            self._queue.extendleft(reversed(deferred))
            if not batch:
                return
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._write_batch(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _write_batch(self, batch: list[_Pending[Req, Res]]) -> None:
        try:
            if len(batch) == 1:
                outcomes = [await outcome(self._write_one(batch[0].request))]
            else:
                outcomes = await self._write_many([p.request for p in batch])
            for pending, (result, error) in zip(batch, outcomes, strict=True):
                if pending.future.done():
                    continue
                if error is not None or result is None:
                    pending.future.set_exception(error or JournalError("append lost its result"))
                else:
                    pending.future.set_result(result)
        except BaseException as exc:  # never leave a caller hanging
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(
                        exc if isinstance(exc, Exception) else JournalError(f"append aborted: {exc!r}")
                    )
            if not isinstance(exc, Exception):
                raise
        finally:
            self._finished(len(batch))

    def _finished(self, requests: int) -> None:
        """A write of ``requests`` ended: no stall (the spare timer starts afresh), and
        the next writes start (after the next turn when a batch ended, see the module
        docstring)."""
        self._in_flight -= 1
        if self._spare_timer is not None:
            self._spare_timer.cancel()
            self._spare_timer = None
        if requests > 1 and self.eager_slots < self.slots:
            if not self._gathering:  # its writers resume in the next turn: meet there
                self._gathering = True
                asyncio.get_running_loop().call_soon(self._gathered)
            return
        self._start_batch()
