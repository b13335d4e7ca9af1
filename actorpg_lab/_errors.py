"""The library's exception tree.

Every error raised by a store is a :class:`PersistenceError`.  Driver errors are
translated at one choke point (:mod:`actorpg_lab.postgres._database`) and are
attached as ``__cause__``; raw driver exceptions never escape a store.
"""

from __future__ import annotations

__all__ = [
    "DurableStateConcurrencyError",
    "JournalConcurrencyError",
    "JournalError",
    "JournalIntegrityError",
    "PersistenceError",
    "SnapshotIntegrityError",
]


class PersistenceError(Exception):
    """Base class of every error raised by a journal, snapshot store or durable-state store."""


class JournalError(PersistenceError):
    """A storage failure (connection lost, timeout, permission denied, ...).

    The driver error is available as ``__cause__``.
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


class JournalIntegrityError(PersistenceError):
    """A journal slice is not contiguous and ascending, or a payload cannot be decoded.

    ``persistence_id`` and ``sequence_nr`` name where the problem was found.
    """

    def __init__(
        self, message: str, *, persistence_id: str | None = None, sequence_nr: int | None = None
    ) -> None:
        self.persistence_id = persistence_id
        self.sequence_nr = sequence_nr
        super().__init__(message)


class SnapshotIntegrityError(PersistenceError):
    """A snapshot is ahead of its journal (its sequence number exceeds the journal head)."""

    def __init__(
        self, message: str, *, persistence_id: str | None = None, sequence_nr: int | None = None
    ) -> None:
        self.persistence_id = persistence_id
        self.sequence_nr = sequence_nr
        super().__init__(message)
