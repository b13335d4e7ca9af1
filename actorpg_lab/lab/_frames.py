"""Columnar DataFrame loaders for the journal, snapshots and durable state.

Reads go through ADBC (``adbc_driver_postgresql``): PostgreSQL sends rows with
``COPY ... BINARY``, the driver builds Arrow record batches in C, and pandas gets
them through :meth:`pyarrow.Table.to_pandas` — several times faster than
``pandas.read_sql`` (which fetches Python tuples row by row).  Only ``SELECT`` is
used, so a read-only role can load every frame; a table that does not exist yet
yields an empty frame with the usual columns and dtypes.

Dtypes: ``persistence_id`` categorical, ``timestamp`` ``datetime64[ms, UTC]``,
``tags`` a list of str per row (an Arrow-backed ``list<string>`` column),
``payload`` the raw JSON text.  ``expand=True`` parses the payloads into columns
(Arrow's JSON reader, batch by batch as rows stream in; an ``orjson`` fallback for
payloads Arrow cannot type consistently).  Large loads are fetched in keyset pages
with a ``tqdm.auto`` progress bar (rows/s and the lag of the newest event loaded);
with ``progress=False`` a load is one streamed query (no count, no pages).
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from .._dsn import redact_dsn
from .._tag_filter import TagFilter, as_tag_filter
from .._validation import MAX_BIGINT, check_persistence_id
from ._sql import fragment, render

__all__ = [
    "FrameLoader",
    "Tables",
    "TimeLike",
    "bind_literals",
    "expand_payloads",
    "to_epoch_ms",
]

_log = logging.getLogger("actorpg_lab.lab.frames")

#: Anything accepted as a time bound: epoch milliseconds, a datetime (naive = UTC),
#: a pandas Timestamp or an ISO-8601 string.
TimeLike: TypeAlias = int | float | str | _dt.datetime | pd.Timestamp

_MIN_BIGINT = -(2**63)

_STREAMS_SCHEMA = pa.schema([
    ("persistence_id", pa.string()),
    ("events", pa.int64()),
    ("first_seq", pa.int64()),
    ("head", pa.int64()),
    ("deleted_to", pa.int64()),
    ("snapshots", pa.int64()),
    ("latest_snapshot_seq", pa.int64()),
    ("events_to_replay", pa.int64()),
    ("last_write_ms", pa.int64()),
    ("event_types", pa.list_(pa.string())),
])

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


# -- argument helpers -------------------------------------------------------------------
def to_epoch_ms(value: TimeLike | None, name: str) -> int | None:
    """``value`` as epoch milliseconds (``None`` stays ``None``); naive datetimes are UTC."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a time (epoch ms, datetime or ISO string), got {value!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (str, _dt.datetime, pd.Timestamp)):
        try:
            stamp = pd.Timestamp(value)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name}: cannot parse {value!r} as a time ({exc})") from None
        if pd.isna(stamp):
            raise ValueError(f"{name}: {value!r} is not a time")
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize("UTC")
        return int((stamp - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1))
    raise TypeError(
        f"{name} must be epoch ms, a datetime, a pandas Timestamp or an ISO string, "
        f"got {type(value).__name__}: {value!r}"
    )


#: ADBC's target size of one record batch: rows are converted batch by batch, so smaller
#: batches mean less transient memory (the default is 16 MB).
_BATCH_HINT = "adbc.postgresql.batch_size_hint_bytes"
_BATCH_BYTES = 4 << 20

_PLACEHOLDER = re.compile(r"\$(\d+)\b")


def bind_literals(statement: str, params: Sequence[Any]) -> str:
    """``statement`` with each ``$n`` replaced by ``params[n-1]`` quoted by psycopg.

    Why not server-side bind parameters: ADBC's PostgreSQL driver streams a result with
    ``COPY (...) TO STDOUT (FORMAT binary)`` only for statements without parameters;
    with parameters it grows one batch row by row, which measured ~2.6x the peak
    memory of the table.  The values are quoted by :class:`psycopg.sql.Literal` (the
    escaping psycopg's own ``ClientCursor`` uses), never formatted by hand, and are
    only ints, ``None`` and JSON/str values we produced ourselves.
    """
    if not params:
        return statement
    from psycopg import sql

    def literal(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1
        if not 0 <= index < len(params):
            raise ValueError(f"statement uses ${index + 1} but only {len(params)} values given")
        value = params[index]
        if (value is not None and not isinstance(value, (int, str))) or isinstance(value, bool):
            raise TypeError(f"only int, str and None are bound here, got {value!r}")
        # Parenthesised so that a following ::cast applies to the whole (negative) value.
        return "(" + sql.Literal(value).as_string(None) + ")"

    return _PLACEHOLDER.sub(literal, statement)


def _ids_param(persistence_ids: str | Iterable[str] | None) -> str | None:
    if persistence_ids is None:
        return None
    ids = [persistence_ids] if isinstance(persistence_ids, str) else list(persistence_ids)
    for pid in ids:
        check_persistence_id(pid)
    return orjson.dumps(ids).decode()


def _seq_param(value: int | None, name: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}: {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative: {value!r}")
    return int(value)


def _limit_param(limit: int | None) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)):
        raise TypeError(f"limit must be an int or None, got {type(limit).__name__}: {limit!r}")
    if limit < 0:
        raise ValueError(f"limit must not be negative: {limit!r}")
    return int(limit)


def _tags_params(tags: str | TagFilter | None) -> tuple[str | None, str | None, str | None]:
    if tags is None:
        return None, None, None
    flt = as_tag_filter(tags)

    def dump(values: tuple[str, ...]) -> str | None:
        return orjson.dumps(list(values)).decode() if values else None

    return dump(flt.all), dump(flt.any), dump(flt.not_)


# -- conversions ----------------------------------------------------------------------
def _timestamps(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    return pc.cast(column, pa.timestamp("ms", tz="UTC"))


def _list_column(column: pa.ChunkedArray | pa.Array) -> np.ndarray[Any, np.dtype[Any]]:
    """An object array holding one Python list per row."""
    return _as_object_items(column.to_pylist())


def _as_object_items(values: list[Any]) -> np.ndarray[Any, np.dtype[Any]]:
    # Assigning a list of equal-length lists to an object array would broadcast it as
    # 2-D; fill element by element instead.
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value if value is not None else []
    return out


def _split_tags(csv: pa.ChunkedArray | pa.Array) -> pa.ListArray:
    """The events table's CSV tag mirror as an Arrow ``list<string>`` ('' -> [])."""
    if isinstance(csv, pa.ChunkedArray):
        csv = csv.combine_chunks() if csv.num_chunks else pa.array([], pa.string())
    pool = _parse_pool()
    parts = pc.split_pattern(csv, ",", memory_pool=pool)
    untagged = pc.equal(csv, "", memory_pool=pool)
    if not pc.any(untagged).as_py():
        result: pa.ListArray = parts  # every event is tagged: nothing to drop
        return result
    # Tags are never empty, so every "" comes from an event without tags: drop those
    # values and rebuild the offsets (vectorised; no Python loop over rows).
    lengths = pc.subtract(pc.list_value_length(parts, memory_pool=pool),
                          pc.cast(untagged, pa.int32(), memory_pool=pool),
                          memory_pool=pool).to_numpy(zero_copy_only=False)
    offsets = np.zeros(len(csv) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = parts.flatten()
    values = pc.filter(values, pc.not_equal(values, "", memory_pool=pool), memory_pool=pool)
    return pa.ListArray.from_arrays(pa.array(offsets), values)


_EXPANDED_TYPES: dict[pa.DataType, Any] = {
    pa.int64(): pd.Int64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def expand_payloads(payload: pa.ChunkedArray | pa.Array | pd.Series,
                    reserved: Iterable[str] = ()) -> pd.DataFrame:
    """Parse JSON payload texts into columns (nested objects become ``a.b`` columns).

    Codec-encoded dataclasses (``{"$type": name, "$value": {...}}``) become an
    ``event_type`` column plus their fields.  A non-object payload lands in ``value``.
    Names in ``reserved`` (the frame's own columns) are prefixed with ``payload.``.
    """
    if isinstance(payload, pd.Series):
        payload = pa.array(payload.astype(object).to_numpy(), type=pa.string())
    chunks = payload.chunks if isinstance(payload, pa.ChunkedArray) else [payload]
    return _PayloadExpander(reserved).run(chunks)


#: How much JSON text the Arrow reader parses at once when expanding payloads.
_PARSE_SLICE_BYTES = 1 << 20


class _PayloadExpander:
    """Parses payload chunks one at a time (so only one chunk of raw JSON is being parsed
    at once) and assembles the columns at the end."""

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        self.reserved = set(reserved)
        self.parts: list[pa.Table | pd.DataFrame] = []
        self.rows = 0

    def add(self, chunk: pa.Array) -> None:
        self.rows += len(chunk)
        if len(chunk) == 0:
            return
        # Parse in slices of about _PARSE_SLICE_BYTES of JSON: the reader's working memory
        # (the joined text plus its parse buffers) stays small next to the result.
        per_row = max(1, chunk.nbytes // len(chunk))
        step = max(1024, _PARSE_SLICE_BYTES // per_row)
        for start in range(0, len(chunk), step):
            part = chunk.slice(start, step)
            try:
                self.parts.append(_parse_with_arrow(part))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                _log.debug("Arrow JSON reader cannot type these payloads (%s); using orjson",
                           exc)
                self.parts.append(_parse_with_orjson(part))

    def run(self, chunks: Iterable[pa.Array]) -> pd.DataFrame:
        for chunk in chunks:
            self.add(chunk)
        return self.frame()

    def frame(self) -> pd.DataFrame:
        parts, self.parts = self.parts, []
        frame: pd.DataFrame
        if not parts:
            frame = pd.DataFrame(index=pd.RangeIndex(self.rows))
        elif all(isinstance(p, pa.Table) for p in parts):
            try:
                table = pa.concat_tables(parts, promote_options="permissive",
                                         memory_pool=_parse_pool())
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                frame = pd.concat([_table_to_pandas(p) for p in parts], ignore_index=True)
            else:
                del parts
                frame = _table_to_pandas(table)
        else:
            frame = pd.concat([p if isinstance(p, pd.DataFrame) else _table_to_pandas(p)
                               for p in parts], ignore_index=True)
        frame.columns = _column_names([str(c) for c in frame.columns], self.reserved)
        frame.index = pd.RangeIndex(len(frame))
        return frame


def _table_to_pandas(table: pa.Table) -> pd.DataFrame:
    frame: pd.DataFrame = table.to_pandas(types_mapper=_EXPANDED_TYPES.get, split_blocks=True,
                                          self_destruct=True, memory_pool=_parse_pool())
    return frame


def _parse_pool() -> pa.MemoryPool:
    """The allocator for parsing payloads: the system allocator, which hands the reader's
    short-lived buffers back to the OS (Arrow's default mimalloc pool keeps them, which
    measured ~1.7x more peak RSS for an expanded 200k-event load)."""
    return pa.system_memory_pool()


def _parse_with_arrow(payload: pa.Array) -> pa.Table:
    if payload.null_count:
        raise ValueError("null payloads")
    # One newline-delimited buffer built in C++ (payload JSON never contains a raw
    # newline: the encoder escapes it inside strings; a pretty-printed foreign payload
    # makes the reader fail and we fall back to orjson).
    wrapped = pa.ListArray.from_arrays(pa.array([0, len(payload)], pa.int32()), payload)
    pool = _parse_pool()
    joined = pc.binary_join(wrapped, "\n", memory_pool=pool)[0].as_buffer()
    size = joined.size + 1
    options = pa_json.ReadOptions(use_threads=True, block_size=max(1 << 20, min(size, 2**31 - 1)))
    table = pa_json.read_json(pa.BufferReader(joined), read_options=options,
                              parse_options=pa_json.ParseOptions(newlines_in_values=False),
                              memory_pool=pool)
    if table.num_rows != len(payload):
        raise ValueError("row count mismatch")
    while any(pa.types.is_struct(field.type) for field in table.schema):
        table = table.flatten()
    return table


def _flatten_into(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten_into(inner, f"{prefix}{key}.", out)
    else:
        out[prefix[:-1]] = value


def _parse_with_orjson(payload: pa.Array) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for text in payload.to_pylist():
        flat: dict[str, Any] = {}
        value = orjson.loads(text) if text is not None else None
        if isinstance(value, dict) and value:
            _flatten_into(value, "", flat)
        else:
            flat["value"] = value
        rows.append(flat)
    return pd.DataFrame.from_records(rows)


def _column_names(names: list[str], reserved: set[str], renamed: bool = False) -> list[str]:
    out: list[str] = []
    taken: set[str] = set()
    for name in names:
        if renamed:
            new = name
        elif name == "$type":
            new = "event_type"
        elif name.startswith("$value."):
            new = name[len("$value."):]
        else:
            new = name
        if new in reserved or new in taken:
            new = f"payload.{name}"
        taken.add(new)
        out.append(new)
    return out


# -- the loader -----------------------------------------------------------------------
class FrameLoader:
    """Loads DataFrames over one ADBC connection (opened lazily, closed by :meth:`close`).

    :param page_size: rows per keyset page once a load is larger than ``progress_threshold``.
    :param progress_threshold: loads above this many rows are paged and show a progress bar.
    :param parallel_min_rows: an unlimited ``journal_frame(progress=False)`` of a table the
        planner estimates at least this large is fetched as two halves of the
        persistence_id range at once, over a second connection (ADBC decodes the binary
        COPY stream without the GIL, so the halves are decoded on two cores); ``0``
        turns that off.
    """

    def __init__(self, url: str, tables: Tables, *, page_size: int = 100_000,
                 progress_threshold: int = 100_000, parallel_min_rows: int = 200_000) -> None:
        self.url = url
        self.tables = tables
        self.page_size = page_size
        self.progress_threshold = progress_threshold
        self.parallel_min_rows = parallel_min_rows
        self._lock = threading.RLock()
        self._conn: Any = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        # The second connection, used only by a worker thread of a parallel load.
        self._helper_lock = threading.Lock()
        self._helper: Any = None
        self._helper_finalizer: weakref.finalize[Any, Any] | None = None

    def __repr__(self) -> str:
        return f"<FrameLoader {redact_dsn(self.url)!r} events={self.tables.events!r}>"

    # -- connection -------------------------------------------------------------------
    def _open(self) -> tuple[Any, weakref.finalize[Any, Any]]:
        import adbc_driver_postgresql.dbapi as adbc

        conn = adbc.connect(self.url, autocommit=True)
        finalizer = weakref.finalize(self, _close_quietly, conn)
        try:
            with conn.cursor() as cur:
                cur.execute(render("session_settings"))
        except Exception:  # pragma: no cover - a server without the setting
            _log.debug("session settings not applied", exc_info=True)
        return conn, finalizer

    def _connection(self, helper: bool = False) -> Any:
        if helper:
            if self._helper is None:
                self._helper, self._helper_finalizer = self._open()
            return self._helper
        if self._conn is None:
            self._conn, self._finalizer = self._open()
        return self._conn

    def _close_helper(self) -> None:
        if self._helper_finalizer is not None:
            self._helper_finalizer()
        self._helper = None
        self._helper_finalizer = None

    def close(self) -> None:
        """Close the ADBC connections (idempotent; the next load reopens them)."""
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()
            self._conn = None
            self._finalizer = None
            with self._helper_lock:
                self._close_helper()

    def query(self, statement: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run one ``SELECT`` with ``$n`` values (see :func:`bind_literals`) and return the
        Arrow table; reconnects once if the connection turns out dead."""
        statement = bind_literals(statement, params)
        with self._lock:
            for attempt in (1, 2):
                try:
                    with self._connection().cursor() as cur:
                        cur.adbc_statement.set_options(**{_BATCH_HINT: str(_BATCH_BYTES)})
                        cur.execute(statement)
                        return cur.fetch_arrow_table()
                except Exception as exc:
                    if attempt == 1 and _looks_disconnected(exc):
                        _log.info("ADBC connection lost (%s); reconnecting", exc)
                        self.close()
                        continue
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def query_batches(self, statement: str, params: Sequence[Any] = (), *,
                      helper: bool = False) -> Iterator[pa.RecordBatch]:
        """Stream the record batches of one ``SELECT`` (``$n`` values: see
        :func:`bind_literals`); reconnects once if the connection turns out dead.
        ``helper=True`` runs it on the second connection (for a parallel load)."""
        statement = bind_literals(statement, params)
        with self._helper_lock if helper else self._lock:
            for attempt in (1, 2):
                conn = self._connection(helper)
                started = False
                try:
                    with conn.cursor() as cur:
                        cur.adbc_statement.set_options(**{_BATCH_HINT: str(_BATCH_BYTES)})
                        cur.execute(statement)
                        reader = cur.fetch_record_batch()
                        for batch in reader:
                            started = True
                            yield batch
                    return
                except Exception as exc:
                    if attempt == 1 and not started and _looks_disconnected(exc):
                        _log.info("ADBC connection lost (%s); reconnecting", exc)
                        if helper:
                            self._close_helper()
                        else:
                            self.close()
                        continue
                    raise

    def table_exists(self, name: str) -> bool:
        """Whether ``name`` resolves to a relation through the connection's search_path."""
        quoted = '"' + name.replace('"', '""') + '"'
        table = self.query(render("table_exists"), [quoted])
        return bool(table.column(0)[0].as_py())

    # -- journal ----------------------------------------------------------------------
    def _where_params(self, persistence_ids: str | Iterable[str] | None,
                      from_seq: int | None, to_seq: int | None, since: TimeLike | None,
                      until: TimeLike | None, tags: str | TagFilter | None) -> list[Any]:
        since_ms = to_epoch_ms(since, "since")
        until_ms = to_epoch_ms(until, "until")
        return [
            _ids_param(persistence_ids),
            _seq_param(from_seq, "from_seq", 0),
            _seq_param(to_seq, "to_seq", MAX_BIGINT),
            since_ms if since_ms is not None else _MIN_BIGINT,
            until_ms if until_ms is not None else MAX_BIGINT,
            *_tags_params(tags),
        ]

    def journal(self, *, persistence_ids: str | Iterable[str] | None = None,
                tags: str | TagFilter | None = None, from_seq: int | None = None,
                to_seq: int | None = None, since: TimeLike | None = None,
                until: TimeLike | None = None, limit: int | None = None,
                expand: bool = False, progress: bool | None = None) -> pd.DataFrame:
        """Events in (persistence_id, sequence_nr) order; see :meth:`Workbench.journal_frame`."""
        where = self._where_params(persistence_ids, from_seq, to_seq, since, until, tags)
        lim = _limit_param(limit)
        builder = _FrameBuilder("sequence_nr", tags=True, expand=expand)
        if not self.table_exists(self.tables.events):
            return builder.frame()
        select = render("journal_select", events=self.tables.events,
                        where=fragment("journal_where"))
        count = render("journal_count", events=self.tables.events,
                       where=fragment("journal_where"))

        def page(after: dict[str, Any] | None, size: int | None) -> Iterator[pa.RecordBatch]:
            keys = [after["persistence_id"], after["sequence_nr"]] if after else [None, None]
            return self.query_batches(select, [*where, *keys, size, None, None])

        middle = (self._split_key(self.tables.events, "persistence_id")
                  if progress is False and lim is None and persistence_ids is None else None)
        if middle is not None:
            self._load_halves(builder, select, [*where, None, None, None, None, middle],
                              [*where, None, None, None, middle, None])
        else:
            self._load(builder, page, lambda: self._count(count, where), lim, progress,
                       "journal_frame")
        return builder.frame()

    def _split_key(self, table: str, column: str) -> str | None:
        """The value of ``column`` that splits ``table`` in two halves (from the planner's
        statistics, see ``sql/split_key.sql``), or ``None`` when the table is estimated
        smaller than ``parallel_min_rows`` or has no statistics for the column."""
        if self.parallel_min_rows <= 0:
            return None
        quoted = '"' + table.replace('"', '""') + '"'
        row = self.query(render("split_key"), [quoted, column]).to_pylist()
        if not row or (row[0]["estimated_rows"] or 0) < self.parallel_min_rows:
            return None
        middle: str | None = row[0]["middle"]
        return middle

    def _load_halves(self, builder: _FrameBuilder, select: str, lower: Sequence[Any],
                     upper: Sequence[Any]) -> None:
        """Run ``select`` with the ``lower`` and the ``upper`` half's values at once — the
        upper half on the second connection in a worker thread, reduced by its own builder
        (ADBC decoding and Arrow compute release the GIL) — and join them in order."""
        from concurrent.futures import ThreadPoolExecutor

        second = _FrameBuilder(builder.second, tags=builder.tags, expand=builder.expand)
        with ThreadPoolExecutor(1, thread_name_prefix="actorpg-frames") as pool:
            job = pool.submit(second.add_all, self.query_batches(select, upper, helper=True))
            builder.add_all(self.query_batches(select, lower))
            job.result()
        builder.extend(second)

    def tagged(self, tag_filter: str | TagFilter, *,
               persistence_ids: str | Iterable[str] | None = None,
               from_seq: int | None = None, to_seq: int | None = None,
               since: TimeLike | None = None, until: TimeLike | None = None,
               limit: int | None = None, expand: bool = False,
               progress: bool | None = None) -> pd.DataFrame:
        """Events matching ``tag_filter`` in (timestamp, persistence_id, sequence_nr) order."""
        flt = as_tag_filter(tag_filter)
        # With an ``all`` tag, every match carries flt.all[0]: walk that tag's index in
        # order (no DISTINCT, no sort); the other rules are checked on the events' tag
        # list — not needed at all for a single tag.  Only any-only filters take the
        # general path (candidates from several tags, de-duplicated, then sorted).
        driven = bool(flt.all)
        single = len(flt.all) == 1 and not flt.any and not flt.not_
        where = self._where_params(persistence_ids, from_seq, to_seq, since, until,
                                   None if single else flt)
        candidates = flt.all[0] if driven else orjson.dumps(list(flt.candidate_tags)).decode()
        lim = _limit_param(limit)
        builder = _FrameBuilder("sequence_nr", tags=True, expand=expand)
        if not (self.table_exists(self.tables.events) and self.table_exists(self.tables.tags)):
            return builder.frame()
        names: dict[str, str | Any] = {"events": self.tables.events, "tags": self.tables.tags,
                                       "where": fragment("journal_where")}
        select = render("tagged_one_select" if driven else "tagged_select", **names)
        count = render("tagged_one_count" if driven else "tagged_count", **names)

        def page(after: dict[str, Any] | None, size: int | None) -> Iterator[pa.RecordBatch]:
            keys = ([after["timestamp"], after["persistence_id"], after["sequence_nr"]]
                    if after else [None, None, None])
            return self.query_batches(select, [*where, *keys, candidates, size, None, None])

        # Halves of the tag rows' time range (the order's first key) for a large load
        # driven by one tag's index.
        middle = (self._split_key(self.tables.tags, "timestamp")
                  if driven and progress is False and lim is None else None)
        if middle is not None:
            split = int(middle)
            self._load_halves(builder, select,
                              [*where, None, None, None, candidates, None, None, split],
                              [*where, None, None, None, candidates, None, split, None])
        else:
            self._load(builder, page, lambda: self._count(count, [*where, candidates]), lim,
                       progress, "tag_frame")
        return builder.frame()

    def _count(self, statement: str, params: Sequence[Any]) -> int:
        return int(self.query(statement, params).column(0)[0].as_py())

    def _load(self, builder: _FrameBuilder,
              page: Callable[[dict[str, Any] | None, int | None], Iterator[pa.RecordBatch]],
              count: Callable[[], int], limit: int | None, progress: bool | None,
              desc: str) -> None:
        """Without a progress bar (``progress=False``): ONE streamed query — no count, no
        pages (record batches are reduced as they arrive, so memory stays bounded by the
        frame itself).  Otherwise one query when the result fits in
        ``progress_threshold`` rows, else that first page, then a count (for the bar's
        total) and keyset pages."""
        if progress is False:
            builder.add_all(page(None, limit))
            return
        # One row more than the threshold tells "small" (done) from "large" (keep paging)
        # without a count or an extra, empty query.
        first = self.progress_threshold + 1
        if limit is not None:
            first = min(limit, first)
        got = builder.add_all(page(None, first))
        if got < first or (limit is not None and builder.rows >= limit):
            return
        total = count()
        if limit is not None:
            total = min(total, limit)
        self._load_paged(builder, page, total, limit, True, desc)

    def _load_paged(self, builder: _FrameBuilder,
                    page: Callable[[dict[str, Any] | None, int | None],
                                   Iterator[pa.RecordBatch]],
                    total: int, limit: int | None, show: bool, desc: str) -> None:
        from tqdm.auto import tqdm

        pages = 0
        newest = _MIN_BIGINT
        started = time.perf_counter()
        with tqdm(total=total, initial=builder.rows, desc=desc, unit="rows", unit_scale=True,
                  disable=not show, leave=False) as bar:
            while limit is None or builder.rows < limit:
                size = (self.page_size if limit is None
                        else min(self.page_size, limit - builder.rows))
                got = 0
                for batch in page(builder.last or None, size):
                    builder.add(batch)
                    got += batch.num_rows
                    if batch.num_rows:
                        newest = max(newest, int(pc.max(batch.column("timestamp")).as_py()))
                    bar.update(batch.num_rows)
                    lag = max(0.0, time.time() - newest / 1000.0)
                    bar.set_postfix_str(f"lag {_human_seconds(lag)}", refresh=False)
                pages += 1
                if got < size:
                    break
        elapsed = time.perf_counter() - started
        _log.info("%s: %d rows in %d pages, %.0f rows/s", desc, builder.rows, pages,
                  builder.rows / elapsed if elapsed > 0 else float("inf"))

    # -- snapshots, durable state, streams ---------------------------------------------
    def snapshots(self, *, persistence_ids: str | Iterable[str] | None = None,
                  from_seq: int | None = None, to_seq: int | None = None,
                  since: TimeLike | None = None, until: TimeLike | None = None,
                  limit: int | None = None, expand: bool = False) -> pd.DataFrame:
        """Snapshots in (persistence_id, sequence_nr) order."""
        since_ms, until_ms = to_epoch_ms(since, "since"), to_epoch_ms(until, "until")
        params = [
            _ids_param(persistence_ids), _seq_param(from_seq, "from_seq", 0),
            _seq_param(to_seq, "to_seq", MAX_BIGINT),
            since_ms if since_ms is not None else _MIN_BIGINT,
            until_ms if until_ms is not None else MAX_BIGINT, _limit_param(limit),
        ]
        builder = _FrameBuilder("sequence_nr", tags=False, expand=expand)
        if self.table_exists(self.tables.snapshots):
            builder.add_all(self.query_batches(
                render("snapshots_select", snapshots=self.tables.snapshots), params))
        return builder.frame()

    def durable_state(self, *, persistence_ids: str | Iterable[str] | None = None,
                      since: TimeLike | None = None, until: TimeLike | None = None,
                      limit: int | None = None, expand: bool = False) -> pd.DataFrame:
        """Durable-state records in persistence_id order."""
        since_ms, until_ms = to_epoch_ms(since, "since"), to_epoch_ms(until, "until")
        params = [
            _ids_param(persistence_ids),
            since_ms if since_ms is not None else _MIN_BIGINT,
            until_ms if until_ms is not None else MAX_BIGINT, _limit_param(limit),
        ]
        builder = _FrameBuilder("revision", tags=False, expand=expand)
        if self.table_exists(self.tables.durable_state):
            builder.add_all(self.query_batches(
                render("durable_state_select", table=self.tables.durable_state), params))
        return builder.frame()

    def streams(self, *, persistence_ids: str | Iterable[str] | None = None) -> pd.DataFrame:
        """One row per stream (see :meth:`Workbench.streams_frame`)."""
        ids = _ids_param(persistence_ids)
        if not self.table_exists(self.tables.events):
            return _streams_frame(_STREAMS_SCHEMA.empty_table())
        from psycopg import sql

        snapshots: str | sql.Composable = (
            self.tables.snapshots if self.table_exists(self.tables.snapshots)
            else sql.SQL(_NO_SNAPSHOTS)
        )
        meta: str | sql.Composable = (
            self.tables.meta if self.table_exists(self.tables.meta)
            else sql.SQL(_NO_META)
        )
        table = self.query(render("streams", events=self.tables.events, meta=meta,
                                  snapshots=snapshots), [ids])
        return _streams_frame(table)


class _FrameBuilder:
    """Builds a frame from record batches as they stream in.

    Each batch is reduced to its final columns at once (ids, numbers, timestamps, tags
    split into lists, and — with ``expand`` — the parsed payload columns), so with
    ``expand=True`` the raw JSON of a batch is dropped as soon as it has been parsed.
    """

    def __init__(self, second: str, tags: bool, expand: bool) -> None:
        self.second = second
        self.tags = tags
        self.expand = expand
        self.columns: dict[str, list[pa.Array]] = {"persistence_id": [], second: [],
                                                   "timestamp": []}
        if tags:
            self.columns["tags"] = []
        if not expand:
            self.columns["payload"] = []
        self.expander = _PayloadExpander()
        self.rows = 0
        self.last: dict[str, Any] = {}

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        if batch.num_rows == 0:
            return
        self.rows += batch.num_rows
        cols = self.columns
        # Dictionary-encoded per batch (so in the worker thread of a parallel load); to_pandas
        # unifies the batches' dictionaries into one categorical.
        cols["persistence_id"].append(pc.dictionary_encode(
            _one_chunk(batch.column("persistence_id")), memory_pool=_parse_pool()))
        cols[self.second].append(_one_chunk(batch.column(self.second)))
        cols["timestamp"].append(_one_chunk(batch.column("timestamp")))
        if self.tags:
            cols["tags"].append(_split_tags(batch.column("tags")))
        if self.expand:
            self.expander.add(_one_chunk(batch.column("payload")))
        else:
            cols["payload"].append(_one_chunk(batch.column("payload")))
        self.last = {name: batch.column(name)[-1].as_py()
                     for name in ("persistence_id", self.second, "timestamp")}

    def add_all(self, batches: Iterable[pa.RecordBatch]) -> int:
        rows = 0
        for batch in batches:
            self.add(batch)
            rows += batch.num_rows
        return rows

    def extend(self, other: _FrameBuilder) -> None:
        """Append everything ``other`` (loaded after this one, same columns) holds."""
        for name, chunks in other.columns.items():
            self.columns[name].extend(chunks)
        self.expander.parts.extend(other.expander.parts)
        self.expander.rows += other.expander.rows
        self.rows += other.rows
        if other.rows:
            self.last = other.last
        other.columns = {}
        other.expander.parts = []

    def frame(self) -> pd.DataFrame:
        types = {"persistence_id": pa.dictionary(pa.int32(), pa.string()),
                 self.second: pa.int64(),
                 "timestamp": pa.int64(), "tags": pa.list_(pa.string()),
                 "payload": pa.string()}
        cols = {name: pa.chunked_array(chunks, type=types[name])
                for name, chunks in self.columns.items()}
        self.columns = {}
        pool = _parse_pool()
        base = pa.table({
            "persistence_id": cols.pop("persistence_id"),
            self.second: cols.pop(self.second),
            "timestamp": _timestamps(cols.pop("timestamp")),
        })
        frame: pd.DataFrame = base.to_pandas(memory_pool=pool)
        del base
        if self.tags:
            frame["tags"] = pd.Series(pd.arrays.ArrowExtensionArray(cols.pop("tags")))
        if not self.expand:
            frame["payload"] = cols.pop("payload").to_pandas()
            return frame
        expanded = self.expander.frame()
        if expanded.shape[1] == 0:
            return frame
        expanded.columns = _column_names(list(expanded.columns),
                                         {*frame.columns, "payload"}, renamed=True)
        combined: pd.DataFrame = pd.concat([frame, expanded], axis=1)
        return combined


def _one_chunk(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks()
    return column


def _streams_frame(table: pa.Table) -> pd.DataFrame:
    frame: pd.DataFrame = table.drop_columns(["last_write_ms", "event_types"]).to_pandas(
        types_mapper={pa.int64(): pd.Int64Dtype()}.get
    )
    for column in ("events", "head", "deleted_to", "snapshots", "events_to_replay"):
        frame[column] = frame[column].astype("int64")
    frame["persistence_id"] = frame["persistence_id"].astype("category")
    frame["last_write"] = _timestamps(table["last_write_ms"]).to_pandas()
    frame["event_types"] = [sorted(v) for v in _list_column(table["event_types"])]
    return frame


def _human_seconds(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _looks_disconnected(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(hint in text for hint in ("server closed the connection", "terminating connection",
                                         "connection to server", "no connection", "eof detected"))


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # pragma: no cover - closing a broken connection
        _log.debug("closing the ADBC connection failed", exc_info=True)
