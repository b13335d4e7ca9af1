"""The schema-evolution contract against the PostgreSQL stores (one shared pool)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from actorpg_lab.postgres import PostgresDurableStateStore, PostgresJournal, PostgresSnapshotStore

from .contract import SchemaEvolutionContract, Stores


class TestPostgresSchemaEvolution(SchemaEvolutionContract):
    pool: Any = None

    @pytest.fixture
    async def stores(self, pg_pool: Any) -> AsyncIterator[Stores]:
        self.pool = pg_pool
        stores = Stores(PostgresJournal(pool=pg_pool), PostgresSnapshotStore(pool=pg_pool, keep_n=0),
                        PostgresDurableStateStore(pool=pg_pool))
        yield stores
        for store in (stores.journal, stores.snapshots, stores.durable):
            await store.close()

    async def corrupt_snapshot(self, stores: Stores, pid: str, seq: int) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE snapshots SET payload = 'garbage' WHERE persistence_id = %s "
                "AND sequence_nr = %s", (pid, seq))
