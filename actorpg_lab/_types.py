"""The data types that travel between actors, stores and notebooks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DurableStateRecord", "JournalEntry", "PersistentEvent", "Snapshot"]


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One event on its way into a journal, with the tags of THIS event only."""

    event: Any
    tags: Sequence[str] = field(default=())


@dataclass(frozen=True, slots=True)
class PersistentEvent:
    """An event as stored: ``sequence_nr`` is 1-based and contiguous per stream,
    ``timestamp`` is epoch milliseconds.

    ``position`` orders events across streams for tag queries: on PostgreSQL the id of
    the transaction that wrote the event (every event of one append shares it; events
    stored before positions existed have 0), in memory a counter per append.  Tag
    queries deliver events in ``(position, persistence_id, sequence_nr)`` order, and
    only once no transaction that could still commit an earlier event is open (see
    :mod:`actorpg_lab.query`).  0 also for an event built by hand.
    """

    persistence_id: str
    sequence_nr: int
    event: Any
    timestamp: int
    tags: tuple[str, ...] = ()
    position: int = 0

    @property
    def key(self) -> tuple[int, str, int]:
        """``(position, persistence_id, sequence_nr)``: the event's place in tag queries."""
        return (self.position, self.persistence_id, self.sequence_nr)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A saved actor state covering the events up to and including ``sequence_nr``."""

    persistence_id: str
    sequence_nr: int
    state: Any
    timestamp: int


@dataclass(frozen=True, slots=True)
class DurableStateRecord:
    """The current value of a durable-state key and its revision (1 after the first write)."""

    persistence_id: str
    revision: int
    state: Any
    timestamp: int
