"""The contract suite against the PostgreSQL stores, with a shared pool and with own pools."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest

from actorpg_lab.postgres import PostgresDurableStateStore, PostgresJournal, PostgresSnapshotStore

from .durable_state_contract import DurableStateContract
from .journal_contract import JournalContract
from .snapshot_contract import SnapshotStoreContract

POOL_MODES = ["shared_pool", "own_pool"]


def connect_kwargs(mode: str, pg_url: str, pg_pool: Any) -> dict[str, Any]:
    if mode == "shared_pool":
        return {"pool": pg_pool}
    return {"url": pg_url, "pool_config": {"min_size": 1, "max_size": 4}}


class TestPostgresJournal(JournalContract):
    @pytest.fixture(params=POOL_MODES)
    async def journal(
        self, request: pytest.FixtureRequest, pg_url: str, pg_pool: Any
    ) -> AsyncIterator[PostgresJournal]:
        journal = PostgresJournal(**connect_kwargs(request.param, pg_url, pg_pool))
        yield journal
        await journal.close()

    @pytest.fixture
    async def other_journal(self, pg_url: str) -> AsyncIterator[PostgresJournal]:
        # A second journal with its own pool: another process's view of the same tables.
        journal = PostgresJournal(url=pg_url, pool_config={"min_size": 1, "max_size": 8})
        yield journal
        await journal.close()


class TestPostgresSnapshotStore(SnapshotStoreContract):
    @pytest.fixture(params=POOL_MODES)
    async def make_snapshots(
        self, request: pytest.FixtureRequest, pg_url: str, pg_pool: Any
    ) -> AsyncIterator[Callable[[int], PostgresSnapshotStore]]:
        stores: list[PostgresSnapshotStore] = []

        def make(keep_n: int) -> PostgresSnapshotStore:
            store = PostgresSnapshotStore(keep_n=keep_n, **connect_kwargs(request.param, pg_url, pg_pool))
            stores.append(store)
            return store

        yield make
        for store in stores:
            await store.close()

    @pytest.fixture
    def break_pruning(self, pg_url: str) -> Callable[[Any], None]:
        """Make DELETEs on the snapshots table fail inside PostgreSQL (a real failure)."""

        def break_it(store: PostgresSnapshotStore) -> None:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(
                    "CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'pruning refused by test trigger'; END $$"
                )
                conn.execute(
                    "CREATE TRIGGER refuse_delete BEFORE DELETE ON snapshots "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_delete()"
                )

        return break_it


class TestPostgresDurableState(DurableStateContract):
    @pytest.fixture(params=POOL_MODES)
    async def durable(
        self, request: pytest.FixtureRequest, pg_url: str, pg_pool: Any
    ) -> AsyncIterator[PostgresDurableStateStore]:
        store = PostgresDurableStateStore(**connect_kwargs(request.param, pg_url, pg_pool))
        yield store
        await store.close()

    @pytest.fixture
    async def other_durable(self, pg_url: str) -> AsyncIterator[PostgresDurableStateStore]:
        store = PostgresDurableStateStore(url=pg_url, pool_config={"min_size": 1, "max_size": 8})
        yield store
        await store.close()
