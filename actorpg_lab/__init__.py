"""actorpg_lab: event sourcing on PostgreSQL, an asyncio actor runtime, and a Jupyter workbench.

``import actorpg_lab`` does not import the PostgreSQL driver; it is imported the
first time :mod:`actorpg_lab.postgres` is used.
"""

from ._codec import (
    DecodeError,
    JsonCodec,
    UnregisteredTypeWarning,
    default_codec,
    event_type,
    upcaster,
)
from ._dcb import AppendCondition, ConsistencyToken, MatchingRead, Query, QueryItem
from ._embedded import EmbeddedPostgres
from ._errors import (
    ActorStoppedError,
    AppendConditionError,
    DurableStateConcurrencyError,
    IdempotencyConflictError,
    JournalConcurrencyError,
    JournalError,
    JournalIntegrityError,
    PersistenceError,
    PluginNotFoundError,
    ProjectionConfigError,
    ProjectionError,
    ProjectionFenced,
    ProjectionLagTimeout,
    RecoveryFailedError,
    SnapshotIntegrityError,
    UnsafePathError,
)
from ._metadata import current_metadata, metadata
from ._protocols import ConditionalJournal, DurableStateStore, Journal, SnapshotStore
from ._replay import ReplayResult, ReplayStep, replay_state
from ._tag_filter import TagFilter
from ._types import DurableStateRecord, EventMetadata, JournalEntry, PersistentEvent, Snapshot
from ._validation import Limits
from ._write_attempts import (
    SnapshotActivity,
    WriteAttempt,
    add_snapshot_listener,
    add_write_listener,
)
from .actors import (
    Actor,
    ActorRef,
    ActorSystem,
    Config,
    DurableStateActor,
    EveryNEvents,
    Extension,
    PersistenceExtension,
    PersistentActor,
    SnapshotPolicy,
    every_n_events,
)
from .memory import InMemoryDurableStateStore, InMemoryJournal, InMemorySnapshotStore

__version__ = "0.1.0"

__all__ = [
    "Actor",
    "ActorRef",
    "ActorStoppedError",
    "ActorSystem",
    "AppendCondition",
    "AppendConditionError",
    "ConditionalJournal",
    "Config",
    "ConsistencyToken",
    "DecodeError",
    "DurableStateActor",
    "DurableStateConcurrencyError",
    "DurableStateRecord",
    "DurableStateStore",
    "EmbeddedPostgres",
    "EventMetadata",
    "EveryNEvents",
    "Extension",
    "IdempotencyConflictError",
    "InMemoryDurableStateStore",
    "InMemoryJournal",
    "InMemorySnapshotStore",
    "Journal",
    "JournalConcurrencyError",
    "JournalEntry",
    "JournalError",
    "JournalIntegrityError",
    "JsonCodec",
    "Limits",
    "MatchingRead",
    "PersistenceError",
    "PersistenceExtension",
    "PersistentActor",
    "PersistentEvent",
    "PluginNotFoundError",
    "ProjectionConfigError",
    "ProjectionError",
    "ProjectionFenced",
    "ProjectionLagTimeout",
    "Query",
    "QueryItem",
    "RecoveryFailedError",
    "ReplayResult",
    "ReplayStep",
    "Snapshot",
    "SnapshotActivity",
    "SnapshotIntegrityError",
    "SnapshotPolicy",
    "SnapshotStore",
    "TagFilter",
    "UnregisteredTypeWarning",
    "UnsafePathError",
    "WriteAttempt",
    "__version__",
    "add_snapshot_listener",
    "add_write_listener",
    "current_metadata",
    "default_codec",
    "event_type",
    "every_n_events",
    "metadata",
    "replay_state",
    "upcaster",
]
