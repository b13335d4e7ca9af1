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
file per worker, memory bounded by a row group, and

* a stream lives in exactly one bucket, in (persistence_id, sequence_nr) order — reading
  one stream opens one directory;
* time filters still prune: every row group carries min/max statistics of
  ``timestamp`` that pyarrow, DuckDB, Spark and Polars use to skip row groups;
* **no persistence id ever becomes a path**: directory names are bucket numbers, so an
  id such as ``../../etc`` or ``a/b=c`` is just data.

Columns and types are those of ``journal_frame()`` in Arrow terms (the schema is taken
from ``journal_frame()`` of an empty journal; each row group is converted column by
column in Arrow, no pandas round trip): ``persistence_id`` dictionary-encoded (read back
as a categorical), ``sequence_nr`` int64, ``timestamp`` ``timestamp[ms, UTC]``, ``tags``
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
import pyarrow.compute as pc

from .._dsn import DEFAULT_CONNECT_TIMEOUT
from ._arguments import EventFilter
from ._iteration import empty_journal_frame, rebatch
from ._partitions import pid_bucket, stream_sizes
from ._payloads import parse_pool
from ._read_model import split_tags
from ._session import AdbcSession
from ._sql import fragment, position_column, render

__all__ = ["DEFAULT_BUCKETS", "export_parquet"]

_log = logging.getLogger("actorpg_lab.lab.export")

#: Hash buckets of an export unless told otherwise.
DEFAULT_BUCKETS = 16
#: Rows per Parquet row group (one group of record batches is converted at a time).
ROW_GROUP_ROWS = 65_536
#: Rows per file before the next part file is started.
MAX_ROWS_PER_FILE = 2_000_000
PARTITION = "pid_bucket"


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
                path, self._schema, compression="snappy", use_dictionary=["persistence_id"],
                write_statistics=["persistence_id", "sequence_nr", "timestamp"])
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


def journal_schema() -> pa.Schema:
    """The Arrow schema of ``journal_frame()``'s columns (from the frame of an empty
    journal, built by the same code): what every exported row group is converted to."""
    fields = []
    for field in pa.Schema.from_pandas(empty_journal_frame(), preserve_index=False):
        if pa.types.is_dictionary(field.type):
            # A categorical without categories has no value type yet: ids are strings,
            # and the indices are int32 in every row group (pandas picks by size).
            field = field.with_type(pa.dictionary(pa.int32(), pa.string()))
        fields.append(field)
    return pa.schema(fields)


def to_arrow(batches: Sequence[pa.RecordBatch], schema: pa.Schema) -> pa.Table:
    """Record batches of the journal SELECT as ``schema`` (journal_frame()'s types),
    column by column in Arrow — no pandas round trip."""
    raw = pa.Table.from_batches(list(batches)).combine_chunks()
    pool = parse_pool()
    arrays = []
    for field in schema:
        column = raw.column(field.name)
        if field.name == "tags":
            arrays.append(split_tags(column, pool))
        elif pa.types.is_dictionary(field.type):
            arrays.append(pc.dictionary_encode(column, memory_pool=pool).cast(field.type))
        else:
            arrays.append(pc.cast(column, field.type, memory_pool=pool))
    return pa.Table.from_arrays(arrays, schema=schema)


def _write_bucket(session: AdbcSession, events_table: str, where: EventFilter, bucket: int,
                  pids: Sequence[str], folder: Path, row_group_rows: int,
                  max_rows_per_file: int, schema: pa.Schema) -> tuple[list[Path], int]:
    """One bucket: one index-ordered query for its streams, written a row group at a time."""
    writer = _BucketWriter(folder / f"{PARTITION}={bucket}", max_rows_per_file)
    rows = 0
    try:
        values = {**dataclasses.replace(where, persistence_ids=None).sql_values(),
                  "bucket": orjson.dumps(list(pids)).decode()}
        stream = session.query_batches(
            render("export_bucket", events=events_table, where=fragment("journal_where"),
                   position=position_column("e", session.has_column(events_table,
                                                                    "position"))),
            values)
        try:
            for group in rebatch(stream, row_group_rows):
                table = to_arrow(group, schema)
                del group
                rows += table.num_rows
                writer.write(table)
                del table
        finally:
            stream.close()  # type: ignore[attr-defined]
    finally:
        writer.close()
    return writer.files, rows


def _plan(streams: Sequence[str], buckets: int) -> dict[int, list[str]]:
    plan: dict[int, list[str]] = {}
    for pid in streams:
        plan.setdefault(pid_bucket(pid, buckets), []).append(pid)
    return dict(sorted(plan.items()))


def export_parquet(url: str, events_table: str, path: str | os.PathLike[str],
                   where: EventFilter, *, overwrite: bool = False,
                   buckets: int = DEFAULT_BUCKETS, workers: int = 2,
                   row_group_rows: int = ROW_GROUP_ROWS,
                   max_rows_per_file: int = MAX_ROWS_PER_FILE,
                   connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT) -> list[Path]:
    """Write the events ``where`` selects under ``path`` (see the module docstring) and
    return the files written, sorted.  ``workers`` buckets are written at once, each over
    its own connection (ADBC decoding and Parquet encoding release the GIL)."""
    _check_positive("buckets", buckets)
    _check_positive("workers", workers)
    _check_positive("row_group_rows", row_group_rows)
    _check_positive("max_rows_per_file", max_rows_per_file)
    target = _target(path, overwrite)
    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.export-", dir=target.parent))
    try:
        planner = AdbcSession(url, connect_timeout=connect_timeout)
        try:
            streams = [s.persistence_id for s in stream_sizes(planner, events_table,
                                                                where.persistence_ids)]
        finally:
            planner.close()
        plan = _plan(streams, buckets)
        schema = journal_schema()
        files: list[Path] = []
        rows = 0
        lock = threading.Lock()

        pending = iter(list(plan.items()))
        failed = threading.Event()

        def worker() -> None:
            # One connection per worker, reused for every bucket it takes.
            nonlocal rows
            session = AdbcSession(url, connect_timeout=connect_timeout)
            try:
                while not failed.is_set():
                    with lock:
                        item = next(pending, None)
                    if item is None:
                        return
                    bucket, pids = item
                    try:
                        written, count = _write_bucket(session, events_table, where, bucket,
                                                       pids, staging, row_group_rows,
                                                       max_rows_per_file, schema)
                    except BaseException:
                        failed.set()
                        raise
                    with lock:
                        files.extend(written)
                        rows += count
            finally:
                session.close()

        if plan:
            with ThreadPoolExecutor(min(workers, len(plan)),
                                    thread_name_prefix="actorpg-export") as pool:
                for future in [pool.submit(worker) for _ in range(min(workers, len(plan)))]:
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
