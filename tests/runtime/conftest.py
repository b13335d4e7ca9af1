"""Runtime tests run against BOTH backends: the in-memory stores and real PostgreSQL.

The ``backend`` fixture is parametrized over ``memory`` and ``postgres``.  It hands
out stores that share one underlying data set (so a "new system" really recovers
from what the previous one wrote), builds actor systems wired to those stores, and
offers the corruption helpers the integrity tests need (row surgery by SQL on
PostgreSQL, the same surgery on the in-memory structures).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from actorpg_lab import InMemoryDurableStateStore, InMemoryJournal, InMemorySnapshotStore

MEM_JOURNAL = "actorpg.persistence.journal.inmem"
MEM_SNAPSHOTS = "actorpg.persistence.snapshot-store.inmem"
MEM_DURABLE = "actorpg.persistence.durable-state-store.inmem"
PG_CONFIG = """
actorpg.persistence.journal.plugin = "actorpg.persistence.journal.postgres"
actorpg.persistence.snapshot-store.plugin = "actorpg.persistence.snapshot-store.postgres"
actorpg.persistence.durable-state-store.plugin = "actorpg.persistence.durable-state-store.postgres"
"""


class Backend:
    """Stores of one kind sharing one data set, plus system factories and corruption helpers."""

    def __init__(self, kind: str, pool: Any = None, keep_n: int = 3) -> None:
        self.kind = kind
        self.pool = pool
        self.keep_n = keep_n
        self._systems: list[Any] = []
        self._stores: list[Any] = []
        if kind == "memory":
            self.journal: Any = InMemoryJournal()
            self.snapshots: Any = InMemorySnapshotStore(keep_n=keep_n)
            self.durable: Any = InMemoryDurableStateStore()
        else:
            self.journal, self.snapshots, self.durable = self.new_stores()

    def new_stores(self, keep_n: int | None = None) -> tuple[Any, Any, Any]:
        """Fresh store objects over the same data (the same objects in memory)."""
        if self.kind == "memory":
            if keep_n is not None:
                self.snapshots.keep_n = keep_n
            return self.journal, self.snapshots, self.durable
        from actorpg_lab.postgres import (
            PostgresDurableStateStore,
            PostgresJournal,
            PostgresSnapshotStore,
        )

        stores = (
            PostgresJournal(pool=self.pool),
            PostgresSnapshotStore(pool=self.pool, keep_n=self.keep_n if keep_n is None else keep_n),
            PostgresDurableStateStore(pool=self.pool),
        )
        self._stores.extend(stores)
        return stores

    def system(self, name: str = "test", *, keep_n: int | None = None) -> Any:
        """A new actor system whose persistence plugins use this backend's data."""
        from actorpg_lab import ActorSystem, PersistenceExtension

        if self.kind == "memory":
            system = ActorSystem(name)
            ext = system.extension(PersistenceExtension)
            ext.register_journal(MEM_JOURNAL, self.journal)
            if keep_n is not None:
                self.snapshots.keep_n = keep_n
            ext.register_snapshot_store(MEM_SNAPSHOTS, self.snapshots)
            ext.register_durable_state_store(MEM_DURABLE, self.durable)
        else:
            from actorpg_lab.postgres import register_postgres_plugins

            system = ActorSystem(name, config=PG_CONFIG)
            register_postgres_plugins(
                system.extension(PersistenceExtension), pool=self.pool,
                snapshot_store={"keep_n": self.keep_n if keep_n is None else keep_n},
            )
        self._systems.append(system)
        return system

    async def delete_event_row(self, pid: str, seq: int) -> None:
        """Corrupt a stream by removing one event row behind the journal's back."""
        if self.kind == "memory":
            events = self.journal._events[pid]
            self.journal._events[pid] = [e for e in events if e.sequence_nr != seq]
            return
        async with self.pool.connection() as conn:
            await conn.execute(
                "DELETE FROM events_tags WHERE persistence_id = %s AND sequence_nr = %s", (pid, seq)
            )
            await conn.execute(
                "DELETE FROM events WHERE persistence_id = %s AND sequence_nr = %s", (pid, seq)
            )

    async def insert_snapshot_row(self, pid: str, seq: int, state: Any) -> None:
        """Write a snapshot row directly (e.g. one ahead of the journal)."""
        if self.kind == "memory":
            payload = self.snapshots.codec.encode(state)
            self.snapshots._snapshots.setdefault(pid, {})[seq] = (payload, 0)
            return
        import json

        await self.snapshots.load_latest(pid)  # make sure the table exists
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO snapshots (persistence_id, sequence_nr, payload, timestamp) "
                "VALUES (%s, %s, %s, 0)",
                (pid, seq, json.dumps(state)),
            )

    @contextlib.asynccontextmanager
    async def late_event(
        self, pid: str, seq: int, event: Any, tags: tuple[str, ...], timestamp: int,
        *, commit: bool = True,
    ) -> AsyncIterator[None]:
        """An event stamped ``timestamp`` whose transaction commits (or, with
        ``commit=False``, rolls back) when the block exits.

        On PostgreSQL this is a real open transaction holding explicit INSERTs; in
        memory a position is taken on entry (holding the horizon back, as an open
        transaction does) and the event is spliced in on exit.
        """
        if self.kind == "memory":
            from actorpg_lab.memory._stored_event import StoredEvent

            async with self.journal.open_transaction() as position:
                yield
                if commit:
                    payload = self.journal.codec.encode(event)
                    self.journal._events.setdefault(pid, []).append(
                        StoredEvent(seq, payload, tags, timestamp, position))
            return
        import json

        async with self.pool.connection() as conn:
            async with conn.transaction(force_rollback=not commit):
                await conn.execute(
                    "INSERT INTO events (persistence_id, sequence_nr, payload, tags, timestamp) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    (pid, seq, json.dumps(event), ",".join(tags), timestamp),
                )
                for tag in tags:
                    await conn.execute(
                        "INSERT INTO events_tags (persistence_id, sequence_nr, tag, timestamp) "
                        "VALUES (%s, %s, %s, %s)", (pid, seq, tag, timestamp),
                    )
                yield
            # committed (or rolled back) here

    async def close(self) -> None:
        for system in self._systems:
            await system.terminate()
        for store in self._stores:
            await store.close()


@pytest.fixture(params=["memory", "postgres"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        b = Backend("memory")
        yield b
        await b.close()
        return
    from psycopg_pool import AsyncConnectionPool

    url = request.getfixturevalue("pg_url")  # a sync fixture: a fresh schema for this test
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url, min_size=1, max_size=12, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    b = Backend("postgres", pool=pool)
    try:
        yield b
        await b.close()
    finally:
        await pool.close()
