"""The library's exception tree: every exception class actorpg_lab defines lives here.

::

    Exception
    ├── PersistenceError                 any failure of a journal, snapshot or durable-state store
    │   ├── JournalError                 storage failure (connection, timeout, permission); driver
    │   │   │                            error as __cause__
    │   │   └── WriteConflict            internal to the Postgres stores: a write lost a race
    │   │                                (SQLSTATE 23505/40001/40P01); never escapes a store
    │   ├── JournalConcurrencyError      append expected another stream head
    │   ├── DurableStateConcurrencyError upsert expected another revision
    │   ├── JournalIntegrityError        a read slice with a gap, or an undecodable event
    │   ├── SnapshotIntegrityError       a snapshot ahead of its journal, or undecodable
    │   └── ProjectionError              a projection runner's failure (actorpg_lab.projections)
    │       ├── ProjectionFenced         its ownership was taken over: the batch committed nothing
    │       ├── ProjectionLagTimeout     (also TimeoutError) wait_for timed out; carries the lag
    │       └── ProjectionConfigError    (also ValueError) the definition contradicts its checkpoint
    ├── RuntimeError
    │   └── ActorStoppedError            the actor does not run (stopped, system terminated)
    │       └── RecoveryFailedError      ... because its recovery failed (cause = the error)
    ├── ValueError
    │   └── DecodeError                  a typed payload the current registrations cannot read
    │                                    (the cause of the integrity errors above)
    ├── LookupError
    │   └── PluginNotFoundError          no persistence plugin under the configured id
    └── PermissionError
        └── UnsafePathError              the embedded server refuses a folder/file another
                                         local user could control (named, with the reason)

    UserWarning
    └── UnregisteredTypeWarning          an unregistered dataclass was persisted (registered
                                         under its module path)

Bad input is a plain :class:`ValueError` / :class:`TypeError` naming the value at
fault, raised before anything is written.

Every error raised by a store is a :class:`PersistenceError`.  Driver errors are
translated at one choke point (:func:`actorpg_lab.postgres._database.translate`) and
are attached as ``__cause__``; raw driver exceptions never escape a store.
"""

from __future__ import annotations

__all__ = [
    "ActorStoppedError",
    "AppendConditionError",
    "DecodeError",
    "DurableStateConcurrencyError",
    "IdempotencyConflictError",
    "JournalConcurrencyError",
    "JournalError",
    "JournalIntegrityError",
    "PersistenceError",
    "PluginNotFoundError",
    "ProjectionConfigError",
    "ProjectionError",
    "ProjectionFenced",
    "ProjectionLagTimeout",
    "RecoveryFailedError",
    "SnapshotIntegrityError",
    "UnregisteredTypeWarning",
    "UnsafePathError",
    "WriteConflict",
]


class PersistenceError(Exception):
    """Base class of every error raised by a journal, snapshot store or durable-state store."""


class JournalError(PersistenceError):
    """A storage failure (connection lost, timeout, permission denied, ...).

    The driver error is available as ``__cause__``.
    """


class WriteConflict(JournalError):
    """Internal: a write lost a race (23505 unique violation, 40001, 40P01).

    The Postgres stores catch it and raise :class:`JournalConcurrencyError` /
    :class:`DurableStateConcurrencyError` (or retry); it never reaches a caller.
    """


class JournalConcurrencyError(PersistenceError):
    """An append expected the stream head at ``expected_seq`` but found ``actual_seq``.

    ``actual_seq`` is re-read after the failure, so it is the real current head.
    """

    def __init__(self, persistence_id: str, expected_seq: int, actual_seq: int) -> None:
        self.persistence_id = persistence_id
        self.expected_seq = expected_seq
        self.actual_seq = actual_seq
        super().__init__(
            f"concurrent write to {persistence_id!r}: expected head {expected_seq}, "
            f"actual head {actual_seq}"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.persistence_id, self.expected_seq, self.actual_seq))


class AppendConditionError(JournalConcurrencyError):
    """A conditional append (``append(..., condition=AppendCondition(...))``) found an
    event matching its query that the decision did not see; nothing was written.

    ``conflict`` is that event's ``(position, persistence_id, sequence_nr)`` key
    (``event_type`` and ``tags`` describe it); ``query`` is the condition's query as
    text.  ``expected_seq``/``actual_seq`` are the appending stream's expected and
    current head (equal: the head was not the problem).
    """

    def __init__(self, persistence_id: str, expected_seq: int, actual_seq: int,
                 conflict: tuple[int, str, int], event_type: str | None = None,
                 tags: tuple[str, ...] = (), query: str = "") -> None:
        super().__init__(persistence_id, expected_seq, actual_seq)
        self.conflict = conflict
        self.event_type = event_type
        self.tags = tuple(tags)
        self.query = query
        position, pid, seq = conflict
        self.args = (
            f"append to {persistence_id!r} failed its condition: event {pid!r} #{seq} "
            f"(position {position}, type {event_type!r}, tags {list(self.tags)!r}) matches "
            f"{query or 'the query'} and was not seen by the decision; nothing was written",
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.persistence_id, self.expected_seq, self.actual_seq,
                             self.conflict, self.event_type, self.tags, self.query))


class IdempotencyConflictError(JournalError):
    """An append reused an ``idempotency_key`` of its stream with other content (other
    events, tags or metadata) than the append that stored it; nothing was written."""

    def __init__(self, persistence_id: str, key: str, first_seq: int, events: int) -> None:
        self.persistence_id = persistence_id
        self.key = key
        self.first_seq = first_seq
        self.events = events
        super().__init__(
            f"idempotency key {key!r} of {persistence_id!r} was used for other content "
            f"(the {events} event(s) stored from sequence_nr {first_seq}); nothing was written")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.persistence_id, self.key, self.first_seq, self.events))


class DurableStateConcurrencyError(PersistenceError):
    """An upsert expected revision ``expected`` but the record is at ``actual``.

    ``actual`` is read back after the failure (0 when the record does not exist).
    """

    def __init__(self, persistence_id: str, expected: int, actual: int) -> None:
        self.persistence_id = persistence_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"concurrent durable-state write to {persistence_id!r}: expected revision "
            f"{expected}, actual revision {actual}"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.persistence_id, self.expected, self.actual))


class _StreamPositionError(PersistenceError):
    """Shared by the integrity errors: ``persistence_id`` and ``sequence_nr`` name where."""

    def __init__(
        self, message: str, *, persistence_id: str | None = None, sequence_nr: int | None = None
    ) -> None:
        self.persistence_id = persistence_id
        self.sequence_nr = sequence_nr
        super().__init__(message)


class JournalIntegrityError(_StreamPositionError):
    """A journal slice is not contiguous and ascending, or a payload cannot be decoded.

    ``persistence_id`` and ``sequence_nr`` name where the problem was found.
    """


class SnapshotIntegrityError(_StreamPositionError):
    """A snapshot is ahead of its journal (its sequence number exceeds the journal head),
    or its state cannot be decoded.

    ``persistence_id`` and ``sequence_nr`` name the snapshot.
    """


class ProjectionError(PersistenceError):
    """A projection runner's failure; ``name`` and ``version`` name the projection."""

    def __init__(self, message: str, *, name: str | None = None, version: int | None = None) -> None:
        self.name = name
        self.version = version
        super().__init__(message)


class ProjectionFenced(ProjectionError):
    """The runner no longer owns the projection (another runner took the lease over, or the
    checkpoint moved): the batch was rolled back and committed nothing.  ``owner`` is the
    owner found on the checkpoint (``None`` when released)."""

    def __init__(self, message: str, *, name: str, version: int, owner: str | None) -> None:
        super().__init__(message, name=name, version=version)
        self.owner = owner


class ProjectionLagTimeout(ProjectionError, TimeoutError):
    """``wait_for`` gave up: the projection had not handled the target in time.

    ``lag`` holds the :class:`~actorpg_lab.projections.ProjectionStatus` of every
    projection still behind (its ``lag_events`` / ``lag_seconds`` say how far).
    """

    def __init__(self, message: str, *, lag: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.lag = lag


class ProjectionConfigError(ProjectionError, ValueError):
    """A projection definition contradicts its stored checkpoint (e.g. a changed
    ``tag_filter`` without a ``version`` bump) or is malformed; the message names the
    value at fault."""


class ActorStoppedError(RuntimeError):
    """The actor is not running (stopped, its system terminated, or its start-up failed).

    ``actor_name`` names the actor; ``__cause__`` carries the underlying failure if any.
    """

    def __init__(self, message: str, *, actor_name: str | None = None) -> None:
        self.actor_name = actor_name
        super().__init__(message)


class RecoveryFailedError(ActorStoppedError):
    """The actor's recovery (start-up) failed, so it stopped.

    ``cause`` (also ``__cause__``) is the original exception, e.g. a
    :class:`JournalIntegrityError` or a :class:`JournalError`.
    Every ``ask`` to the actor — pending or later — raises a fresh instance of this.
    """

    def __init__(self, message: str, *, actor_name: str | None, cause: BaseException) -> None:
        super().__init__(message, actor_name=actor_name)
        self.cause = cause
        self.__cause__ = cause


class PluginNotFoundError(LookupError):
    """No plugin is registered under the requested id; the message lists the registered ids."""

    def __init__(self, kind: str, plugin_id: str, registered: list[str]) -> None:
        self.kind = kind
        self.plugin_id = plugin_id
        self.registered = registered
        super().__init__(
            f"no {kind} plugin registered under {plugin_id!r}; registered {kind} plugins: "
            f"{', '.join(repr(r) for r in registered) or '(none)'}"
            + (
                " (call actorpg_lab.postgres.register_postgres_plugins(ext, ...) first)"
                if plugin_id.endswith(".postgres")
                else ""
            )
        )

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError does not
        return str(self.args[0])


class UnsafePathError(PermissionError):
    """A folder or file the embedded server would use is not safe to trust: another local
    user could own, replace or read it.  The message names the path and what is wrong."""


class UnregisteredTypeWarning(UserWarning):
    """A dataclass without a registration was encoded and registered under its
    qualified name (which ties stored data to its module path)."""


class DecodeError(ValueError):
    """A typed payload cannot be read with the current registrations.

    ``type_name`` is the stored name, ``stored_version`` the version in the row,
    ``current_version`` the registered one (``None`` when the type is not registered),
    ``reason`` what went wrong (no upcaster, newer version, a value that does not fit).
    """

    def __init__(
        self, type_name: str, stored_version: object, current_version: int | None, reason: str
    ) -> None:
        self.type_name = type_name
        self.stored_version = stored_version
        self.current_version = current_version
        self.reason = reason
        super().__init__(
            f"type {type_name!r} stored at version {stored_version!r}, registered version "
            f"{current_version!r}: {reason}"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.type_name, self.stored_version, self.current_version,
                             self.reason))
