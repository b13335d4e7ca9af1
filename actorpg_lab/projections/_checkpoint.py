"""The stored checkpoint of one projection version and what every checkpoint store does.

Two implementations: :class:`~._postgres_store.PostgresCheckpointStore` (a table next
to the journal's) and :class:`~._memory_store.MemoryCheckpointStore` (the twin for the
in-memory journal).  The runner (:mod:`._runner`) drives them through
:class:`CheckpointStore` only, so one contract suite covers both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .._tag_filter import EventKey
from ._projection import ProjectionContext

__all__ = ["Apply", "Checkpoint", "CheckpointStore", "DeadLetter", "HandlerFailed"]

#: What a batch transaction runs after moving the checkpoint: the projection's code.
Apply = Callable[[ProjectionContext], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One checkpoint row (times in epoch ms of the server clock; ``now_ms`` is the
    server's time when the row was read)."""

    name: str
    version: int
    tag_filter: str
    position: int
    persistence_id: str
    sequence_nr: int
    handled: int
    last_event_ms: int | None
    committed_ms: int | None
    status: str
    owner: str | None
    lease_until_ms: int | None
    heartbeat_ms: int | None
    rebuild_total: int | None
    rebuild_horizon: int | None
    rebuild_started_ms: int | None
    error: str | None
    error_pid: str | None
    error_seq: int | None
    error_ms: int | None
    updated_ms: int
    now_ms: int

    @property
    def key(self) -> EventKey:
        """``(position, persistence_id, sequence_nr)`` of the last event handled."""
        return (self.position, self.persistence_id, self.sequence_nr)

    @property
    def lease_live(self) -> bool:
        """Whether an owner holds a lease that has not run out."""
        return (self.owner is not None and self.lease_until_ms is not None
                and self.lease_until_ms >= self.now_ms)

    @classmethod
    def of_row(cls, row: tuple[Any, ...]) -> Checkpoint:
        """A row of ``projection_columns.sql`` (the fields in this order)."""
        return cls(*row)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event ``on_error="skip"`` moved past, with the error it raised."""

    name: str
    version: int
    persistence_id: str
    sequence_nr: int
    position: int
    error: str
    at_ms: int


class HandlerFailed(Exception):
    """Internal: the projection's own code raised ``__cause__`` inside a batch."""


class CheckpointStore(Protocol):
    """The operations the runner needs; every one that changes a row compares and sets
    on ``owner`` (and the batch on the previous key too)."""

    channel: str

    async def ensure(self, name: str, version: int, tag_filter: str) -> Checkpoint: ...

    async def read(self, name: str | None = None,
                   version: int | None = None) -> list[Checkpoint]: ...

    async def try_acquire(self, name: str, version: int, owner: str,
                          lease_s: float) -> Checkpoint | None: ...

    async def heartbeat(self, name: str, version: int, owner: str,
                        lease_s: float) -> Checkpoint | None: ...

    async def release(self, name: str, version: int, owner: str) -> None: ...

    async def setup(self, name: str, version: int, apply: Apply) -> None: ...

    async def run_batch(
        self, name: str, version: int, owner: str, lease_s: float, *, after: EventKey,
        last: EventKey, count: int, last_event_ms: int | None, apply: Apply,
        rebuilding: bool, finish_rebuild: bool, keep_error: bool, idle_timeout_s: float,
    ) -> str: ...

    async def record_error(self, name: str, version: int, owner: str, *, pid: str | None,
                           seq: int | None, error: str, failed: bool) -> Checkpoint | None: ...

    async def dead_letter(self, ctx: ProjectionContext, *, pid: str, seq: int, position: int,
                          error: str) -> None: ...

    async def dead_letters(self, name: str | None = None,
                           version: int | None = None) -> list[DeadLetter]: ...

    async def set_status(self, name: str, version: int, status: str,
                         from_: tuple[str, ...]) -> Checkpoint | None: ...

    async def start_rebuild(self, name: str, version: int, owner: str, lease_s: float, *,
                            reset: Apply, tag_filter: Any) -> Checkpoint | None: ...

    async def listen(self, timeout: float) -> bool: ...

    async def wait_advanced(self, timeout: float) -> bool: ...

    async def blocker(self) -> tuple[int | None, float, str, str] | None: ...

    async def close(self) -> None: ...
