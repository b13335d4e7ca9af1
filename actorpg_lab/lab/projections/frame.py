"""The projections of one checkpoint table as a DataFrame: one row per projection version.

The statuses come from :func:`actorpg_lab.projections._health.read_statuses`, the same
function a runner's ``status()`` uses, so the workbench (which runs no projection)
reports exactly what the runners would: state, checkpoint, lag in events (capped) and
seconds, owner and heartbeat age, the failed event and its error, and the open
transaction holding the horizon back (``held_back``: its backend pid and age).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ...projections import ProjectionStatus

__all__ = ["COLUMNS", "statuses_frame"]

#: The columns of ``wb.projections_frame()``, in order.
COLUMNS = ("name", "version", "state", "position", "handled", "lag_events", "lag_capped",
           "lag_seconds", "owner", "heartbeat_age_s", "commit_age_s", "failed_event", "error",
           "held_back_pid", "held_back_age_s", "rebuild_progress", "updated_at")


def _row(status: ProjectionStatus) -> dict[str, Any]:
    blocker = status.blocker if status.state == "held_back" else None
    return {
        "name": status.name, "version": status.version, "state": status.state,
        "position": status.offset.position, "handled": status.handled,
        "lag_events": status.lag_events, "lag_capped": status.lag_capped,
        "lag_seconds": status.lag_seconds, "owner": status.owner,
        "heartbeat_age_s": status.heartbeat_age_seconds,
        "commit_age_s": status.commit_age_seconds,
        "failed_event": status.failed_event, "error": status.last_error,
        "held_back_pid": None if blocker is None else blocker.pid,
        "held_back_age_s": None if blocker is None else blocker.age_seconds,
        "rebuild_progress": status.rebuild_progress, "updated_at": status.updated_at,
    }


def statuses_frame(statuses: Sequence[ProjectionStatus]) -> pd.DataFrame:
    """``statuses`` as a frame with :data:`COLUMNS` (sorted by name, version)."""
    frame = pd.DataFrame([_row(s) for s in statuses], columns=list(COLUMNS))
    frame = frame.astype({"version": "int64", "position": "int64", "handled": "int64",
                          "lag_events": "int64", "lag_capped": "bool",
                          "lag_seconds": "float64", "heartbeat_age_s": "float64",
                          "commit_age_s": "float64", "held_back_pid": "Int64",
                          "held_back_age_s": "float64", "rebuild_progress": "float64"})
    frame["updated_at"] = pd.to_datetime(frame["updated_at"], utc=True).astype(
        "datetime64[ms, UTC]")
    return frame.sort_values(["name", "version"], ignore_index=True)
