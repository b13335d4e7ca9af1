"""The contract suite against the PostgreSQL stores, with a shared pool and with own pools."""

from __future__ import annotations

from typing import Any

import pytest

from .dcb_contract import DcbContract
from .durable_state_contract import DurableStateContract
from .idempotency_contract import IdempotencyContract, MetadataContract
from .journal_contract import JournalContract
from .postgres_stores import PostgresStores
from .snapshot_contract import SnapshotStoreContract


class OnPostgres(PostgresStores):
    @pytest.fixture(params=["shared_pool", "own_pool"])
    def connect(self, request: pytest.FixtureRequest, pg_url: str, pg_pool: Any) -> dict[str, Any]:
        """The store under test uses the shared test pool, or builds a pool of its own."""
        if request.param == "shared_pool":
            return {"pool": pg_pool}
        return {"url": pg_url, "pool_config": {"min_size": 1, "max_size": 4}}

    @pytest.fixture
    def other_process(self, pg_url: str) -> dict[str, Any]:
        return {"url": pg_url, "pool_config": {"min_size": 1, "max_size": 8}}


class TestPostgresJournal(OnPostgres, JournalContract, DcbContract, IdempotencyContract,
                          MetadataContract):
    pass


class TestPostgresSnapshotStore(OnPostgres, SnapshotStoreContract):
    pass


class TestPostgresDurableState(OnPostgres, DurableStateContract):
    pass
