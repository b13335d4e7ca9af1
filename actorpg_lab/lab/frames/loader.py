"""Columnar DataFrame loaders for the journal, tag streams, snapshots and durable state.

Reads go through ADBC (``adbc_driver_postgresql``, :mod:`..db.session`): PostgreSQL sends
rows with ``COPY ... BINARY``, the driver builds Arrow record batches in C, and pandas
gets them through :meth:`pyarrow.Table.to_pandas` — several times faster than
``pandas.read_sql``.  Only ``SELECT`` is used, so a read-only role can load every frame;
a table that does not exist yet yields an empty frame with the usual columns and dtypes.

The pieces, one concern per module: arguments and the :class:`EventFilter`
(:mod:`._arguments`), literal binding (:mod:`._literals`), payload expansion
(:mod:`.payloads`), the ADBC session (:mod:`..db.session`), load strategies
(:mod:`.strategies`) and the frame builder (:mod:`.builder`).  This module puts them
together per frame.

**Size guard** (:mod:`.size_guard`): a load the planner estimates above the caps is
refused with a message saying how to narrow it — or pass ``allow_large=True``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
from psycopg import sql

from ..._dsn import redact_dsn
from ..._tag_filter import TagFilter, as_tag_filter
from ..._validation import check_table_name
from ..db.literals import SqlValues
from ..db.session import BATCH_BYTES, ONE_BATCH_BYTES, AdbcSession, TableStats
from ..db.statements import fragment, render
from .builder import STREAMS_SCHEMA, FrameBuilder, streams_frame
from .columns import type_prefix
from .event_columns import event_columns
from .filter import EventFilter, check_limit, ids_value
from .payloads import PayloadErrors, check_errors
from .size_guard import DEFAULT_MAX_LOAD_BYTES, DEFAULT_MAX_LOAD_ROWS, check_cap, guard, rows_bound
from .strategies import bar_total, load

__all__ = ["DEFAULT_MAX_LOAD_BYTES", "DEFAULT_MAX_LOAD_ROWS", "FrameLoader", "Tables"]

#: An event load sends the metadata ids as one list column when at most this share of
#: the previous load's events carried metadata (the break-even measured ~0.18: a NULL
#: list saves ~35 ns per event, a list of two ids costs ~160 ns more than two texts).
IDS_AS_LIST_MAX_SHARE = 0.1

#: A parallel load's split value is asked again once the table's row estimate moved
#: by more than this share since it was found (:meth:`FrameLoader.halves`).
SPLIT_KEY_DRIFT = 0.1

#: The relation that stands in for a snapshots table that does not exist.
_NO_SNAPSHOTS = "(SELECT NULL::text AS persistence_id, NULL::bigint AS sequence_nr WHERE false)"
_NO_META = "(SELECT NULL::text AS persistence_id, NULL::bigint AS deleted_to WHERE false)"


@dataclass(frozen=True, slots=True)
class Tables:
    """The table names a workbench reads (validated by the stores' rules)."""

    events: str = "events"
    tags: str = "events_tags"
    meta: str = "events_meta"
    snapshots: str = "snapshots"
    durable_state: str = "durable_state"

    @classmethod
    def named(cls, *, events_table: str, tags_table: str | None, snapshots_table: str,
              durable_state_table: str) -> Tables:
        """The tables of the workbench's keyword arguments, each name validated (the tags
        and meta tables default to ``<events_table>_tags`` / ``_meta``, like the stores')."""
        tags = tags_table if tags_table is not None else f"{events_table}_tags"
        return cls(events=check_table_name("events_table", events_table),
                   tags=check_table_name("tags_table", tags),
                   meta=check_table_name("meta table", f"{events_table}_meta"),
                   snapshots=check_table_name("snapshots_table", snapshots_table),
                   durable_state=check_table_name("durable_state_table", durable_state_table))


class FrameLoader:
    """Loads DataFrames over one ADBC session (opened lazily, closed by :meth:`close`).

    :param progress_threshold: with ``progress=None`` (the default) a load the planner
        estimates above this many rows shows a progress bar (never a count query or
        keyset pages: the bar's total is the estimate, corrected at the end).
    :param parallel_min_rows: an unlimited ``journal_frame()`` (no ``persistence_ids``)
        or single-tag-driven ``tag_frame()`` of a table the planner estimates at least
        this large is fetched as two halves of the order's first key at once, over a
        second connection (ADBC decodes the binary COPY stream without the GIL, so the
        halves are decoded on two cores); ``0`` turns that off.
    :param max_load_rows: / :param max_load_bytes: the size guard's caps (``None``: off).
    :param connect_timeout: seconds a connection may take (``None``: the library's
        default, 10 s unless the URL or ``$PGCONNECT_TIMEOUT`` sets one).
    """

    def __init__(self, url: str, tables: Tables, *, progress_threshold: int = 100_000,
                 parallel_min_rows: int = 200_000,
                 max_load_rows: int | None = DEFAULT_MAX_LOAD_ROWS,
                 max_load_bytes: int | None = DEFAULT_MAX_LOAD_BYTES,
                 connect_timeout: float | None = None) -> None:
        self.url = url
        self.tables = tables
        self.progress_threshold = progress_threshold
        self.parallel_min_rows = parallel_min_rows
        self.max_load_rows = check_cap("max_load_rows", max_load_rows)
        self.max_load_bytes = check_cap("max_load_bytes", max_load_bytes)
        self.session = AdbcSession(url, connect_timeout=connect_timeout)
        #: Whether the event SELECTs send the metadata ids as ONE list column (see
        #: :func:`..db.statements.metadata_ids`): chosen from the share of events with
        #: metadata in the previous event load (two columns until one was seen;
        #: :meth:`_note_metadata`).  Only the cost depends on it, never the frame.
        self.ids_as_list = False
        #: (table, column) -> (the table's row estimate when asked, its split value): see
        #: :meth:`halves`.
        self._middles: dict[tuple[str, str], tuple[int, str]] = {}

    def __repr__(self) -> str:
        return f"<FrameLoader {redact_dsn(self.url)!r} events={self.tables.events!r}>"

    # -- session ----------------------------------------------------------------------
    def close(self) -> None:
        """Close the ADBC connections (idempotent; the next load reopens them)."""
        self.session.close()

    def query(self, statement: str, params: SqlValues = ()) -> pa.Table:
        """Run one ``SELECT`` (``$name``/``$n`` values bound as literals) and return the
        Arrow table; reconnects once if the connection turns out dead."""
        return self.session.query(statement, params)

    def query_batches(self, statement: str, params: SqlValues = (), *,
                      helper: bool = False,
                      batch_bytes: int = BATCH_BYTES) -> Iterator[pa.RecordBatch]:
        """Stream the record batches of one ``SELECT`` (see :meth:`query`)."""
        return self.session.query_batches(statement, params, helper=helper,
                                          batch_bytes=batch_bytes)

    def table_exists(self, name: str) -> bool:
        """Whether ``name`` resolves to a relation through the connection's search_path."""
        return self.session.table_exists(name)

    def _split_key(self, table: str, column: str) -> str | None:
        """The value of ``column`` that splits ``table`` in two halves (planner
        statistics), or ``None`` when the table is estimated smaller than
        ``parallel_min_rows`` or has no statistics for the column."""
        if self.parallel_min_rows <= 0:
            return None
        rows, middle = self.session.split_key(table, column)
        return middle if rows >= self.parallel_min_rows else None

    def halves(self, stats: TableStats, table: str, column: str) -> str | None:
        """:meth:`_split_key`, not even asked when ``stats`` (of ``table``, at hand
        already) estimate it below ``parallel_min_rows``: a small load costs no query.

        The split value is kept for the session while the table's row estimate stays
        within :data:`SPLIT_KEY_DRIFT` of the one it was found with (the statistics it
        comes from move only with ``ANALYZE``; ``pg_stats`` costs ~1.2 ms a query here).
        A stale value only unbalances the halves: they cover every row whatever it is."""
        if stats.rows is None or stats.rows < max(1, self.parallel_min_rows):
            return None
        key = (table, column)
        known = self._middles.get(key)
        if known is not None and abs(stats.rows - known[0]) <= SPLIT_KEY_DRIFT * known[0]:
            return known[1]
        middle = self._split_key(table, column)
        if middle is not None:
            self._middles[key] = (stats.rows, middle)
        return middle

    def _guard(self, stats: TableStats, statement: str, values: SqlValues,
               allow_large: bool, what: str) -> int | None:
        """:func:`.size_guard.guard` with this loader's caps and session."""
        if allow_large:
            return None
        return guard(self.session, stats, statement, values, self.max_load_rows,
                     self.max_load_bytes, what)

    def _load(self, builder: FrameBuilder, select: str, values: dict[str, Any], *,
              stats: TableStats, filtered: bool, limit: int | None, progress: bool | None,
              allow_large: bool, what: str,
              halves: Callable[[], Any] | None = None) -> pd.DataFrame:
        """Guard, then load ``select`` into ``builder`` with ONE streamed query — or,
        for an unlimited load that ``halves()`` gives a split value for, two halves at
        once (``$range_to``/``$range_from``) — with a progress bar whose total is the
        planner's estimate (:func:`._strategies.bar_total`): ``stats`` (the events
        table's, at hand already) for an unfiltered load, else the guard's ``EXPLAIN``
        or one of its own."""
        values = {**values, "range_from": None, "range_to": None, "row_limit": limit}
        planned = self._guard(stats, select, values, allow_large, what)

        def estimate() -> int:
            if planned is not None:
                return planned
            if not filtered and stats.rows is not None:
                return stats.rows
            return self.session.estimate(select, values)[0]

        total = bar_total(progress, threshold=self.progress_threshold, limit=limit,
                          bound=rows_bound(stats), estimate=estimate)
        middle = halves() if halves is not None and limit is None else None
        if middle is None:
            # A table no larger than one big batch on disk: its load comes as one batch.
            batch = ONE_BATCH_BYTES if stats.bytes <= ONE_BATCH_BYTES else BATCH_BYTES
            load(builder, lambda: self.query_batches(select, values, batch_bytes=batch),
                 total=total, desc=what)
        else:
            load(builder,
                 lambda: self.query_batches(select, {**values, "range_to": middle}),
                 lambda: self.query_batches(select, {**values, "range_from": middle},
                                            helper=True),
                 total=total, desc=what)
        self._note_metadata(builder)
        return builder.frame()

    def _note_metadata(self, builder: FrameBuilder) -> None:
        """Pick the metadata ids' shape for the next event load from this one's rows: one
        list column while at most :data:`IDS_AS_LIST_MAX_SHARE` of the events carry
        metadata (its NULL saves one field per event; a list costs more per event with
        metadata than two text fields), else two columns."""
        if builder.metadata and builder.rows:
            self.ids_as_list = builder.metadata_rows <= IDS_AS_LIST_MAX_SHARE * builder.rows

    # -- journal ----------------------------------------------------------------------
    def journal(self, where: EventFilter, *, limit: int | None = None, expand: bool = False,
                progress: bool | None = None, errors: PayloadErrors = "raise",
                allow_large: bool = False) -> pd.DataFrame:
        """Events in (persistence_id, sequence_nr) order; see :meth:`Workbench.journal_frame`."""
        lim = check_limit(limit)
        builder = FrameBuilder("sequence_nr", tags=True, expand=expand,
                               errors=check_errors(errors), position=True, metadata=True)
        stats = self.session.table_stats(self.tables.events)
        if not stats.present:
            return builder.frame()
        select = render("journal_select", events=self.tables.events,
                        where=fragment("journal_where"), **self._event_columns("e"))
        # Halves of the persistence_id range (the order's first key) for a large load.
        halves = (None if where.persistence_ids is not None else
                  lambda: self.halves(stats, self.tables.events, "persistence_id"))
        return self._load(builder, select, where.sql_values(), stats=stats,
                          filtered=where != EventFilter(), limit=lim, progress=progress,
                          allow_large=allow_large, what="journal_frame", halves=halves)

    def tagged(self, tag_filter: str | TagFilter, where: EventFilter, *,
               limit: int | None = None, expand: bool = False, progress: bool | None = None,
               errors: PayloadErrors = "raise", allow_large: bool = False) -> pd.DataFrame:
        """Events matching ``tag_filter`` in (timestamp, persistence_id, sequence_nr) order.

        ``TagFilter()`` matches every event and ``TagFilter(not_=[...])`` every event
        without those tags (both read the events table, no tag index to drive them);
        a filter that matches nothing (``TagFilter(any=[])``) loads nothing."""
        flt = as_tag_filter(tag_filter)
        if not flt.candidate_tags or flt.matches_nothing:
            return self._tagged_scan(flt, where, limit=limit, expand=expand,
                                     progress=progress, errors=errors,
                                     allow_large=allow_large)
        # With an ``all`` tag, every match carries flt.all[0]: walk that tag's index in
        # order (no DISTINCT, no sort); the other rules are checked on the events' tag
        # list — not needed at all for a single tag.  Only any-only filters take the
        # general path (candidates from several tags, de-duplicated, then sorted).
        driven = bool(flt.all)
        single = len(flt.all) == 1 and not flt.any and not flt.not_
        values: dict[str, Any] = EventFilter(
            where.persistence_ids, where.from_seq, where.to_seq, where.since_ms,
            where.until_ms, None if single else flt).sql_values()
        if driven:
            values["tag"] = flt.all[0]
        else:
            values["candidates"] = orjson.dumps(list(flt.candidate_tags)).decode()
        lim = check_limit(limit)
        builder = FrameBuilder("sequence_nr", tags=True, expand=expand,
                               errors=check_errors(errors), position=True, metadata=True)
        stats = self.session.table_stats(self.tables.events)
        if not stats.present:
            return builder.frame()
        tag_stats = self.session.table_stats(self.tables.tags)
        if not tag_stats.present:
            return builder.frame()
        select = render("tagged_one_select" if driven else "tagged_select",
                        events=self.tables.events, tags=self.tables.tags,
                        where=fragment("journal_where"),
                        **self._event_columns("x" if driven else "e"))

        # Halves of the tag rows' time range (the order's first key) for a large load
        # driven by one tag's index.
        def halves() -> int | None:
            middle = self.halves(tag_stats, self.tables.tags, "timestamp")
            return None if middle is None else int(middle)

        return self._load(builder, select, values, stats=stats, filtered=True, limit=lim,
                          progress=progress, allow_large=allow_large, what="tag_frame",
                          halves=halves if driven else None)

    def _tagged_scan(self, flt: TagFilter, where: EventFilter, *, limit: int | None,
                     expand: bool, progress: bool | None, errors: PayloadErrors,
                     allow_large: bool) -> pd.DataFrame:
        """tag_frame of a filter no tag drives (``TagFilter()``, ``not_`` only): the
        events table in (timestamp, persistence_id, sequence_nr) order, ``not_`` checked
        on each event's tags; nothing at all for a filter that matches nothing."""
        lim = check_limit(limit)
        builder = FrameBuilder("sequence_nr", tags=True, expand=expand,
                               errors=check_errors(errors), position=True, metadata=True)
        stats = self.session.table_stats(self.tables.events)
        if flt.matches_nothing or not stats.present:
            return builder.frame()
        scan = EventFilter(where.persistence_ids, where.from_seq, where.to_seq,
                           where.since_ms, where.until_ms, flt if flt.not_ else None)
        select = render("tagged_scan_select", events=self.tables.events,
                        where=fragment("journal_where"), **self._event_columns("e"))
        return self._load(builder, select, scan.sql_values(), stats=stats,
                          filtered=scan != EventFilter(), limit=lim, progress=progress,
                          allow_large=allow_large, what="tag_frame")

    def _event_columns(self, alias: str) -> dict[str, Any]:
        return event_columns(self.session, self.tables.events, alias,
                             ids_as_list=self.ids_as_list)

    # -- snapshots, durable state, streams ---------------------------------------------
    def snapshots(self, where: EventFilter, *, limit: int | None = None,
                  expand: bool = False, errors: PayloadErrors = "raise",
                  allow_large: bool = False) -> pd.DataFrame:
        """Snapshots in (persistence_id, sequence_nr) order."""
        return self._one_query(self.tables.snapshots, "snapshots_select", "sequence_nr",
                               where, limit, expand, errors, allow_large, "snapshots_frame")

    def durable_state(self, where: EventFilter, *, limit: int | None = None,
                      expand: bool = False, errors: PayloadErrors = "raise",
                      allow_large: bool = False) -> pd.DataFrame:
        """Durable-state records in persistence_id order (``where``'s ids and time window)."""
        return self._one_query(self.tables.durable_state, "durable_state_select", "revision",
                               where, limit, expand, errors, allow_large,
                               "durable_state_frame")

    def _one_query(self, table: str, statement: str, second: str, where: EventFilter,
                   limit: int | None, expand: bool, errors: PayloadErrors, allow_large: bool,
                   what: str) -> pd.DataFrame:
        """A frame of ``table`` loaded with ONE streamed ``statement`` (``{table}``)."""
        values = {**where.sql_values(), "row_limit": check_limit(limit)}
        builder = FrameBuilder(second, tags=False, expand=expand, errors=check_errors(errors))
        stats = self.session.table_stats(table)
        if stats.present:
            select = render(statement, table=table)
            self._guard(stats, select, values, allow_large, what)
            builder.add_all(self.query_batches(select, values))
        return builder.frame()

    def streams(self, *, persistence_ids: str | Iterable[str] | None = None,
                stats: bool = False) -> pd.DataFrame:
        """One row per stream (see :meth:`Workbench.streams_frame`).

        **Cost.** By default (``sql/streams_probe.sql``) the overview costs O(streams), not
        O(events), so it stays instant on a journal of 100M events: a loose index scan of
        the primary key, and per stream a few index probes read the first and the last
        event (``head``, ``last_write`` = the head event's time), the deletion mark and
        the snapshots.  ``events`` is then ``head - first_seq + 1`` and
        ``events_to_replay`` ``head - max(latest_snapshot_seq, first_seq - 1)``: exact
        for every stream the journal wrote (1-based, contiguous, deletes remove a
        prefix); a stream that lost a row in the middle is what ``health=True`` reports.
        ``event_types`` is ``None``: it needs every payload.

        ``stats=True`` (``sql/streams.sql``) reads every event (O(events); seconds per million):
        ``events`` counts the stored rows and ``event_types`` lists the payloads' types.
        Computed on request rather than kept in a per-stream table because keeping it
        would add a write to every append — a cost on the happy path for a figure only
        the overview needs."""
        ids = ids_value(persistence_ids)
        if not self.table_exists(self.tables.events):
            frame = streams_frame(STREAMS_SCHEMA.empty_table())
            return frame if stats else frame.assign(event_types=None)
        snapshots: str | sql.Composable = (
            self.tables.snapshots if self.table_exists(self.tables.snapshots)
            else sql.SQL(_NO_SNAPSHOTS)
        )
        meta: str | sql.Composable = (
            self.tables.meta if self.table_exists(self.tables.meta)
            else sql.SQL(_NO_META)
        )
        if not stats:
            table = self.query(render("streams_probe", events=self.tables.events, meta=meta,
                                      snapshots=snapshots), {"ids": ids})
            # Not computed without a scan: None rather than an empty (wrong) list.
            return streams_frame(table).assign(event_types=None)
        table = self.query(render("streams", events=self.tables.events, meta=meta,
                                  snapshots=snapshots),
                           {"ids": ids, "type_prefix": type_prefix()})
        return streams_frame(table)
