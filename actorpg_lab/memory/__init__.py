"""In-memory reference stores with the same semantics as the PostgreSQL stores.

The twin of :mod:`actorpg_lab.postgres`: a journal (with tag queries), a snapshot store
and a durable-state store.  Payloads are encoded to JSON on write and decoded on read,
exactly as in the database, so a value that would not survive PostgreSQL does not
survive here either.  Used for teaching, for unit tests of actors, and as the model in
the contract tests.
"""

from ._durable_state_store import InMemoryDurableStateStore
from ._journal import InMemoryJournal
from ._snapshot_store import InMemorySnapshotStore

__all__ = ["InMemoryDurableStateStore", "InMemoryJournal", "InMemorySnapshotStore"]
