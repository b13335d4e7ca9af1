"""Register the PostgreSQL stores as persistence plugins of an actor system."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg_pool import AsyncConnectionPool

from ..actors import PersistenceExtension
from ._durable_state_store import PostgresDurableStateStore
from ._journal import PostgresJournal
from ._snapshot_store import PostgresSnapshotStore

__all__ = [
    "POSTGRES_DURABLE_STATE_PLUGIN",
    "POSTGRES_JOURNAL_PLUGIN",
    "POSTGRES_SNAPSHOT_PLUGIN",
    "register_postgres_plugins",
]

POSTGRES_JOURNAL_PLUGIN = "actorpg.persistence.journal.postgres"
POSTGRES_SNAPSHOT_PLUGIN = "actorpg.persistence.snapshot-store.postgres"
POSTGRES_DURABLE_STATE_PLUGIN = "actorpg.persistence.durable-state-store.postgres"


def _options(
    component: str, options: Mapping[str, Any] | None, pool: AsyncConnectionPool[Any] | None
) -> dict[str, Any]:
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise TypeError(
            f"register_postgres_plugins: {component} must be a dict of constructor options, "
            f"got {type(options).__name__}: {options!r:.200}"
        )
    kwargs = dict(options)
    for key in kwargs:
        if not isinstance(key, str):
            raise TypeError(f"register_postgres_plugins: {component} option names must be str: {key!r}")
    if pool is not None and "url" not in kwargs and "pool" not in kwargs:
        kwargs["pool"] = pool
    if "pool" not in kwargs and "url" not in kwargs:
        raise ValueError(
            f"register_postgres_plugins: {component} needs a connection: pass pool= or put "
            f"'url' (and optionally 'pool_config') in the {component} dict"
        )
    return kwargs


#: HOCON switches for the opt-in write history, read when the component's dict does not
#: set the option itself: (component, constructor option, config path).
HISTORY_SWITCHES = (
    ("journal", "log_conflicts", "actorpg.persistence.journal.postgres.log-conflicts"),
    ("snapshot_store", "log_pruning", "actorpg.persistence.snapshot-store.postgres.log-pruning"),
    ("durable_state_store", "log_conflicts",
     "actorpg.persistence.durable-state-store.postgres.log-conflicts"),
)
#: HOCON: the writer name the history records (default ``<host>:<pid>``).
WRITER_KEY = "actorpg.persistence.writer"


#: The config kind (``actorpg.persistence.<kind>.limits``) of each component.
_KINDS = {"journal": "journal", "snapshot_store": "snapshot-store",
          "durable_state_store": "durable-state-store"}


def _from_config(ext: PersistenceExtension, component: str, kwargs: dict[str, Any]) -> None:
    """Fill the write-history options and the ``limits`` of ``component`` from the
    system's config (options in the component's dict win)."""
    config = ext.system.config
    if "limits" not in kwargs:
        limits = ext.limits_for(_KINDS[component])
        if limits is not None:
            kwargs["limits"] = limits
    for name, option, path in HISTORY_SWITCHES:
        if name != component or option in kwargs:
            continue
        value = config.get(path, None)
        if value is None:
            continue
        if not isinstance(value, bool):
            raise TypeError(f"{path} must be true or false, got {value!r}")
        kwargs[option] = value
        writer = config.get(WRITER_KEY, None)
        if value and writer is not None and "writer" not in kwargs:
            if not isinstance(writer, str):
                raise TypeError(f"{WRITER_KEY} must be a string, got {writer!r}")
            kwargs["writer"] = writer


def _build(component: str, cls: type[Any], kwargs: dict[str, Any]) -> Any:
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise TypeError(f"register_postgres_plugins: bad {component} options {sorted(kwargs)}: "
                        f"{exc}") from exc


def register_postgres_plugins(
    ext: PersistenceExtension,
    pool: AsyncConnectionPool[Any] | None = None,
    journal: Mapping[str, Any] | None = None,
    snapshot_store: Mapping[str, Any] | None = None,
    durable_state_store: Mapping[str, Any] | None = None,
) -> PostgresDurableStateStore:
    """Register :class:`PostgresJournal`, :class:`PostgresSnapshotStore` and
    :class:`PostgresDurableStateStore` under the ids

    * ``actorpg.persistence.journal.postgres``
    * ``actorpg.persistence.snapshot-store.postgres``
    * ``actorpg.persistence.durable-state-store.postgres``

    Each dict holds constructor options of its store (``events_table``, ``keep_n``,
    ``table``, ...).  With ``pool`` every store shares it (the pool is never closed by
    the stores); without it each dict needs ``url`` (and optionally ``pool_config``)
    and the store builds its own pool.  The stores belong to the system: ``await
    system.terminate()`` closes them.  Returns the durable-state store (pass it to a
    :class:`~actorpg_lab.DurableStateActor` or select its plugin id in the config).
    All options are validated before anything is registered.

    The opt-in write history (``log_conflicts`` of the journal and the durable-state
    store, ``log_pruning`` of the snapshot store, ``writer``) can be set in those dicts
    or in the system's config::

        actorpg.persistence.journal.postgres.log-conflicts = true
        actorpg.persistence.snapshot-store.postgres.log-pruning = true
        actorpg.persistence.durable-state-store.postgres.log-conflicts = true
        actorpg.persistence.writer = "billing-worker-1"   # default: <host>:<pid>

    So can the store caps (``limits``; a ``"limits"`` entry in a dict wins)::

        actorpg.persistence.limits { max-payload-bytes = 1048576, max-tags-per-event = 32 }
        actorpg.persistence.journal.limits.max-tags-per-event = 8   # per kind
    """
    if not isinstance(ext, PersistenceExtension):
        raise TypeError(
            f"register_postgres_plugins expects system.extension(PersistenceExtension), "
            f"got {type(ext).__name__}: {ext!r:.200}"
        )
    if pool is not None and not isinstance(pool, AsyncConnectionPool):
        raise TypeError(
            f"pool must be a psycopg_pool.AsyncConnectionPool, got {type(pool).__name__}"
        )
    options = {
        "journal": _options("journal", journal, pool),
        "snapshot_store": _options("snapshot_store", snapshot_store, pool),
        "durable_state_store": _options("durable_state_store", durable_state_store, pool),
    }
    for component, kwargs in options.items():
        _from_config(ext, component, kwargs)
    j = _build("journal", PostgresJournal, options["journal"])
    s = _build("snapshot_store", PostgresSnapshotStore, options["snapshot_store"])
    d = _build("durable_state_store", PostgresDurableStateStore,
               options["durable_state_store"])
    ext.register_journal(POSTGRES_JOURNAL_PLUGIN, j, owned=True)
    ext.register_snapshot_store(POSTGRES_SNAPSHOT_PLUGIN, s, owned=True)
    ext.register_durable_state_store(POSTGRES_DURABLE_STATE_PLUGIN, d, owned=True)
    result: PostgresDurableStateStore = d
    return result
