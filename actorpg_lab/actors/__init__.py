"""The asyncio actor runtime: actor system, persistent and durable-state actors, persistence.

One concept per module:

* :mod:`._system` — :class:`ActorSystem`, :class:`ActorRef`, :class:`Actor`,
  :class:`Extension`: mailboxes, life cycle, extensions;
* :mod:`._config` — :class:`Config`: the system's HOCON / dict configuration;
* :mod:`._base` — what persistent and durable-state actors share;
* :mod:`._persistent_actor` — :class:`PersistentActor` (event sourcing) and snapshot
  policies (:func:`every_n_events`);
* :mod:`._durable_state_actor` — :class:`DurableStateActor` (one record, revision CAS);
* :mod:`._persistence_extension` — :class:`PersistenceExtension`: the per-system
  journal / snapshot / durable-state plugins chosen by config.

Everything here is also importable from :mod:`actorpg_lab` itself, and so are the
runtime's errors (:class:`~actorpg_lab.ActorStoppedError`,
:class:`~actorpg_lab.RecoveryFailedError`, :class:`~actorpg_lab.PluginNotFoundError`),
which live with every other exception class in :mod:`actorpg_lab._errors`.
"""

from ._config import Config
from ._durable_state_actor import DurableStateActor
from ._persistence_extension import PersistenceExtension
from ._persistent_actor import EveryNEvents, PersistentActor, SnapshotPolicy, every_n_events
from ._system import Actor, ActorRef, ActorSystem, Extension

__all__ = [
    "Actor",
    "ActorRef",
    "ActorSystem",
    "Config",
    "DurableStateActor",
    "EveryNEvents",
    "Extension",
    "PersistenceExtension",
    "PersistentActor",
    "SnapshotPolicy",
    "every_n_events",
]
