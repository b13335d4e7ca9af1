"""A private asyncio event loop in a background thread.

Jupyter already runs an event loop in the kernel's main thread, so synchronous code
there cannot call ``asyncio.run``.  The workbench instead owns a loop in a daemon
thread and submits coroutines to it with :func:`asyncio.run_coroutine_threadsafe`;
the calling thread just waits for the result.  No ``nest_asyncio``.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import weakref
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from ..notebook.tracebacks import hide_from_tracebacks

__all__ = ["LoopThread", "as_writer", "close_at_exit", "still_open"]

_log = logging.getLogger("actorpg_lab.lab")

hide_from_tracebacks(__name__)  # the loop thread is plumbing in a short traceback

T = TypeVar("T")


class LoopThread:
    """Runs coroutines on an event loop owned by a background daemon thread."""

    def __init__(self, name: str = "actorpg-lab-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._started = threading.Event()
        self._thread.start()
        self._started.wait()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<LoopThread {self._thread.name} {state}>"

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._started.set)
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_running(self) -> bool:
        return self._thread.is_alive() and not self._loop.is_closed()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the private loop and return its result (re-raising its error)."""
        if not self.is_running():
            coro.close()
            raise RuntimeError("the workbench is closed")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("LoopThread.run() called from its own loop (would deadlock)")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def stop(self) -> None:
        """Stop the loop and join the thread (idempotent)."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            if self._thread.is_alive():  # pragma: no cover - a coroutine refused to finish
                _log.warning("the workbench loop thread did not stop within 10 s")


class _Closable(Protocol):
    def close(self) -> None: ...


#: Objects not closed yet (workbenches); a kernel that exits without close() closes them
#: at exit, while their loops still run (no "Task was destroyed but it is pending" noise).
_OPEN: weakref.WeakSet[Any] = weakref.WeakSet()


def close_at_exit(obj: _Closable) -> None:
    """Close ``obj`` at interpreter exit unless :func:`still_open` ``(obj, False)`` ran first."""
    _OPEN.add(obj)


def still_open(obj: _Closable, open_: bool) -> None:
    """Mark ``obj`` closed (``open_=False``): nothing is done for it at exit."""
    if not open_:
        _OPEN.discard(obj)


@atexit.register
def _close_at_exit() -> None:
    for obj in list(_OPEN):
        try:
            obj.close()
        except Exception:  # pragma: no cover - best effort at interpreter exit
            _log.debug("closing %r at exit failed", obj, exc_info=True)


async def as_writer(name: str, coro: Coroutine[Any, Any, T]) -> T:
    """``coro`` run in a task named ``name`` (write recorders name a writer by its task)."""
    task = asyncio.current_task()
    if task is not None:
        task.set_name(name)
    return await coro
