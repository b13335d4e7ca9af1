"""The persistence extension: a per-system registry of journal, snapshot and durable-state plugins.

Plugins are registered under ids, either as instances or as zero-argument
factories (called lazily, once, on first use).  The system's configuration picks
the active ones::

    actorpg.persistence.journal.plugin              (default actorpg.persistence.journal.inmem)
    actorpg.persistence.snapshot-store.plugin       (default actorpg.persistence.snapshot-store.inmem)
    actorpg.persistence.durable-state-store.plugin  (default actorpg.persistence.durable-state-store.inmem)

The in-memory plugins are always registered.  Store caps come from the config too
(``actorpg.persistence.limits`` and ``actorpg.persistence.<kind>.limits``, see
:data:`~actorpg_lab.actors._config.LIMITS_KEY`).  :func:`actorpg_lab.postgres.register_postgres_plugins`
adds the PostgreSQL ones.  Stores created from factories, and instances registered
with ``owned=True``, are closed when the system terminates; other instances are the
caller's to close.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .._errors import PluginNotFoundError
from .._protocols import DurableStateStore, Journal, SnapshotStore
from ..memory import InMemoryDurableStateStore, InMemoryJournal, InMemorySnapshotStore
from ._config import (
    DURABLE_STATE_PLUGIN_KEY,
    JOURNAL_PLUGIN_KEY,
    SNAPSHOT_PLUGIN_KEY,
    limits_from_config,
)
from ._system import ActorSystem, Extension

__all__ = [
    "INMEM_DURABLE_STATE_PLUGIN",
    "INMEM_JOURNAL_PLUGIN",
    "INMEM_SNAPSHOT_PLUGIN",
    "PersistenceExtension",
    "PluginNotFoundError",
]

_log = logging.getLogger("actorpg_lab.persistence")

INMEM_JOURNAL_PLUGIN = "actorpg.persistence.journal.inmem"
INMEM_SNAPSHOT_PLUGIN = "actorpg.persistence.snapshot-store.inmem"
INMEM_DURABLE_STATE_PLUGIN = "actorpg.persistence.durable-state-store.inmem"

S = TypeVar("S")


@dataclass
class _Plugin(Generic[S]):
    factory: Callable[[], S] | None
    instance: S | None
    owned: bool


class _Registry(Generic[S]):
    def __init__(self, kind: str, protocol: type[Any]) -> None:
        self.kind = kind
        self.protocol = protocol
        self.plugins: dict[str, _Plugin[S]] = {}
        #: owned instances replaced by a later registration: still closed on terminate
        self.retired: list[tuple[str, S]] = []

    def register(self, plugin_id: str, plugin: S | Callable[[], S], owned: bool | None) -> None:
        if not isinstance(plugin_id, str) or not plugin_id:
            raise ValueError(f"{self.kind} plugin id must be a non-empty str: {plugin_id!r}")
        old = self.plugins.get(plugin_id)
        if old is not None and old.instance is not None and old.owned and old.instance is not plugin:
            self.retired.append((plugin_id, old.instance))
        # a class is a factory even though it "has" the protocol's methods
        if not isinstance(plugin, type) and isinstance(plugin, self.protocol):
            self.plugins[plugin_id] = _Plugin(None, plugin, bool(owned))  # type: ignore[arg-type]
        elif callable(plugin):
            self.plugins[plugin_id] = _Plugin(plugin, None, True if owned is None else owned)
        else:
            raise TypeError(
                f"{self.kind} plugin {plugin_id!r} must be a {self.protocol.__name__} or a "
                f"zero-argument factory returning one, got {type(plugin).__name__}: {plugin!r:.200}"
            )

    def get(self, plugin_id: str) -> S:
        plugin = self.plugins.get(plugin_id)
        if plugin is None:
            raise PluginNotFoundError(self.kind, plugin_id, sorted(self.plugins))
        if plugin.instance is None:
            assert plugin.factory is not None
            instance = plugin.factory()
            if not isinstance(instance, self.protocol):
                raise TypeError(
                    f"the factory of {self.kind} plugin {plugin_id!r} returned "
                    f"{type(instance).__name__}, not a {self.protocol.__name__}"
                )
            plugin.instance = instance
        return plugin.instance

    def created(self) -> list[tuple[str, S, bool]]:
        return [(pid, p.instance, p.owned) for pid, p in self.plugins.items()
                if p.instance is not None]


class PersistenceExtension(Extension):
    """Per-system persistence plugins; get it with ``system.extension(PersistenceExtension)``."""

    def __init__(self, system: ActorSystem) -> None:
        super().__init__(system)
        self._journals: _Registry[Journal] = _Registry("journal", Journal)
        self._snapshots: _Registry[SnapshotStore] = _Registry("snapshot-store", SnapshotStore)
        self._durables: _Registry[DurableStateStore] = _Registry(
            "durable-state-store", DurableStateStore
        )
        config = system.config
        journal_limits = limits_from_config(config, "journal")
        snapshot_limits = limits_from_config(config, "snapshot-store")
        durable_limits = limits_from_config(config, "durable-state-store")
        self._journals.register(INMEM_JOURNAL_PLUGIN,
                                lambda: InMemoryJournal(limits=journal_limits), True)
        self._snapshots.register(INMEM_SNAPSHOT_PLUGIN,
                                 lambda: InMemorySnapshotStore(limits=snapshot_limits), True)
        self._durables.register(INMEM_DURABLE_STATE_PLUGIN,
                                lambda: InMemoryDurableStateStore(limits=durable_limits), True)
        self._closed = False

    # -- registration ------------------------------------------------------------------
    def register_journal(
        self, plugin_id: str, journal: Journal | Callable[[], Journal], *, owned: bool | None = None
    ) -> None:
        """Register a journal (instance or zero-argument factory) under ``plugin_id``.

        ``owned`` (default: ``True`` for factories, ``False`` for instances) decides
        whether ``system.terminate()`` closes it.
        """
        self._journals.register(plugin_id, journal, owned)

    def register_snapshot_store(
        self, plugin_id: str, store: SnapshotStore | Callable[[], SnapshotStore],
        *, owned: bool | None = None,
    ) -> None:
        """Register a snapshot store (instance or factory) under ``plugin_id``."""
        self._snapshots.register(plugin_id, store, owned)

    def register_durable_state_store(
        self, plugin_id: str, store: DurableStateStore | Callable[[], DurableStateStore],
        *, owned: bool | None = None,
    ) -> None:
        """Register a durable-state store (instance or factory) under ``plugin_id``."""
        self._durables.register(plugin_id, store, owned)

    def limits_for(self, kind: str) -> dict[str, int] | None:
        """The configured store caps for ``kind`` (``"journal"``, ``"snapshot-store"``,
        ``"durable-state-store"``) as :class:`~actorpg_lab.Limits` keyword arguments, or
        ``None`` when the config sets none (``actorpg.persistence.limits`` merged with
        ``actorpg.persistence.<kind>.limits``)."""
        return limits_from_config(self.system.config, kind)

    # -- lookup ------------------------------------------------------------------------
    @property
    def journal_plugin_id(self) -> str:
        """The configured journal plugin id."""
        return self.system.config.get_str(JOURNAL_PLUGIN_KEY)

    @property
    def snapshot_store_plugin_id(self) -> str:
        """The configured snapshot-store plugin id."""
        return self.system.config.get_str(SNAPSHOT_PLUGIN_KEY)

    @property
    def durable_state_store_plugin_id(self) -> str:
        """The configured durable-state-store plugin id."""
        return self.system.config.get_str(DURABLE_STATE_PLUGIN_KEY)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"the persistence extension of {self.system.name!r} is closed")

    def journal_for(self, plugin_id: str | None = None) -> Journal:
        """The journal registered under ``plugin_id`` (default: the configured one)."""
        self._check_open()
        return self._journals.get(plugin_id or self.journal_plugin_id)

    def snapshot_store_for(self, plugin_id: str | None = None) -> SnapshotStore:
        """The snapshot store registered under ``plugin_id`` (default: the configured one)."""
        self._check_open()
        return self._snapshots.get(plugin_id or self.snapshot_store_plugin_id)

    def durable_state_store_for(self, plugin_id: str | None = None) -> DurableStateStore:
        """The durable-state store under ``plugin_id`` (default: the configured one)."""
        self._check_open()
        return self._durables.get(plugin_id or self.durable_state_store_plugin_id)

    @property
    def journal(self) -> Journal:
        """The configured journal (created on first use)."""
        return self.journal_for()

    @property
    def snapshot_store(self) -> SnapshotStore:
        """The configured snapshot store (created on first use)."""
        return self.snapshot_store_for()

    @property
    def durable_state_store(self) -> DurableStateStore:
        """The configured durable-state store (created on first use)."""
        return self.durable_state_store_for()

    def registered(self) -> dict[str, list[str]]:
        """Registered plugin ids by kind."""
        return {
            "journal": sorted(self._journals.plugins),
            "snapshot-store": sorted(self._snapshots.plugins),
            "durable-state-store": sorted(self._durables.plugins),
        }

    async def close(self) -> None:
        """Close every owned store that was created (called by ``system.terminate()``)."""
        if self._closed:
            return
        self._closed = True
        stores: list[tuple[str, Any]] = []
        for registry in (self._journals, self._snapshots, self._durables):
            stores.extend((pid, inst) for pid, inst, owned in registry.created() if owned)
            stores.extend(registry.retired)
        closed: set[int] = set()
        for plugin_id, store in stores:
            if id(store) in closed:
                continue
            closed.add(id(store))
            try:
                await store.close()
            except Exception:
                _log.exception("closing %s plugin %r failed", type(store).__name__, plugin_id)

    def __repr__(self) -> str:
        return (
            f"<PersistenceExtension system={self.system.name!r} "
            f"journal={self.journal_plugin_id!r} snapshot-store={self.snapshot_store_plugin_id!r} "
            f"durable-state-store={self.durable_state_store_plugin_id!r}>"
        )
