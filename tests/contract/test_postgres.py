"""The contract suite against the PostgreSQL stores, with a shared pool and with own pools."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar

import psycopg
import pytest

from actorpg_lab.postgres import PostgresDurableStateStore, PostgresJournal, PostgresSnapshotStore

from .durable_state_contract import DurableStateContract
from .journal_contract import JournalContract
from .snapshot_contract import SnapshotStoreContract


class _Closable(Protocol):
    async def close(self) -> None: ...


S = TypeVar("S", bound=_Closable)


class Closing(Protocol):
    def __call__(self, store: S) -> S: ...


@pytest.fixture(params=["shared_pool", "own_pool"])
def connect(request: pytest.FixtureRequest, pg_url: str, pg_pool: Any) -> dict[str, Any]:
    """How the store under test connects: the shared test pool, or a pool of its own."""
    if request.param == "shared_pool":
        return {"pool": pg_pool}
    return {"url": pg_url, "pool_config": {"min_size": 1, "max_size": 4}}


@pytest.fixture
def other_process(pg_url: str) -> dict[str, Any]:
    """A second store with its own pool: another process's view of the same tables."""
    return {"url": pg_url, "pool_config": {"min_size": 1, "max_size": 8}}


@pytest.fixture
async def closing() -> AsyncIterator[Closing]:
    """``closing(store)`` returns ``store`` and closes it when the test ends."""
    stores: list[_Closable] = []

    def track(store: S) -> S:
        stores.append(store)
        return store

    yield track
    for store in stores:
        await store.close()


class TestPostgresJournal(JournalContract):
    @pytest.fixture
    def journal(self, connect: dict[str, Any], closing: Closing) -> PostgresJournal:
        return closing(PostgresJournal(**connect))

    @pytest.fixture
    def other_journal(
        self, other_process: dict[str, Any], closing: Closing
    ) -> PostgresJournal:
        return closing(PostgresJournal(**other_process))


class TestPostgresSnapshotStore(SnapshotStoreContract):
    @pytest.fixture
    def make_snapshots(
        self, connect: dict[str, Any], closing: Closing
    ) -> Callable[[int], PostgresSnapshotStore]:
        return lambda keep_n: closing(PostgresSnapshotStore(keep_n=keep_n, **connect))

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
    @pytest.fixture
    def durable(
        self, connect: dict[str, Any], closing: Closing
    ) -> PostgresDurableStateStore:
        return closing(PostgresDurableStateStore(**connect))

    @pytest.fixture
    def other_durable(
        self, other_process: dict[str, Any], closing: Closing
    ) -> PostgresDurableStateStore:
        return closing(PostgresDurableStateStore(**other_process))
