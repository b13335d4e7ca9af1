"""One page of the explorer's stream list: :class:`StreamRow` (a line) and
:class:`StreamPage` (the lines, and where *Next* goes on)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..._reprs import iso_utc
from .stream_filter import StreamFilter

__all__ = ["Cursor", "StreamPage", "StreamRow"]


@dataclass(frozen=True, slots=True)
class StreamRow:
    """One line of the stream list (times epoch ms; ``problem`` as in
    :meth:`Workbench.check_streams`, ``None`` when the stream is fine or unchecked)."""

    persistence_id: str
    events: int
    first_seq: int | None
    head: int | None
    last_event: int | None
    latest_type: str | None
    deleted_to: int
    latest_snapshot_seq: int | None
    problem: str | None = None
    problem_seq: int | None = None
    problem_message: str = ""
    #: ``check_streams`` ran for this stream (a page checks its streams up to the
    #: browser's ``check_events`` budget; :meth:`StreamBrowser.check_page` the rest).
    checked: bool = True

    def __repr__(self) -> str:
        flag = f" problem={self.problem}@{self.problem_seq}" if self.problem else ""
        flag += "" if self.checked else " (not checked)"
        return (f"<StreamRow {self.persistence_id!r} events={self.events} head={self.head} "
                f"last_event={iso_utc(self.last_event)} latest_type={self.latest_type!r}{flag}>")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a recency walk goes on: below ``(pos, pid, seq)`` (``pid`` ``None``: at or
    below ``pos``), skipping the streams already listed."""

    pos: int | None
    pid: str | None
    seq: int | None
    seen: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StreamPage:
    """One page of the stream list.

    :ivar number: 1-based.
    :ivar has_next: more streams may follow (*Next* loads them).
    :ivar scanned: index rows the walk read for this page (0 for ``order="id"``).
    :ivar note: what a short page means (e.g. the walk stopped at its row budget).
    """

    filter: StreamFilter
    rows: tuple[StreamRow, ...]
    number: int
    has_next: bool
    scanned: int = 0
    note: str = ""
    _start: Any = field(default=None, repr=False, compare=False)
    _next: Any = field(default=None, repr=False, compare=False)

    def frame(self) -> pd.DataFrame:
        """The page as a DataFrame (``last_event`` as UTC datetimes)."""
        frame = pd.DataFrame([{
            "persistence_id": r.persistence_id, "events": r.events, "head": r.head,
            "last_event": r.last_event, "latest_type": r.latest_type,
            "problem": r.problem, "problem_seq": r.problem_seq,
            "problem_message": r.problem_message, "checked": r.checked,
        } for r in self.rows], columns=["persistence_id", "events", "head", "last_event",
                                       "latest_type", "problem", "problem_seq",
                                       "problem_message", "checked"])
        frame["last_event"] = pd.to_datetime(frame["last_event"], unit="ms", utc=True)
        return frame

    def __repr__(self) -> str:
        more = ", more" if self.has_next else ""
        return (f"<StreamPage {self.number} of {self.filter.describe()}: "
                f"{len(self.rows)} streams{more}>")
