"""The store contract suite, for applications: run it against your own configuration.

The library's journals, snapshot stores and durable-state stores (in memory and on
PostgreSQL) all pass these tests; an application runs the same tests against the stores
as *it* configures them (its own tables, pool, TLS, roles, a store of its own) by
subclassing a contract in a pytest test module and providing its fixtures::

    import pytest
    from actorpg_lab.postgres import PostgresJournal
    from actorpg_lab.testing import JournalContract

    class TestOurJournal(JournalContract):
        @pytest.fixture
        async def journal(self, our_url):          # a fresh, empty journal
            journal = PostgresJournal(url=our_url, events_table="ledger")
            yield journal
            await journal.close()

        @pytest.fixture
        async def other_journal(self, our_url):    # a second view of the SAME data
            ...

* :class:`JournalContract` needs ``journal`` and ``other_journal``;
* :class:`SnapshotStoreContract` needs ``make_snapshots`` (``keep_n -> a fresh store``)
  and ``break_pruning`` (makes a store's pruning fail);
* :class:`DurableStateContract` needs ``durable`` and ``other_durable`` (a second view of
  the same records).

The tests are ``async``: run them with pytest and pytest-asyncio (``asyncio_mode =
"auto"``), both in the ``test`` extra.  Importing this package imports pytest.
"""

from .durable_state_store import DurableStateContract
from .journal import JournalContract
from .snapshot_store import SnapshotStoreContract

__all__ = ["DurableStateContract", "JournalContract", "SnapshotStoreContract"]
