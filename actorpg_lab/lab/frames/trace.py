"""``wb.trace(correlation_id)``: one correlation's events across streams, in position
order, with their type, correlation and causation ids (``journal_trace.sql``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ..db.statements import metadata_columns, render
from .builder import FrameBuilder

if TYPE_CHECKING:
    from .loader import FrameLoader

__all__ = ["trace_frame"]


def trace_frame(frames: FrameLoader, correlation_id: str) -> pd.DataFrame:
    """The events whose ``metadata["correlation_id"]`` is ``correlation_id``: the columns
    of a journal frame plus ``event_type``, ``correlation_id`` and ``causation_id``; empty
    (same columns) for a journal without events or without the metadata column."""
    if not isinstance(correlation_id, str) or not correlation_id:
        raise ValueError(f"correlation_id must be a non-empty str: {correlation_id!r:.100}")
    builder = FrameBuilder("sequence_nr", tags=True, expand=False, position=True,
                           metadata=True)
    events = frames.tables.events
    if not frames.session.table_stats(events).present \
            or not frames.session.has_column(events, "metadata"):
        return builder.frame()
    select = render("journal_trace", events=events, position=frames.event_position("e"),
                    **metadata_columns("e", True))
    builder.add(frames.query(select, [correlation_id]))
    return builder.frame()
