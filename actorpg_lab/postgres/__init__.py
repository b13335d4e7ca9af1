"""PostgreSQL stores: journal (with tag index), snapshot store and durable-state store.

All three run on :class:`psycopg_pool.AsyncConnectionPool`: pass a shared ``pool=``
(never closed by a store) or ``url=`` (+ ``pool_config=``) for a pool the store
builds lazily and closes in ``close()``.
"""

from ._database import Database
from ._durable_state_store import PostgresDurableStateStore
from ._journal import PostgresJournal
from ._plugins import register_postgres_plugins
from ._snapshot_store import PostgresSnapshotStore

__all__ = [
    "Database",
    "PostgresDurableStateStore",
    "PostgresJournal",
    "PostgresSnapshotStore",
    "register_postgres_plugins",
]
