"""Columnar DataFrame loaders for the journal, snapshots and durable state.

Reads go through ADBC (``adbc_driver_postgresql``): PostgreSQL sends rows with
``COPY ... BINARY``, the driver builds Arrow record batches in C, and pandas gets
them through :meth:`pyarrow.Table.to_pandas` — several times faster than
``pandas.read_sql`` (which fetches Python tuples row by row).  Only ``SELECT`` is
used, so a read-only role can load every frame; a table that does not exist yet
yields an empty frame with the usual columns and dtypes.

Dtypes: ``persistence_id`` categorical, ``timestamp`` ``datetime64[ms, UTC]``,
``tags`` a list of str per row, ``payload`` the raw JSON text.  ``expand=True``
parses the payloads into columns (Arrow's JSON reader; an ``orjson`` fallback for
payloads Arrow cannot type consistently).  Large loads are fetched in keyset pages
with a ``tqdm.auto`` progress bar (rows/s and the lag of the newest event loaded).
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
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
    "expand_payloads",
    "to_epoch_ms",
]

_log = logging.getLogger("actorpg_lab.lab.frames")

#: Anything accepted as a time bound: epoch milliseconds, a datetime (naive = UTC),
#: a pandas Timestamp or an ISO-8601 string.
TimeLike: TypeAlias = int | float | str | _dt.datetime | pd.Timestamp

_MIN_BIGINT = -(2**63)

_EVENTS_SCHEMA = pa.schema([
    ("persistence_id", pa.string()),
    ("sequence_nr", pa.int64()),
    ("payload", pa.string()),
    ("tags", pa.list_(pa.string())),
    ("timestamp", pa.int64()),
])
_SNAPSHOTS_SCHEMA = pa.schema([
    ("persistence_id", pa.string()),
    ("sequence_nr", pa.int64()),
    ("payload", pa.string()),
    ("timestamp", pa.int64()),
])
_DURABLE_SCHEMA = pa.schema([
    ("persistence_id", pa.string()),
    ("revision", pa.int64()),
    ("payload", pa.string()),
    ("timestamp", pa.int64()),
])
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
    if isinstance(payload, pa.ChunkedArray):
        payload = payload.combine_chunks() if payload.num_chunks else pa.array([], pa.string())
    n = len(payload)
    if n == 0:
        return pd.DataFrame(index=pd.RangeIndex(0))
    try:
        table = _parse_with_arrow(payload)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
        _log.debug("Arrow JSON reader cannot type these payloads (%s); using orjson", exc)
        frame = _parse_with_orjson(payload)
    else:
        frame = table.to_pandas(types_mapper=_EXPANDED_TYPES.get)
    frame.columns = _column_names([str(c) for c in frame.columns], set(reserved))
    frame.index = pd.RangeIndex(n)
    return frame


def _parse_with_arrow(payload: pa.Array) -> pa.Table:
    if payload.null_count:
        raise ValueError("null payloads")
    # One newline-delimited buffer built in C++ (payload JSON never contains a raw
    # newline: the encoder escapes it inside strings; a pretty-printed foreign payload
    # makes the reader fail and we fall back to orjson).
    wrapped = pa.ListArray.from_arrays(pa.array([0, len(payload)], pa.int32()), payload)
    joined = pc.binary_join(wrapped, "\n")[0].as_buffer()
    size = joined.size + 1
    options = pa_json.ReadOptions(use_threads=True, block_size=max(1 << 20, min(size, 2**31 - 1)))
    table = pa_json.read_json(pa.BufferReader(joined), read_options=options,
                              parse_options=pa_json.ParseOptions(newlines_in_values=False))
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


def _column_names(names: list[str], reserved: set[str]) -> list[str]:
    out: list[str] = []
    taken: set[str] = set()
    for name in names:
        if name == "$type":
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
    """

    def __init__(self, url: str, tables: Tables, *, page_size: int = 100_000,
                 progress_threshold: int = 100_000) -> None:
        self.url = url
        self.tables = tables
        self.page_size = page_size
        self.progress_threshold = progress_threshold
        self._lock = threading.RLock()
        self._conn: Any = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def __repr__(self) -> str:
        return f"<FrameLoader {redact_dsn(self.url)!r} events={self.tables.events!r}>"

    # -- connection -------------------------------------------------------------------
    def _connection(self) -> Any:
        if self._conn is None:
            import adbc_driver_postgresql.dbapi as adbc

            self._conn = adbc.connect(self.url, autocommit=True)
            self._finalizer = weakref.finalize(self, _close_quietly, self._conn)
        return self._conn

    def close(self) -> None:
        """Close the ADBC connection (idempotent; the next load reopens it)."""
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()
            self._conn = None
            self._finalizer = None

    def query(self, statement: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run one ``SELECT`` and return the Arrow table (reconnects once if the link died)."""
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                try:
                    with conn.cursor() as cur:
                        cur.execute(statement, tuple(params) if params else None)
                        return cur.fetch_arrow_table()
                except Exception as exc:
                    if attempt == 1 and _looks_disconnected(exc):
                        _log.info("ADBC connection lost (%s); reconnecting", exc)
                        self.close()
                        continue
                    raise
            raise AssertionError("unreachable")  # pragma: no cover

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
        if not self.table_exists(self.tables.events):
            return _events_frame(_EVENTS_SCHEMA.empty_table(), expand)
        select = render("journal_select", events=self.tables.events, where=fragment("journal_where"))
        count = render("journal_count", events=self.tables.events, where=fragment("journal_where"))

        def page(after: tuple[Any, ...] | None, size: int | None) -> pa.Table:
            keys = [after[0], after[1]] if after else [None, None]
            return self.query(select, [*where, *keys, size])

        def key(table: pa.Table) -> tuple[Any, ...]:
            return (table["persistence_id"][-1].as_py(), table["sequence_nr"][-1].as_py())

        table = self._load(page, key, lambda: self._count(count, where), lim, progress,
                           "journal_frame")
        return _events_frame(table, expand)

    def tagged(self, tag_filter: str | TagFilter, *, persistence_ids: str | Iterable[str] | None = None,
               from_seq: int | None = None, to_seq: int | None = None,
               since: TimeLike | None = None, until: TimeLike | None = None,
               limit: int | None = None, expand: bool = False,
               progress: bool | None = None) -> pd.DataFrame:
        """Events matching ``tag_filter`` in (timestamp, persistence_id, sequence_nr) order."""
        flt = as_tag_filter(tag_filter)
        where = self._where_params(persistence_ids, from_seq, to_seq, since, until, flt)
        candidates = orjson.dumps(list(flt.candidate_tags)).decode()
        lim = _limit_param(limit)
        if not (self.table_exists(self.tables.events) and self.table_exists(self.tables.tags)):
            return _events_frame(_EVENTS_SCHEMA.empty_table(), expand)
        names: dict[str, str | Any] = {"events": self.tables.events, "tags": self.tables.tags,
                                       "where": fragment("journal_where")}
        select = render("tagged_select", **names)
        count = render("tagged_count", **names)

        def page(after: tuple[Any, ...] | None, size: int | None) -> pa.Table:
            keys = list(after) if after else [None, None, None]
            return self.query(select, [*where, *keys, candidates, size])

        def key(table: pa.Table) -> tuple[Any, ...]:
            return (table["timestamp"][-1].as_py(), table["persistence_id"][-1].as_py(),
                    table["sequence_nr"][-1].as_py())

        table = self._load(page, key, lambda: self._count(count, [*where, candidates]), lim,
                           progress, "tag_frame")
        return _events_frame(table, expand)

    def _count(self, statement: str, params: Sequence[Any]) -> int:
        return int(self.query(statement, params).column(0)[0].as_py())

    def _load(self, page: Callable[[tuple[Any, ...] | None, int | None], pa.Table],
              key: Callable[[pa.Table], tuple[Any, ...]], count: Callable[[], int],
              limit: int | None, progress: bool | None, desc: str) -> pa.Table:
        if limit is not None and limit <= self.progress_threshold:
            return page(None, limit)
        total = count()
        if limit is not None:
            total = min(total, limit)
        if total <= self.progress_threshold:
            return page(None, limit)
        return self._load_paged(page, key, total, limit, progress is not False, desc)

    def _load_paged(self, page: Callable[[tuple[Any, ...] | None, int | None], pa.Table],
                    key: Callable[[pa.Table], tuple[Any, ...]], total: int, limit: int | None,
                    show: bool, desc: str) -> pa.Table:
        from tqdm.auto import tqdm

        pages: list[pa.Table] = []
        loaded = 0
        after: tuple[Any, ...] | None = None
        newest = _MIN_BIGINT
        started = time.perf_counter()
        with tqdm(total=total, desc=desc, unit="rows", unit_scale=True, disable=not show,
                  leave=False) as bar:
            while limit is None or loaded < limit:
                size = self.page_size if limit is None else min(self.page_size, limit - loaded)
                table = page(after, size)
                if table.num_rows == 0:
                    break
                pages.append(table)
                loaded += table.num_rows
                after = key(table)
                stamps = table["timestamp"]
                if len(stamps):
                    newest = max(newest, int(pc.max(stamps).as_py()))
                lag = max(0.0, time.time() - newest / 1000.0)
                bar.update(table.num_rows)
                bar.set_postfix_str(f"lag {_human_seconds(lag)}", refresh=False)
                if table.num_rows < size:
                    break
        elapsed = time.perf_counter() - started
        _log.info("%s: %d rows in %d pages, %.0f rows/s", desc, loaded, len(pages),
                  loaded / elapsed if elapsed > 0 else float("inf"))
        return pa.concat_tables(pages) if pages else page(None, 0)

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
        if not self.table_exists(self.tables.snapshots):
            return _state_frame(_SNAPSHOTS_SCHEMA.empty_table(), expand)
        table = self.query(render("snapshots_select", snapshots=self.tables.snapshots), params)
        return _state_frame(table, expand)

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
        if not self.table_exists(self.tables.durable_state):
            return _state_frame(_DURABLE_SCHEMA.empty_table(), expand)
        table = self.query(render("durable_state_select", table=self.tables.durable_state),
                           params)
        return _state_frame(table, expand)

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


def _events_frame(table: pa.Table, expand: bool) -> pd.DataFrame:
    base = pa.table({
        "persistence_id": pc.dictionary_encode(table["persistence_id"]),
        "sequence_nr": table["sequence_nr"],
        "timestamp": _timestamps(table["timestamp"]),
    })
    frame: pd.DataFrame = base.to_pandas()
    frame["tags"] = _list_column(table["tags"])
    if expand:
        return _with_expanded(frame, table["payload"])
    frame["payload"] = table["payload"].to_pandas()
    return frame


def _state_frame(table: pa.Table, expand: bool) -> pd.DataFrame:
    columns = table.column_names
    second = columns[1]
    base = pa.table({
        "persistence_id": pc.dictionary_encode(table["persistence_id"]),
        second: table[second],
        "timestamp": _timestamps(table["timestamp"]),
    })
    frame: pd.DataFrame = base.to_pandas()
    if expand:
        return _with_expanded(frame, table["payload"])
    frame["payload"] = table["payload"].to_pandas()
    return frame


def _with_expanded(frame: pd.DataFrame, payload: pa.ChunkedArray) -> pd.DataFrame:
    expanded = expand_payloads(payload, reserved=[*frame.columns, "payload"])
    if expanded.shape[1] == 0:
        return frame
    combined: pd.DataFrame = pd.concat([frame, expanded], axis=1)
    return combined


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
