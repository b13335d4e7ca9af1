"""The Postgres stores for the contract suite, built from two connection settings.

A run of the contract suite against PostgreSQL mixes :class:`PostgresStores` into the
contract classes and provides two fixtures:

* ``connect``: keyword arguments for the store under test (``pool=`` or ``url=``...);
* ``other_process``: keyword arguments for a second store over the same tables with a
  pool of its own, i.e. another process's view.

``test_postgres.py`` runs it with the shared test pool and with an own pool;
``tests/reliability/test_least_privilege.py`` as a role with DML rights only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar

import psycopg
import pytest

from actorpg_lab.postgres import PostgresDurableStateStore, PostgresJournal, PostgresSnapshotStore


class _Closable(Protocol):
    async def close(self) -> None: ...


S = TypeVar("S", bound=_Closable)


class Closing(Protocol):
    """``closing(store)`` returns ``store`` and closes it when the test ends."""

    def __call__(self, store: S) -> S: ...


class PostgresStores:
    """The contract fixtures (``journal``, ``make_snapshots``, ``durable``, ...) on PostgreSQL."""

    @pytest.fixture
    async def closing(self) -> AsyncIterator[Closing]:
        stores: list[_Closable] = []

        def track(store: S) -> S:
            stores.append(store)
            return store

        yield track
        for store in stores:
            await store.close()

    @pytest.fixture
    def journal(self, connect: dict[str, Any], closing: Closing) -> PostgresJournal:
        return closing(PostgresJournal(**connect))

    @pytest.fixture
    def other_journal(self, other_process: dict[str, Any], closing: Closing) -> PostgresJournal:
        return closing(PostgresJournal(**other_process))

    @pytest.fixture
    def make_snapshots(
        self, connect: dict[str, Any], closing: Closing
    ) -> Callable[[int], PostgresSnapshotStore]:
        return lambda keep_n: closing(PostgresSnapshotStore(keep_n=keep_n, **connect))

    @pytest.fixture
    def break_pruning(self, pg_url: str) -> Callable[[Any], None]:
        """Make DELETEs on the snapshots table fail inside PostgreSQL (a real failure)."""

        def break_it(store: PostgresSnapshotStore) -> None:  # as the superuser
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

    @pytest.fixture
    def durable(self, connect: dict[str, Any], closing: Closing) -> PostgresDurableStateStore:
        return closing(PostgresDurableStateStore(**connect))

    @pytest.fixture
    def other_durable(
        self, other_process: dict[str, Any], closing: Closing
    ) -> PostgresDurableStateStore:
        return closing(PostgresDurableStateStore(**other_process))
