"""One page of a stream's events in the explorer's stream pane: :class:`EventRow` (an
event as stored) and :class:`StreamEvents` (the page and its bounds)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..._reprs import iso_utc

__all__ = ["EventRow", "StreamEvents", "metadata_of"]


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event of the stream pane, as stored (``payload`` is the JSON text)."""

    sequence_nr: int
    timestamp: int
    position: int
    event_type: str | None
    tags: tuple[str, ...]
    metadata: Mapping[str, Any]
    payload: str

    @property
    def pretty(self) -> str:
        """The payload pretty-printed (as stored when it is not JSON)."""
        try:
            return json.dumps(json.loads(self.payload), indent=2, ensure_ascii=False)
        except ValueError:
            return self.payload

    def __repr__(self) -> str:
        return (f"<EventRow #{self.sequence_nr} {self.event_type or 'json'} "
                f"at {iso_utc(self.timestamp)} tags={list(self.tags)}>")


@dataclass(frozen=True, slots=True)
class StreamEvents:
    """A page of one stream's events, ``from_seq`` up; ``first_seq``/``head`` bound it."""

    persistence_id: str
    events: tuple[EventRow, ...]
    from_seq: int
    first_seq: int | None
    head: int | None

    @property
    def has_prev(self) -> bool:
        """Older events exist before this page."""
        return self.first_seq is not None and self.from_seq > self.first_seq

    @property
    def has_next(self) -> bool:
        """Newer events exist after this page."""
        return (self.head is not None and bool(self.events)
                and self.events[-1].sequence_nr < self.head)

    def frame(self) -> pd.DataFrame:
        """The events as a DataFrame (``timestamp`` as UTC datetimes)."""
        frame = pd.DataFrame([{
            "sequence_nr": e.sequence_nr, "timestamp": e.timestamp, "event_type": e.event_type,
            "tags": list(e.tags), "metadata": dict(e.metadata), "payload": e.payload,
        } for e in self.events], columns=["sequence_nr", "timestamp", "event_type", "tags",
                                         "metadata", "payload"])
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="ms", utc=True)
        return frame

    def __repr__(self) -> str:
        return (f"<StreamEvents {self.persistence_id!r} #{self.from_seq}.. "
                f"{len(self.events)} events of {self.first_seq}..{self.head}>")


def metadata_of(text: str | None) -> Mapping[str, Any]:
    """The metadata column's JSON text as a mapping (``{}`` when absent)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"metadata": text}
    return value if isinstance(value, dict) else {"metadata": value}

