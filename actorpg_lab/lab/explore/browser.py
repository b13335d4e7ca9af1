"""The explorer's read model: :class:`StreamBrowser` pages the stream list and a
stream's events with bounded index walks (the cost model: :mod:`.model`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import pandas as pd

from ..frames.loader import Tables
from .events import EventRow, StreamEvents, metadata_of
from .pages import Cursor, StreamPage, StreamRow
from .statements import ExploreSql, Runner
from .stream_filter import StreamFilter
from .window import window_floor, window_start

__all__ = ["ProblemCheck", "StreamBrowser", "problems_of"]

ProblemCheck = Callable[[list[str]], Mapping[str, tuple[str, int | None, str]]]


class StreamBrowser:
    """Paged stream lists and stream pages over one workbench's tables (see the module).

    :param run: runs a coroutine on the workbench loop (:meth:`Workbench.run`).
    :param pool: the workbench's ``AsyncConnectionPool``.
    :param page_size: streams per page of the list.
    :param scan_rows: index rows one walk query reads at most.
    :param max_scan_rows: index rows one page may read in all before it stops short.
    :param check: ``ids -> {id: (problem, sequence_nr, message)}`` for the listed
        streams (the workbench passes :meth:`Workbench.check_streams`); ``None``: no
        problem column beyond a snapshot ahead of the head.
    :param url: the database's URL (a failed query names its redacted target).
    :param check_events: the check reads every event of the streams it checks (about
        7 µs each, measured at 10M events), so a page checks its streams, smallest
        first, up to this many events in all (about 70 ms); the others say "not
        checked" until :meth:`check_page`.
    """

    def __init__(self, run: Runner, pool: Any, tables: Tables, *, page_size: int = 25,
                 scan_rows: int = 5_000, max_scan_rows: int = 100_000,
                 check: ProblemCheck | None = None, check_events: int = 10_000,
                 url: str = "") -> None:
        for name, value in (("page_size", page_size), ("scan_rows", scan_rows),
                            ("max_scan_rows", max_scan_rows), ("check_events", check_events)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self._sql = ExploreSql(run, pool, tables, url)
        self.tables = tables
        self.page_size = page_size
        self.scan_rows = scan_rows
        self.max_scan_rows = max(max_scan_rows, scan_rows)
        self.check = check
        self.check_events = check_events
        self.url = url

    def __repr__(self) -> str:
        return (f"<StreamBrowser events={self.tables.events!r} page_size={self.page_size} "
                f"scan_rows={self.scan_rows}>")

    # -- the stream list ------------------------------------------------------------------
    def first_page(self, flt: StreamFilter | None = None) -> StreamPage:
        """Page 1 of the streams ``flt`` selects (default: every stream, latest first)."""
        flt = flt or StreamFilter()
        if flt.order == "id":
            return self._id_page(flt, 1, "")
        return self._recent_page(flt, 1, window_start(self._sql, flt))

    def next_page(self, page: StreamPage) -> StreamPage:
        """The page after ``page`` (``page`` itself when there is none)."""
        if not page.has_next:
            return page
        if page.filter.order == "id":
            return self._id_page(page.filter, page.number + 1, page._next)
        return self._recent_page(page.filter, page.number + 1, page._next)

    def page(self, flt: StreamFilter, number: int, *, near: StreamPage | None = None
             ) -> StreamPage:
        """Page ``number`` (1-based), walking forward from ``near`` when it is an earlier
        page of the same filter (the view keeps the pages it showed, so *Prev* costs
        nothing and *Next* one page)."""
        current = near if near is not None and near.filter == flt and near.number <= number \
            else self.first_page(flt)
        while current.number < number and current.has_next:
            current = self.next_page(current)
        return current

    def _id_page(self, flt: StreamFilter, number: int, after: str) -> StreamPage:
        ids = [r[0] for r in self._sql.rows(self._sql.statement("explore_streams_by_id"), {
            "after": after, "prefix": flt.prefix or "", "page": self.page_size + 1})]
        shown = ids[:self.page_size]
        return StreamPage(flt, self._details(shown), number, len(ids) > self.page_size,
                          _start=after, _next=shown[-1] if shown else after)

    def _recent_page(self, flt: StreamFilter, number: int, start: Cursor) -> StreamPage:
        statement = self._sql.statement("explore_streams_tagged" if flt.tag
                                    else "explore_streams_recent")
        floor = window_floor(self._sql, flt)
        cursor, scanned, exhausted = start, 0, False
        found: list[tuple[str, int, int]] = []
        seen = set(start.seen)
        while True:
            rows = self._sql.rows(statement, {
                "cursor_pos": None if cursor.pos is None else str(cursor.pos),
                "cursor_pid": cursor.pid, "cursor_seq": cursor.seq,
                "floor_pos": None if floor is None else str(floor),
                "seen": list(seen), "page": self.page_size + 1 - len(found),
                "scan": self.scan_rows, "type": flt.event_type, "prefix": flt.prefix,
                "tag": flt.tag, "since": flt.since, "until": flt.until})
            streams = [r for r in rows if r[0] == "stream"]
            bottom = next((r for r in rows if r[0] == "end"), None)
            scanned += bottom[4] if bottom is not None else 0
            for _kind, pid, seq, pos, _n, _found in streams:
                found.append((pid, int(pos), seq))
                seen.add(pid)
            if len(found) > self.page_size:
                break
            if bottom is None or bottom[4] < self.scan_rows:
                exhausted = True
                break
            cursor = Cursor(int(bottom[3]), bottom[1], bottom[2])
            if scanned >= self.max_scan_rows:
                break
        shown = found[:self.page_size]
        note = ""
        if len(found) > self.page_size:
            last_pid, last_pos, last_seq = shown[-1]
            nxt = Cursor(last_pos, last_pid, last_seq, start.seen + tuple(p for p, _, _ in shown))
            more = True
        elif exhausted:
            nxt, more = None, False
        else:
            nxt = replace(cursor, seen=start.seen + tuple(p for p, _, _ in shown))
            more = True
            note = (f"looked through the newest {scanned:,} matching events (the page's row "
                    f"budget); Next looks further")
        return StreamPage(flt, self._details([p for p, _, _ in shown]), number, more,
                          scanned=scanned, note=note, _start=start, _next=nxt)

    def _details(self, ids: list[str], *, check_all: bool = False,
                 check: bool = True) -> tuple[StreamRow, ...]:
        if not ids:
            return ()
        rows = self._sql.rows(self._sql.statement("explore_stream_rows"), {"ids": ids})
        budget = None if check_all else self.check_events if check else -1
        chosen: list[str] = []
        spent = 0
        for pid, _ord, events, *_rest in sorted(rows, key=lambda r: int(r[2])):
            if budget is not None and spent + int(events) > budget:
                break
            chosen.append(pid)
            spent += int(events)
        problems = dict(self.check(chosen)) if self.check is not None and chosen else {}
        checked = set(chosen) if self.check is not None and check else {r[0] for r in rows}
        out = []
        for pid, _ord, events, first, head, last_ms, latest_type, deleted_to, snap in rows:
            problem, seq, message = problems.get(pid, (None, None, ""))
            if problem is None and snap is not None and head is not None and snap > head:
                problem, seq, message = ("snapshot_ahead", snap,
                                         f"latest snapshot at {snap} is beyond the head {head}")
            out.append(StreamRow(pid, int(events), first, head, last_ms, latest_type,
                                 int(deleted_to), snap, problem, seq, message,
                                 pid in checked))
        return tuple(out)

    def check_page(self, page: StreamPage) -> StreamPage:
        """``page`` with every stream checked (however many events that reads)."""
        rows = self._details([r.persistence_id for r in page.rows], check_all=True)
        return replace(page, rows=rows)


    # -- a stream's events ----------------------------------------------------------------
    def stream_events(self, persistence_id: str, from_seq: int | None = None, *,
                      n: int = 20) -> StreamEvents:
        """``n`` events of ``persistence_id`` from ``from_seq`` (default: the last ``n``)."""
        if not isinstance(persistence_id, str) or not persistence_id:
            raise ValueError(f"persistence_id must be a non-empty str, got {persistence_id!r}")
        (row,) = self._details([persistence_id], check=False)
        if from_seq is None:
            from_seq = max(row.first_seq or 1, (row.head or 0) - n + 1, 1)
        rows = self._sql.rows(self._sql.statement("explore_stream_events"),
                          {"pid": persistence_id, "from_seq": from_seq, "n": n})
        events = tuple(
            EventRow(seq, ts, int(pos), kind, tuple(t for t in tags.split(",") if t),
                     metadata_of(meta), payload)
            for seq, ts, pos, tags, payload, kind, meta in rows)
        return StreamEvents(persistence_id, events, from_seq, row.first_seq, row.head)


def problems_of(frame: pd.DataFrame) -> dict[str, tuple[str, int | None, str]]:
    """``check_streams``' frame as ``{id: (problem, sequence_nr, message)}`` (problems only)."""
    out: dict[str, tuple[str, int | None, str]] = {}
    for rec in frame.itertuples(index=False):
        if not bool(getattr(rec, "ok")):  # noqa: B009
            seq = getattr(rec, "sequence_nr")  # noqa: B009
            out[str(getattr(rec, "persistence_id"))] = (  # noqa: B009
                str(getattr(rec, "problem")), None if pd.isna(seq) else int(seq),  # noqa: B009
                str(getattr(rec, "message") or ""))  # noqa: B009
    return out
