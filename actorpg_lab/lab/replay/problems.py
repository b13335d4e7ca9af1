"""What makes a recovery fail: the ONE problem type of the replayer and ``check_streams``.

* ``gap`` — a missing/duplicate/out-of-order sequence number, or a deleted prefix no
  snapshot covers (:class:`~actorpg_lab.JournalIntegrityError` without a cause);
* ``snapshot_ahead`` — the snapshot is beyond the journal head
  (:class:`~actorpg_lab.SnapshotIntegrityError`);
* ``undecodable`` — a stored event the current code cannot decode (a
  :class:`~actorpg_lab.JournalIntegrityError` caused by the decoder);
* ``on_event_failed`` — the event handler raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..._errors import JournalIntegrityError, SnapshotIntegrityError
from ..._types import PersistentEvent

__all__ = ["PROBLEM_KINDS", "ProblemKind", "ReplayProblem", "classify_replay_error"]

ProblemKind = Literal["gap", "snapshot_ahead", "undecodable", "on_event_failed"]

#: Every kind of problem, in the order a tie at one sequence number is reported.
PROBLEM_KINDS: tuple[ProblemKind, ...] = ("gap", "snapshot_ahead", "undecodable",
                                          "on_event_failed")


@dataclass(frozen=True, slots=True)
class ReplayProblem:
    """Something that would make (or made) recovery fail: found by a
    :class:`~actorpg_lab.lab.Replayer` (``problems``) or by ``check_streams``."""

    kind: ProblemKind
    message: str
    sequence_nr: int | None
    #: The exception (a replayer's problems; ``None`` for a structure check in SQL).
    error: BaseException | None = None
    #: The event that failed (``on_event_failed``), when it could be read back.
    event: PersistentEvent | None = None
    #: The last frames of the exception's traceback and its message.
    traceback: str = ""
    #: The stream (set by ``check_streams``; a replayer knows its own stream).
    persistence_id: str | None = None

    def __str__(self) -> str:
        where = f" at sequence_nr {self.sequence_nr}" if self.sequence_nr is not None else ""
        stream = f"{self.persistence_id}: " if self.persistence_id is not None else ""
        return f"{stream}{self.kind}{where}: {self.message}"


def classify_replay_error(exc: BaseException) -> ProblemKind:
    """The problem kind of an exception raised while replaying a stream."""
    if isinstance(exc, SnapshotIntegrityError):
        return "snapshot_ahead"
    if isinstance(exc, JournalIntegrityError):
        # The stores raise it for a payload that does not decode with the decoder's
        # error as __cause__; a missing/misordered row has no cause.
        return "undecodable" if exc.__cause__ is not None else "gap"
    return "on_event_failed"
