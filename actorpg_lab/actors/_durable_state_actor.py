"""Durable-state actors: the current state is one record with a revision, no event history.

Start-up loads the record (or uses ``initial_state()`` at revision 0).  In
``on_command(state, command)`` the actor calls ``await self.persist(new_state)``, which
is ``upsert(persistence_id, revision, new_state)``: compare-and-set on the revision.
When another writer got there first the store raises
:class:`~actorpg_lab.DurableStateConcurrencyError`; the actor then reloads the current
record (so :attr:`DurableStateActor.revision` equals the error's ``actual``, unless yet
another write happened meanwhile) and the error reaches the asker.
"""

from __future__ import annotations

import logging
from typing import Any

from .._errors import DurableStateConcurrencyError, PersistenceError
from .._protocols import DurableStateStore
from .._types import DurableStateRecord
from ._base import PersistenceActorBase
from ._system import ActorSystem

__all__ = ["DurableStateActor"]

_log = logging.getLogger("actorpg_lab.actor")


class DurableStateActor(PersistenceActorBase):
    """An actor whose state is a single durable record with optimistic concurrency.

    Set ``durable_state_store`` (a store instance) or leave it ``None`` to use the
    system's configured durable-state plugin (``durable_state_store_plugin_id``
    selects another registered one).
    """

    durable_state_store: DurableStateStore | None = None
    durable_state_store_plugin_id: str | None = None

    _revision: int = 0

    @property
    def revision(self) -> int:
        """The revision of :attr:`state` (0 = no record yet)."""
        return self._revision

    def _position(self) -> str:
        return f"revision={self._revision}"

    def _attach(self, system: ActorSystem) -> None:
        from ._persistence_extension import PersistenceExtension

        self._check_persistence_id()
        if self.durable_state_store is None:
            ext = system.extension(PersistenceExtension)
            self.durable_state_store = ext.durable_state_store_for(
                self.durable_state_store_plugin_id
            )

    def _store(self) -> DurableStateStore:
        if self.durable_state_store is None:
            raise RuntimeError(f"{type(self).__name__} is not spawned in an ActorSystem yet")
        return self.durable_state_store

    async def _load(self) -> DurableStateRecord | None:
        record = await self._store().load(self.persistence_id)
        if record is None:
            self._state, self._revision = self.initial_state(), 0
        else:
            self._state, self._revision = record.state, record.revision
        self._needs_resync = False
        return record

    async def persist(self, new_state: Any) -> DurableStateRecord:
        """Store ``new_state`` at the next revision (compare-and-set on :attr:`revision`)."""
        self._require_command("persist")
        try:
            record = await self._store().upsert(self.persistence_id, self._revision, new_state)
        except DurableStateConcurrencyError as exc:
            if await self._resync_after_conflict():
                _log.info("%s: concurrent write (expected %d, actual %d); reloaded revision %d",
                          self.persistence_id, exc.expected, exc.actual, self._revision)
            raise
        except PersistenceError:
            self._needs_resync = True  # the write may or may not have happened
            raise
        self._state, self._revision = record.state, record.revision
        return record

    async def delete_state(self) -> None:
        """Delete the record; the actor continues from ``initial_state()`` at revision 0."""
        self._require_command("delete_state")
        await self._store().delete(self.persistence_id)
        self._state, self._revision = self.initial_state(), 0
