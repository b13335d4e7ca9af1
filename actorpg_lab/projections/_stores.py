"""Which checkpoint store goes with a journal: PostgreSQL or the in-memory twin."""

from __future__ import annotations

from .._protocols import Journal
from ._checkpoint import CheckpointStore

__all__ = ["checkpoint_store"]


def checkpoint_store(journal: Journal, checkpoints_table: str, *,
                     auto_create_tables: bool = True) -> CheckpointStore:
    """The checkpoint store that goes with ``journal`` (PostgreSQL or in-memory)."""
    from ..memory import InMemoryJournal

    if isinstance(journal, InMemoryJournal):
        from ._memory_store import MemoryCheckpointStore

        return MemoryCheckpointStore(journal, checkpoints_table)
    from ..postgres import PostgresJournal

    if isinstance(journal, PostgresJournal):
        from ._postgres_store import PostgresCheckpointStore

        return PostgresCheckpointStore(journal, checkpoints_table,
                                       auto_create_tables=auto_create_tables)
    raise TypeError(f"journal must be a PostgresJournal or an InMemoryJournal, got "
                    f"{type(journal).__name__}: {journal!r:.200}")
