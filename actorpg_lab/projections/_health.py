"""A projection's health: its :class:`ProjectionStatus` from the checkpoint row, the lag
(events, capped, and seconds) and the open transaction holding the horizon back.

:func:`status_from_row` works for any checkpoint row, so an observer that runs no
projection (the workbench) reads the same statuses as the runner (:func:`read_statuses`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._protocols import Journal
from .._tag_filter import TagFilter
from ..query import PersistenceQuery, TagOffset
from ._checkpoint import Checkpoint, CheckpointStore
from ._projection import filter_of_json
from ._settings import LAG_CAP
from ._status import Blocker, ProjectionStatus, derive_state, to_datetime

if TYPE_CHECKING:
    from ._runner import ProjectionRunner
    from ._worker import Worker

__all__ = ["read_statuses", "status_from_row", "status_of"]


def rebuild_progress(row: Checkpoint) -> float | None:
    """0..1 while ``row`` is rebuilding (by events handled, else by position), else None."""
    if row.status not in ("rebuilding", "rebuild_requested"):
        return None
    if row.status == "rebuild_requested":
        return 0.0
    if row.rebuild_total:
        return min(1.0, row.handled / row.rebuild_total)
    if row.rebuild_horizon:
        return min(1.0, row.position / row.rebuild_horizon)
    return 1.0 if row.rebuild_total == 0 else 0.0


async def status_from_row(journal: Journal, store: CheckpointStore, row: Checkpoint,
                          tag_filter: TagFilter, *, stall_after_s: float,
                          standby: bool = False) -> ProjectionStatus:
    """The status of ``row``: its state, lag, blocker, failure and rebuild progress."""
    query = PersistenceQuery(journal, page_size=1000)
    offset = TagOffset(*row.key) if row.persistence_id else TagOffset(row.position)
    lag = await query.lag(tag_filter, offset, limit=LAG_CAP)
    state = derive_state(row, lag_events=lag.events, held_back=lag.held_back,
                         stall_after_s=stall_after_s, standby=standby)
    blocker = None
    if lag.held_back:
        found = await store.blocker()
        if found is not None:
            blocker = Blocker(*found)
    failed_event = ((row.error_pid, int(row.error_seq))
                    if row.error_pid is not None and row.error_seq is not None else None)
    since = row.committed_ms
    return ProjectionStatus(
        name=row.name, version=row.version, state=state, offset=offset,
        lag_events=lag.events, lag_seconds=lag.lag_ms / 1000, owner=row.owner,
        updated_at=to_datetime(row.updated_ms), last_error=row.error,
        failed_event=failed_event, rebuild_progress=rebuild_progress(row),
        lag_capped=lag.capped, handled=row.handled,
        heartbeat_age_seconds=(None if row.heartbeat_ms is None
                               else max(0.0, (row.now_ms - row.heartbeat_ms) / 1000)),
        commit_age_seconds=None if since is None else max(0.0, (row.now_ms - since) / 1000),
        blocker=blocker)


async def status_of(runner: ProjectionRunner, worker: Worker) -> ProjectionStatus:
    """The status of one of ``runner``'s projections (``standby`` while another owns it)."""
    store = runner._store
    rows = await store.read(worker.name, worker.version)
    row = rows[0] if rows else await store.ensure(worker.name, worker.version,
                                                  worker.filter_json)
    return await status_from_row(runner.journal, store, row, worker.tag_filter,
                                 stall_after_s=runner.stall_after_s,
                                 standby=worker.role == "standby" and row.lease_live
                                 and row.owner != runner.owner)


async def read_statuses(journal: Journal, store: CheckpointStore, *,
                        stall_after_s: float = 30.0) -> list[ProjectionStatus]:
    """The status of every checkpoint in ``store`` (each projection version), as an
    observer sees it: no runner of its own, so never ``standby``."""
    rows = await store.read()
    return [await status_from_row(journal, store, row, filter_of_json(row.tag_filter),
                                  stall_after_s=stall_after_s)
            for row in sorted(rows, key=lambda r: (r.name, r.version))]
