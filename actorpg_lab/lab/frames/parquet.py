"""``Workbench.export_parquet``: the journal as a Hive-partitioned Parquet dataset.

Layout::

    <path>/pid_bucket=0/part-00000.parquet
    <path>/pid_bucket=0/part-00001.parquet     (a new file every max_rows_per_file rows)
    <path>/pid_bucket=7/part-00000.parquet
    ...

**Partitioning: by a persistence-id hash**, ``pid_bucket = pid_bucket(persistence_id,
buckets)`` (:func:`actorpg_lab.lab.pid_bucket`: BLAKE2b of the id, stable everywhere).
Why not a day bucket: the journal is stored and indexed in (persistence_id, sequence_nr)
order, and a day layout would need either the whole journal re-sorted by time on the
server or one open writer (and one buffered row group) per day at once — memory that
grows with the time span.  With hash buckets each bucket is read by ONE index-ordered
query for its streams and written to its own files one row group at a time: one open
file per worker, memory bounded by a few row groups (below), and

* a stream lives in exactly one bucket, in (persistence_id, sequence_nr) order — reading
  one stream opens one directory;
* time filters still prune: every row group carries min/max statistics of
  ``timestamp`` that pyarrow, DuckDB, Spark and Polars use to skip row groups;
* **no persistence id ever becomes a path**: directory names are bucket numbers, so an
  id such as ``../../etc`` or ``a/b=c`` is just data.

**Memory**: each ADBC record batch is converted as it arrives; a row group closes at
``ROW_GROUP_ROWS`` rows or ``ROW_GROUP_BYTES`` (4 MiB) of Arrow buffers, whichever comes
first, is written and dropped; once the resident set has grown ``RELEASE_ABOVE``
(32 MiB) the allocators are asked to hand freed pages back (:class:`MemoryBudget`,
:func:`release_unused`).  Measured peak RSS growth (two workers, 16 buckets): ~40 MiB
at 300k events, ~55 MiB from 1M to 6M, and ~40 MiB for 500k events with 1 kB payloads
(a 500 MB DataFrame) — set by the budget and the row groups in flight, not by the
journal.  Files are zstd (level 1) compressed.

Columns and types are those of ``journal_frame()`` in Arrow terms (the schema is taken
from ``journal_frame()`` of an empty journal; each record batch is converted column
by column in Arrow, no pandas round trip): ``persistence_id`` dictionary-encoded (read
back as a categorical), ``sequence_nr`` int64, ``timestamp`` ``timestamp[ms, UTC]``, ``tags``
``list<string>``, ``payload`` string — plus the partition column ``pid_bucket``.  No
pandas metadata is written (pandas cannot parse back the dtype name it would write for a
list column); ``pandas.read_parquet(path, dtype_backend="pyarrow")`` gives the ``tags``
column journal_frame()'s Arrow-backed list dtype.

**Re-running into the same path**: refused (``FileExistsError``) when ``path`` exists and
is not empty, unless ``overwrite=True``, which replaces the dataset as a whole: the new
one is written into a private temporary directory beside ``path`` and swapped in by
renames only when complete, so a failed or interrupted export never leaves a half-written
dataset at ``path`` and never loses the previous one.  Directories are created ``0700``
(payloads may be sensitive and the machine shared).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
from psycopg import sql

from ..._dsn import DEFAULT_CONNECT_TIMEOUT
from ..db.session import AdbcSession
from ..db.statements import fragment, metadata_columns, position_column, render
from .export_rows import journal_schema, to_arrow
from .filter import EventFilter
from .iteration import rebatch
from .memory import MemoryBudget, release_unused
from .partitions import StreamSize, pid_bucket, stream_sizes
from .payloads import parse_pool

__all__ = ["DEFAULT_BUCKETS", "export_parquet"]

_log = logging.getLogger("actorpg_lab.lab.export")

#: Hash buckets of an export unless told otherwise.
DEFAULT_BUCKETS = 16
#: Most rows per Parquet row group.
ROW_GROUP_ROWS = 65_536
#: Most bytes (Arrow buffers) per row group: a row group is closed at the first of the
#: two limits, so wide payloads make shorter row groups, never bigger memory.  About one
#: ADBC record batch (``db.session.BATCH_BYTES``): what an export holds per worker.
ROW_GROUP_BYTES = 4 << 20
#: Rows per file before the next part file is started.
MAX_ROWS_PER_FILE = 2_000_000
PARTITION = "pid_bucket"
#: Resident-set growth (bytes) above which an export hands freed pages back after a row
#: group (:class:`MemoryBudget`): a few row groups per worker.
RELEASE_ABOVE = 8 * ROW_GROUP_BYTES
#: Parquet compression: zstd at level 1 — as fast to write as snappy here and several
#: times smaller for JSON payloads; read by pyarrow, DuckDB, Polars, Spark, Dask.
COMPRESSION = "zstd"
COMPRESSION_LEVEL: int | None = 1


def _check_positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}: {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value!r}")
    return value


def _target(path: str | os.PathLike[str], overwrite: bool) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}: {path!r}")
    target = Path(path).expanduser().absolute()
    if target.exists() or target.is_symlink():
        if not target.is_dir() or target.is_symlink():
            raise FileExistsError(f"export_parquet: {str(target)!r} exists and is not a "
                                  "directory; choose another path")
        if any(target.iterdir()) and not overwrite:
            raise FileExistsError(
                f"export_parquet: {str(target)!r} already holds files; pass overwrite=True "
                "to replace that dataset as a whole, or choose an empty or new path")
    return target


class _BucketWriter:
    """Writes the rows of one bucket into ``part-NNNNN.parquet`` files, a row group at a
    time, starting a new file every ``max_rows_per_file`` rows."""

    def __init__(self, folder: Path, max_rows_per_file: int) -> None:
        self.folder = folder
        self.max_rows = max_rows_per_file
        self.files: list[Path] = []
        self._writer: Any = None
        self._schema: pa.Schema | None = None
        self._rows_in_file = 0

    def write(self, table: pa.Table) -> None:
        import pyarrow.parquet as pq

        if self._schema is None:
            self._schema = table.schema
        if self._writer is not None and self._rows_in_file >= self.max_rows:
            self._close_file()
        if self._writer is None:
            self.folder.mkdir(mode=0o700, exist_ok=True)
            path = self.folder / f"part-{len(self.files):05d}.parquet"
            # Dictionary pages only for the ids (the payload is mostly unique: trying a
            # dictionary for it costs CPU and falls back anyway); min/max statistics for
            # the columns readers filter on (row-group pruning by stream, order, time).
            self._writer = pq.ParquetWriter(
                path, self._schema, compression=COMPRESSION,
                compression_level=COMPRESSION_LEVEL, use_dictionary=["persistence_id"],
                write_statistics=["persistence_id", "sequence_nr", "timestamp"],
                memory_pool=parse_pool())
            self.files.append(path)
            self._rows_in_file = 0
        self._writer.write_table(table, row_group_size=max(1, table.num_rows))
        self._rows_in_file += table.num_rows

    def _close_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> None:
        self._close_file()


def _raw_position(present: bool) -> sql.Composable:
    """The ``position`` column as stored (``xid8``, converted by :func:`xid8_to_int64`),
    not ``position::text::bigint``: the server-side text round trip was ~25% of the
    bucket query's execution time (66 of 243 ms per 1M events)."""
    return sql.SQL("e.position") if present else position_column("e", False)


def row_group(batches: Sequence[pa.RecordBatch], schema: pa.Schema) -> pa.Table:
    """Converted batches as one row group: chunked (never concatenated), with the
    per-batch dictionaries of ``persistence_id`` unified (so the Parquet writer keeps
    one dictionary page per column chunk instead of falling back to plain values)."""
    return pa.Table.from_batches(batches, schema).unify_dictionaries(parse_pool())


def _write_bucket(session: AdbcSession, events_table: str, where: EventFilter, bucket: int,
                  pids: Sequence[str], folder: Path, row_group_rows: int,
                  max_rows_per_file: int, schema: pa.Schema,
                  row_group_bytes: int = ROW_GROUP_BYTES,
                  budget: MemoryBudget | None = None, *, helper: bool = False,
                  positions: bool | None = None) -> tuple[list[Path], int]:
    """One bucket: one index-ordered query for its streams, written a row group at a time."""
    writer = _BucketWriter(folder / f"{PARTITION}={bucket}", max_rows_per_file)
    rows = 0
    try:
        values = {**dataclasses.replace(where, persistence_ids=None).sql_values(),
                  "bucket": orjson.dumps(list(pids)).decode()}
        if positions is None:
            positions = session.has_column(events_table, "position")
        stream = session.query_batches(
            render("export_bucket", events=events_table, where=fragment("journal_where"),
                   position=_raw_position(positions),
                   **metadata_columns("e", session.has_column(events_table, "metadata"))),
            values, helper=helper)
        try:
            # Each raw batch is converted as it arrives (and dropped); the converted
            # batches are regrouped into row groups (slices, no copy), each written and
            # dropped before the next is read: memory is a row group, not the bucket.
            for group in rebatch((to_arrow(raw, schema) for raw in stream),
                                 row_group_rows, row_group_bytes):
                table = row_group(group, schema)
                del group
                rows += table.num_rows
                writer.write(table)
                del table
                if budget is None:
                    release_unused()
                else:
                    budget.after_row_group()
        finally:
            stream.close()  # type: ignore[attr-defined]
    finally:
        writer.close()
    return writer.files, rows


def _plan(streams: Sequence[StreamSize], buckets: int) -> list[tuple[int, list[str]]]:
    """The buckets to write, each with its streams (in the server's order), biggest
    bucket first: the workers take them in that order, so the last ones to start are
    the small ones and no worker is left alone with a big bucket at the end."""
    plan: dict[int, list[str]] = {}
    events: dict[int, int] = {}
    for stream in streams:
        bucket = pid_bucket(stream.persistence_id, buckets)
        plan.setdefault(bucket, []).append(stream.persistence_id)
        events[bucket] = events.get(bucket, 0) + max(stream.events, 0)
    return sorted(plan.items(), key=lambda item: (-events[item[0]], item[0]))


def export_parquet(url: str, events_table: str, path: str | os.PathLike[str],
                   where: EventFilter, *, overwrite: bool = False,
                   buckets: int = DEFAULT_BUCKETS, workers: int = 2,
                   row_group_rows: int = ROW_GROUP_ROWS,
                   row_group_bytes: int = ROW_GROUP_BYTES,
                   max_rows_per_file: int = MAX_ROWS_PER_FILE,
                   connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
                   session: AdbcSession | None = None) -> list[Path]:
    """Write the events ``where`` selects under ``path`` (see the module docstring) and
    return the files written, sorted.  ``workers`` buckets are written at once, each over
    its own connection (ADBC decoding and Parquet encoding release the GIL).

    ``session``: the workbench's own :class:`AdbcSession`, used (not closed) for the plan
    and by the first two workers — its main and its helper connection, the two a
    parallel ``journal_frame`` load uses — so a warm workbench exports without opening a
    connection (three connects were ~10% of a 1M-event export); more workers, or none
    given, open sessions of their own."""
    _check_positive("buckets", buckets)
    _check_positive("workers", workers)
    _check_positive("row_group_rows", row_group_rows)
    _check_positive("row_group_bytes", row_group_bytes)
    _check_positive("max_rows_per_file", max_rows_per_file)
    target = _target(path, overwrite)
    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.export-", dir=target.parent))
    try:
        planner = session or AdbcSession(url, connect_timeout=connect_timeout)
        try:
            streams = stream_sizes(planner, events_table, where.persistence_ids)
            positions = bool(streams) and planner.has_column(events_table, "position")
        finally:
            if planner is not session:
                planner.close()
        plan = _plan(streams, buckets)
        schema = journal_schema()
        files: list[Path] = []
        rows = 0
        lock = threading.Lock()
        budget = MemoryBudget(RELEASE_ABOVE)

        pending = iter(plan)
        failed = threading.Event()

        def worker(index: int) -> None:
            # One connection per worker, reused for every bucket it takes: the given
            # session's main (worker 0) or helper connection (worker 1), else its own.
            nonlocal rows
            shared = session is not None and index < 2
            own = session if shared else AdbcSession(url, connect_timeout=connect_timeout)
            assert own is not None
            try:
                while not failed.is_set():
                    with lock:
                        item = next(pending, None)
                    if item is None:
                        return
                    bucket, pids = item
                    try:
                        written, count = _write_bucket(own, events_table, where, bucket,
                                                       pids, staging, row_group_rows,
                                                       max_rows_per_file, schema,
                                                       row_group_bytes, budget,
                                                       helper=shared and index == 1,
                                                       positions=positions)
                    except BaseException:
                        failed.set()
                        raise
                    with lock:
                        files.extend(written)
                        rows += count
            finally:
                if not shared:
                    own.close()

        if plan:
            with ThreadPoolExecutor(min(workers, len(plan)),
                                    thread_name_prefix="actorpg-export") as pool:
                for future in [pool.submit(worker, i) for i in range(min(workers, len(plan)))]:
                    future.result()
        if not files:
            # Nothing matched: one empty file, so every reader still sees the columns.
            writer = _BucketWriter(staging / f"{PARTITION}=0", max_rows_per_file)
            writer.write(schema.empty_table())
            writer.close()
            files = writer.files
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    elapsed = time.perf_counter() - started
    _log.info("export_parquet: %d rows in %d files under %s in %.1f s", rows, len(files),
              target, elapsed)
    return sorted(target / f.relative_to(staging) for f in files)


def _swap_in(staging: Path, target: Path) -> None:
    """Put the finished dataset at ``target`` (replacing an old one) with renames only."""
    old: Path | None = None
    if target.exists():
        old = target.parent / f".{target.name}.replaced-{uuid.uuid4().hex[:8]}"
        target.rename(old)
    try:
        staging.rename(target)
    except BaseException:
        if old is not None:
            old.rename(target)  # put the previous dataset back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
