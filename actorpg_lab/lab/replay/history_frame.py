"""A replay's history as a DataFrame (:attr:`Replayer.history <actorpg_lab.lab.Replayer.history>`)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..._codec import JsonCodec
from ..._replay import ReplayStep
from ..frames.columns import event_type_name
from .diff import diff_states

__all__ = ["HISTORY_COLUMNS", "history_frame"]

HISTORY_COLUMNS = ["seq", "event_type", "event", "timestamp", "tags", "state_before",
                   "state_after", "diff"]


def history_frame(steps: Sequence[ReplayStep], codec: JsonCodec) -> pd.DataFrame:
    """One row per replayed step, indexed by ``seq``: event type, event, timestamp, tags,
    state before and after, and their :class:`~actorpg_lab.lab.StateDiff` (``diff``)."""
    rows = [
        {
            "seq": s.event.sequence_nr,
            "event_type": event_type_name(s.event.event, codec),
            "event": s.event.event,
            "timestamp": s.event.timestamp,
            "tags": list(s.event.tags),
            "state_before": s.state_before,
            "state_after": s.state_after,
            "diff": diff_states(s.state_before, s.state_after),
        }
        for s in steps
    ]
    frame = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    frame["seq"] = frame["seq"].astype("int64")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"].astype("int64"), unit="ms",
                                        utc=True).astype("datetime64[ms, UTC]")
    return frame.set_index("seq")
