"""What a projection is doing: :class:`ProjectionStatus` and how its ``state`` is derived."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ..query import TagOffset
from ._checkpoint import Checkpoint

__all__ = ["STATES", "Blocker", "ProjectionStatus", "derive_state"]

#: Every ``ProjectionStatus.state``.
STATES = ("caught_up", "catching_up", "standby", "stalled", "held_back", "dead", "failed",
          "paused", "rebuilding", "stopped")


@dataclass(frozen=True, slots=True)
class Blocker:
    """The open transaction that holds the visibility horizon back (from
    ``pg_stat_activity``; ``pid`` is ``None`` for a prepared transaction)."""

    pid: int | None
    age_seconds: float
    state: str
    query: str


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    """One projection version as a runner (or an observer) sees it.

    :ivar state: one of :data:`STATES`: ``caught_up``; ``catching_up`` (events wait);
        ``standby`` (this runner waits while another owns it); ``stalled`` (events wait
        and nothing committed for ``stall_after_s``); ``held_back`` (nothing deliverable,
        but committed events wait behind an open transaction: ``blocker`` names it);
        ``dead`` (the owner's heartbeat is older than twice its lease); ``failed``;
        ``paused``; ``rebuilding``; ``stopped`` (nobody owns it).
    :ivar offset: the checkpoint: the key of the last event handled.
    :ivar lag_events: matching events deliverable now after the checkpoint, counted up to
        the cap (``lag_capped`` says it stopped there).
    :ivar lag_seconds: age of the oldest unhandled matching event (0 when none).
    :ivar failed_event: ``(persistence_id, sequence_nr)`` of the event that failed, or
        ``None``; ``last_error`` its error.
    :ivar rebuild_progress: 0..1 while rebuilding, else ``None``.
    """

    name: str
    version: int
    state: str
    offset: TagOffset
    lag_events: int
    lag_seconds: float
    owner: str | None
    updated_at: datetime
    last_error: str | None
    failed_event: tuple[str, int] | None
    rebuild_progress: float | None
    lag_capped: bool = False
    handled: int = 0
    heartbeat_age_seconds: float | None = None
    commit_age_seconds: float | None = None
    blocker: Blocker | None = None

    def __repr__(self) -> str:
        extra = ""
        if self.failed_event is not None:
            extra += f" failed_event={self.failed_event!r} last_error={self.last_error!r:.120}"
        if self.rebuild_progress is not None:
            extra += f" rebuild={self.rebuild_progress:.0%}"
        if self.blocker is not None:
            extra += f" blocker=pid {self.blocker.pid} open {self.blocker.age_seconds:.1f}s"
        return (f"<ProjectionStatus {self.name!r} v{self.version} {self.state} "
                f"offset={self.offset.key!r} lag={self.lag_events}"
                f"{'+' if self.lag_capped else ''} events/{self.lag_seconds:.2f}s "
                f"owner={self.owner!r}{extra}>")


def lease_ms(row: Checkpoint) -> int | None:
    """The owner's lease length (lease_until - heartbeat: both are set together)."""
    if row.lease_until_ms is None or row.heartbeat_ms is None:
        return None
    return max(1, row.lease_until_ms - row.heartbeat_ms)


def derive_state(row: Checkpoint, *, lag_events: int, held_back: bool, stall_after_s: float,
                 standby: bool = False, stopped: bool = False) -> str:
    """The ``state`` of a checkpoint row (see :class:`ProjectionStatus`).

    ``standby``: the asking runner waits while another owns the row; ``stopped``: the
    asking runner is not running (then an unowned row is ``stopped``).
    """
    if row.status in ("rebuilding", "rebuild_requested"):
        return "rebuilding"
    if row.status == "paused":
        return "paused"
    if row.status == "failed":
        return "failed"
    if row.owner is None:
        return "stopped"
    lease = lease_ms(row)
    if row.heartbeat_ms is not None and lease is not None and (
            row.now_ms - row.heartbeat_ms > 2 * lease):
        return "dead"
    if standby:
        return "standby"
    if lag_events > 0:
        since = row.committed_ms or row.heartbeat_ms or row.updated_ms
        if row.now_ms - since > stall_after_s * 1000:
            return "stalled"
        return "catching_up"
    if held_back:
        return "held_back"
    return "caught_up"


def to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
