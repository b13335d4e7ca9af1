"""The lifecycle shared by the workbench's recorders (a listener kept while active).

A recorder subscribes a callback to one of the stores' listener hooks
(:func:`actorpg_lab.add_write_listener`, :func:`actorpg_lab.add_snapshot_listener`) on
:meth:`~Recorder.start` (or ``with``), keeps what it is told about the streams it is
interested in, and unsubscribes on :meth:`~Recorder.stop`; what was recorded stays.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from ..frames.filter import as_names

__all__ = ["Recorder"]


class _Keyed(Protocol):
    @property
    def persistence_id(self) -> str: ...


T = TypeVar("T", bound=_Keyed)


class Recorder(Generic[T]):
    """Collects items from a listener hook while active (a context manager; also
    :meth:`start`/:meth:`stop`).

    :param subscribe: the hook: takes a callback, returns the function that unsubscribes.
    :param persistence_ids: only keep items about these streams (one id or several;
        default: all).
    """

    def __init__(self, subscribe: Callable[[Callable[[T], None]], Callable[[], None]],
                 persistence_ids: str | Iterable[str] | None = None) -> None:
        ids = as_names(persistence_ids, "persistence_ids")
        self.persistence_ids = None if ids is None else frozenset(ids)
        self._subscribe = subscribe
        self._recorded: list[T] = []
        self._lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def active(self) -> bool:
        """Whether the recorder is listening."""
        return self._unsubscribe is not None

    def start(self) -> Self:
        """Start listening (idempotent)."""
        if self._unsubscribe is None:
            self._unsubscribe = self._subscribe(self._record)
        return self

    def stop(self) -> Self:
        """Stop listening (idempotent); what was recorded stays."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        return self

    def clear(self) -> None:
        """Forget what was recorded."""
        with self._lock:
            self._recorded.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def keeps(self, item: T) -> bool:
        """Whether ``item`` is recorded (subclasses narrow it further)."""
        return self.persistence_ids is None or item.persistence_id in self.persistence_ids

    def _record(self, item: T) -> None:
        if self.keeps(item):
            with self._lock:
                self._recorded.append(item)

    def _items(self) -> list[T]:
        """A snapshot of what was recorded so far."""
        with self._lock:
            return list(self._recorded)
