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
from ._base import PersistenceActorBase, describe, maybe_await
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

    _state: Any = None
    _revision: int = 0
    _needs_reload: bool = False

    @property
    def state(self) -> Any:
        """The current state (as stored)."""
        return self._state

    @property
    def revision(self) -> int:
        """The revision of :attr:`state` (0 = no record yet)."""
        return self._revision

    def _current_state(self) -> Any:
        return self._state

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

    async def _reload(self) -> DurableStateRecord | None:
        record = await self._store().load(self.persistence_id)
        if record is None:
            self._state, self._revision = self.initial_state(), 0
        else:
            self._state, self._revision = record.state, record.revision
        self._needs_reload = False
        return record

    async def _start(self) -> None:
        await self._reload()
        self._recovered = True
        await maybe_await(self.on_recovery_complete(self._state))

    async def _before_command(self) -> None:
        if self._needs_reload:
            await self._reload()

    async def persist(self, new_state: Any) -> DurableStateRecord:
        """Store ``new_state`` at the next revision (compare-and-set on :attr:`revision`)."""
        self._require_command("persist")
        try:
            record = await self._store().upsert(self.persistence_id, self._revision, new_state)
        except DurableStateConcurrencyError as exc:
            try:
                await self._reload()
            except Exception:
                self._needs_reload = True
                _log.warning("%s: reload after a concurrent write failed", self.persistence_id,
                             exc_info=True)
            else:
                _log.info("%s: concurrent write (expected %d, actual %d); reloaded revision %d",
                          self.persistence_id, exc.expected, exc.actual, self._revision)
            raise
        except PersistenceError:
            self._needs_reload = True  # the write may or may not have happened
            raise
        self._state, self._revision = record.state, record.revision
        return record

    async def delete_state(self) -> None:
        """Delete the record; the actor continues from ``initial_state()`` at revision 0."""
        self._require_command("delete_state")
        await self._store().delete(self.persistence_id)
        self._state, self._revision = self.initial_state(), 0

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} persistence_id={getattr(self, 'persistence_id', None)!r} "
            f"revision={self._revision} state={describe(self._state)}>"
        )
