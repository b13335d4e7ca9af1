"""The persistence boundary: what the actor runtime, queries and notebooks need of a store.

Both the in-memory reference stores (:mod:`actorpg_lab.memory`) and the PostgreSQL
stores (:mod:`actorpg_lab.postgres`) implement these protocols with the same
semantics; one contract test suite runs against both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ._tag_filter import TagFilter
from ._types import DurableStateRecord, JournalEntry, PersistentEvent, Snapshot

if TYPE_CHECKING:
    from ._dcb import AppendCondition, ConsistencyToken, MatchingRead, Query
    from .query import TagOffset

__all__ = ["ConditionalJournal", "DurableStateStore", "Journal", "SnapshotStore"]


@runtime_checkable
class Journal(Protocol):
    """An append-only event log, one contiguous stream per persistence id."""

    async def append(
        self, persistence_id: str, entries: Sequence[JournalEntry], expected_seq: int
    ) -> list[PersistentEvent]:
        """Atomically append ``entries`` after head ``expected_seq``."""
        ...

    async def read(
        self, persistence_id: str, from_seq: int = 1, to_seq: int | None = None
    ) -> list[PersistentEvent]:
        """Events with ``from_seq <= sequence_nr <= to_seq``, ascending."""
        ...

    async def highest_seq(self, persistence_id: str) -> int:
        """The stream head (0 for an unknown stream); never rewinds after ``delete``."""
        ...

    async def delete(self, persistence_id: str, to_seq: int) -> None:
        """Delete the events up to ``to_seq`` (and their tag rows)."""
        ...

    async def persistence_ids(
        self, *, after: str | None = None, limit: int | None = None
    ) -> list[str]:
        """Every known persistence id, sorted; page with ``after`` (exclusive) and ``limit``."""
        ...

    async def read_by_tag(
        self,
        tag_filter: TagFilter,
        *,
        after: tuple[int, str, int] | None = None,
        from_timestamp: int = 0,
        limit: int | None = None,
    ) -> list[PersistentEvent]:
        """Events matching ``tag_filter`` whose ``(position, persistence_id, sequence_nr)``
        key is after ``after`` and whose position is below the visibility horizon, in
        key order, with ``timestamp >= from_timestamp``, at most ``limit`` of them."""
        ...

    async def visibility_horizon(self) -> tuple[int, bool]:
        """``(horizon, held_back)``: positions below ``horizon`` are final; ``held_back``
        says committed events wait at or above it behind an open transaction."""
        ...

    async def wait_for_appends(self, timeout: float) -> bool:
        """Wait until an append may have happened or ``timeout`` seconds passed.

        Returns ``True`` when woken by a notification, ``False`` on timeout.  Never
        blocks longer than ``timeout``; a lost notification channel degrades to polling.
        """
        ...

    async def close(self) -> None:
        """Release resources (an owned pool); a shared pool is left open."""
        ...


@runtime_checkable
class ConditionalJournal(Journal, Protocol):
    """A journal with conditional appends across streams (DCB, :mod:`actorpg_lab._dcb`):
    both :class:`~actorpg_lab.InMemoryJournal` and
    :class:`~actorpg_lab.postgres.PostgresJournal`."""

    async def append(
        self, persistence_id: str, entries: Sequence[JournalEntry], expected_seq: int,
        *, condition: AppendCondition | None = None,
    ) -> list[PersistentEvent]:
        """:meth:`Journal.append`, failing with AppendConditionError when ``condition``
        finds an unseen matching event."""
        ...

    async def read_matching(
        self, query: Query, *, after: ConsistencyToken | TagOffset | None = None,
        limit: int | None = None,
    ) -> MatchingRead:
        """The events matching ``query`` and the token of what this read saw."""
        ...


@runtime_checkable
class SnapshotStore(Protocol):
    """Snapshots of actor state, the newest ``keep_n`` per persistence id."""

    async def save(self, persistence_id: str, sequence_nr: int, state: Any) -> Snapshot: ...

    async def load_latest(self, persistence_id: str) -> Snapshot | None: ...

    async def load_before(self, persistence_id: str, sequence_nr: int) -> Snapshot | None: ...

    async def delete(self, persistence_id: str, to_seq: int) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class DurableStateStore(Protocol):
    """Key-value state with revision compare-and-set."""

    async def upsert(
        self, persistence_id: str, expected_revision: int, state: Any
    ) -> DurableStateRecord: ...

    async def load(self, persistence_id: str) -> DurableStateRecord | None: ...

    async def delete(self, persistence_id: str) -> None: ...

    async def close(self) -> None: ...
