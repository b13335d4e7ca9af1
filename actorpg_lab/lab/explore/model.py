"""The explorer's read model: paged stream lists and stream pages, index walks only.

:class:`StreamBrowser` answers what :func:`Workbench.explore`'s widgets ask, each with a
bounded amount of work whatever the journal's size (no query reads the journal whole):

* **The stream list**, latest activity first: a walk down an index in position order
  (the events' ``(position, persistence_id, sequence_nr)`` index; with an event type the
  ``<events>_by_type`` index, with a tag the tags' ``(tag, position, ...)`` index) that
  reads at most ``scan_rows`` index rows per query and shows each stream once, at its
  newest event passing the filters (id prefix, type, tag, time window).  A page that is
  not full after one walk continues the walk, up to ``max_scan_rows`` rows; the page
  then says how far it looked (:attr:`StreamPage.note`) and *Next* goes on from there.
  Ordered by id instead (``order="id"``, id prefix only): a loose index scan of the
  primary key, one index descent per stream listed.
* **The columns of a page** (events, last event time, latest type, deletion mark,
  latest snapshot): a few primary-key probes per listed stream; the structure checks
  of :meth:`Workbench.check_streams` run for the listed streams only (``problems``).
* **A time window** has no index on ``timestamp`` to use: positions grow with time, so
  a binary search over the position index (about 20 probes) finds where the window
  starts and ends, with :data:`WINDOW_SLACK_MS` of slack for transactions that were open
  a while; the rows are then filtered on their exact time.
* **A stream's events**: one primary-key range read of ``page`` events, raw (the payload
  as stored, pretty-printed), so an undecodable event shows like any other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pandas as pd
from psycopg import sql

from ..._reprs import iso_utc
from ..db.errors import is_driver_error, statement_failed
from ..db.statements import load_sql
from ..frames.filter import TimeLike, to_epoch_ms
from ..frames.loader import Tables

__all__ = ["WINDOW_SLACK_MS", "EventRow", "StreamBrowser", "StreamEvents", "StreamFilter",
           "StreamPage", "StreamRow", "problems_of"]

Runner = Callable[[Coroutine[Any, Any, Any]], Any]
ProblemCheck = Callable[[list[str]], Mapping[str, tuple[str, int | None, str]]]
Order = Literal["recent", "id"]

#: How far (ms) an event's time may lag its position's place in time: the binary search
#: of a time window widens the window by this much before the exact filter on time.
WINDOW_SLACK_MS = 60_000
#: PostgreSQL's identifier length (a longer function name is cut like the server does).
_MAX_IDENTIFIER = 63


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """What the stream list shows: streams whose id starts with ``prefix`` and that have
    an event of ``event_type`` carrying ``tag`` at a time in ``[since, until)`` (epoch
    ms); ``None`` = no condition.  ``order``: ``"recent"`` (latest matching event first)
    or ``"id"`` (ascending; with ``prefix`` as the only filter)."""

    prefix: str | None = None
    event_type: str | None = None
    tag: str | None = None
    since: int | None = None
    until: int | None = None
    order: Order = "recent"

    @classmethod
    def parse(cls, *, prefix: str | None = None, event_type: str | None = None,
              tag: str | None = None, since: TimeLike | None = None,
              until: TimeLike | None = None, order: str = "recent") -> StreamFilter:
        """Validated, with empty strings meaning "no condition" (what a cleared text box
        gives) and times as epoch ms, datetimes or ISO strings."""
        def text(name: str, value: str | None) -> str | None:
            if value is None:
                return None
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a str or None, got {value!r}")
            return value.strip() or None

        if order not in ("recent", "id"):
            raise ValueError(f"order must be 'recent' or 'id', got {order!r}")
        flt = cls(text("prefix", prefix), text("event_type", event_type), text("tag", tag),
                  to_epoch_ms(since, "since"), to_epoch_ms(until, "until"),
                  "id" if order == "id" else "recent")
        if flt.order == "id" and (flt.event_type or flt.tag or flt.since is not None
                                  or flt.until is not None):
            raise ValueError("order='id' lists streams by id prefix only; with an event "
                             "type, tag or time window the list is ordered by recency")
        return flt

    def describe(self) -> str:
        """The filter in words (``"all streams"`` when there is none)."""
        parts = []
        if self.prefix:
            parts.append(f"id starts with {self.prefix!r}")
        if self.event_type:
            parts.append(f"type {self.event_type}")
        if self.tag:
            parts.append(f"tag {self.tag!r}")
        if self.since is not None:
            parts.append(f"since {iso_utc(self.since)}")
        if self.until is not None:
            parts.append(f"until {iso_utc(self.until)}")
        return ", ".join(parts) or "all streams"


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
class _Cursor:
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
        self._run = run
        self._pool = pool
        self.tables = tables
        self.page_size = page_size
        self.scan_rows = scan_rows
        self.max_scan_rows = max(max_scan_rows, scan_rows)
        self.check = check
        self.check_events = check_events
        self.url = url
        self._cached: dict[str, sql.Composable] | None = None

    def __repr__(self) -> str:
        return (f"<StreamBrowser events={self.tables.events!r} page_size={self.page_size} "
                f"scan_rows={self.scan_rows}>")

    # -- SQL ------------------------------------------------------------------------------
    def _statement(self, name: str) -> sql.Composed:
        parts = self._parts()
        return sql.SQL(load_sql(name)).format(
            events=sql.Identifier(self.tables.events), tags=sql.Identifier(self.tables.tags),
            **parts)

    def _parts(self) -> dict[str, sql.Composable]:
        """The pieces that depend on the database: the event-type expression over
        ``e.payload`` (the journal's IMMUTABLE type function, whose index the type filter
        walks; the same expression inline on an unmigrated journal), the metadata column
        (``NULL`` while the table has none) and the meta and snapshot tables (an empty
        row set until a store creates them).  Asked again until every piece is there."""
        if self._cached is not None:
            return self._cached
        function = (self.tables.events + "_type_v1")[:_MAX_IDENTIFIER]
        quoted = {k: sql.Identifier(v).as_string(None) for k, v in (
            ("table", self.tables.events), ("meta", self.tables.meta),
            ("snapshots", self.tables.snapshots))}
        present, metadata, has_meta, has_snapshots = self._rows(
            sql.SQL(load_sql("explore_capabilities")),
            {"signature": sql.Identifier(function).as_string(None) + "(text)", **quoted})[0]
        parts: dict[str, sql.Composable] = {
            "type_expr": (sql.SQL("{}(e.payload)").format(sql.Identifier(function)) if present
                          else sql.SQL(load_sql("explore_type_inline"))),
            "metadata": sql.SQL("e.metadata::text") if metadata else sql.SQL("NULL::text"),
            "meta": (sql.Identifier(self.tables.meta) if has_meta else sql.SQL(
                "(SELECT NULL::text AS persistence_id, NULL::bigint AS deleted_to WHERE false)")),
            "snapshots": (sql.Identifier(self.tables.snapshots) if has_snapshots else sql.SQL(
                "(SELECT NULL::text AS persistence_id, NULL::bigint AS sequence_nr "
                "WHERE false)")),
        }
        if present and has_meta and has_snapshots:
            self._cached = parts
        return parts

    def _rows(self, statement: sql.Composable, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        async def fetch() -> list[tuple[Any, ...]]:
            async with self._pool.connection() as conn:
                cur = await conn.execute(statement, params)
                rows: list[tuple[Any, ...]] = await cur.fetchall()
                return rows

        result: list[tuple[Any, ...]] = self._call(fetch())
        return result

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro``; a driver error becomes a :class:`~actorpg_lab.JournalError`
        naming the redacted target (the workbench's one error policy)."""
        try:
            return self._run(coro)
        except Exception as exc:
            if is_driver_error(exc):
                raise statement_failed(self.url, exc) from exc
            raise

    # -- the stream list ------------------------------------------------------------------
    def first_page(self, flt: StreamFilter | None = None) -> StreamPage:
        """Page 1 of the streams ``flt`` selects (default: every stream, latest first)."""
        flt = flt or StreamFilter()
        if flt.order == "id":
            return self._id_page(flt, 1, "")
        return self._recent_page(flt, 1, self._window_start(flt))

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
        ids = [r[0] for r in self._rows(self._statement("explore_streams_by_id"), {
            "after": after, "prefix": flt.prefix or "", "page": self.page_size + 1})]
        shown = ids[:self.page_size]
        return StreamPage(flt, self._details(shown), number, len(ids) > self.page_size,
                          _start=after, _next=shown[-1] if shown else after)

    def _recent_page(self, flt: StreamFilter, number: int, start: _Cursor) -> StreamPage:
        statement = self._statement("explore_streams_tagged" if flt.tag
                                    else "explore_streams_recent")
        floor = self._window_floor(flt)
        cursor, scanned, exhausted = start, 0, False
        found: list[tuple[str, int, int]] = []
        seen = set(start.seen)
        while True:
            rows = self._rows(statement, {
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
            cursor = _Cursor(int(bottom[3]), bottom[1], bottom[2])
            if scanned >= self.max_scan_rows:
                break
        shown = found[:self.page_size]
        note = ""
        if len(found) > self.page_size:
            last_pid, last_pos, last_seq = shown[-1]
            nxt = _Cursor(last_pos, last_pid, last_seq, start.seen + tuple(p for p, _, _ in shown))
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
        rows = self._rows(self._statement("explore_stream_rows"), {"ids": ids})
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

    # -- the time window ------------------------------------------------------------------
    def _window_start(self, flt: StreamFilter) -> _Cursor:
        """Where the walk starts: the top, or just below the first position whose events
        are all later than ``until`` (plus the slack)."""
        if flt.until is None:
            return _Cursor(None, None, None)
        ceiling = self._first_position_at(flt.until + WINDOW_SLACK_MS)
        return _Cursor(None if ceiling is None else max(ceiling - 1, 0), None, None)

    def _window_floor(self, flt: StreamFilter) -> int | None:
        if flt.since is None:
            return None
        return self._first_position_at(flt.since - WINDOW_SLACK_MS) or 0

    def _first_position_at(self, ms: int) -> int | None:
        """The smallest position whose first event is at or after ``ms`` (``None``: no
        event is), by a binary search over the position index (positions grow with
        time); at most ~64 probes, ~20 on a journal of a few million transactions."""
        at = self._statement("explore_position_at")
        span = self._statement("explore_position_range")

        async def search() -> int | None:
            async with self._pool.connection() as conn:
                low, high = await (await conn.execute(span)).fetchone()
                if low is None:
                    return None
                lo, hi = int(low), int(high) + 1
                while lo < hi:
                    mid = (lo + hi) // 2
                    row = await (await conn.execute(at, {"pos": str(mid)})).fetchone()
                    if row is None or row[1] >= ms:
                        hi = mid
                    else:
                        lo = int(row[0]) + 1
                return None if lo > int(high) else lo

        result: int | None = self._call(search())
        return result

    # -- a stream's events ----------------------------------------------------------------
    def stream_events(self, persistence_id: str, from_seq: int | None = None, *,
                      n: int = 20) -> StreamEvents:
        """``n`` events of ``persistence_id`` from ``from_seq`` (default: the last ``n``)."""
        if not isinstance(persistence_id, str) or not persistence_id:
            raise ValueError(f"persistence_id must be a non-empty str, got {persistence_id!r}")
        (row,) = self._details([persistence_id], check=False)
        if from_seq is None:
            from_seq = max(row.first_seq or 1, (row.head or 0) - n + 1, 1)
        rows = self._rows(self._statement("explore_stream_events"),
                          {"pid": persistence_id, "from_seq": from_seq, "n": n})
        events = tuple(
            EventRow(seq, ts, int(pos), kind, tuple(t for t in tags.split(",") if t),
                     _metadata(meta), payload)
            for seq, ts, pos, tags, payload, kind, meta in rows)
        return StreamEvents(persistence_id, events, from_seq, row.first_seq, row.head)


def _metadata(text: str | None) -> Mapping[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"metadata": text}
    return value if isinstance(value, dict) else {"metadata": value}


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

