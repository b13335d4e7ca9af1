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

Columns and types are those of ``journal_frame()`` (written from the frames the same
builder makes, with pandas metadata, so ``pandas.read_parquet`` restores the same dtypes)
plus the partition column ``pid_bucket``.

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

import pyarrow as pa

from .._dsn import DEFAULT_CONNECT_TIMEOUT
from ._arguments import EventFilter
from ._iteration import (
    empty_journal_frame,
    journal_select,
    journal_values,
    rebatch,
    to_journal_frame,
)
from ._partitions import pid_bucket, stream_sizes
from ._session import AdbcSession

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
            self._schema = _normalised_schema(table.schema)
        table = table.cast(self._schema)
        if self._writer is not None and self._rows_in_file >= self.max_rows:
            self._close_file()
        if self._writer is None:
            self.folder.mkdir(mode=0o700, exist_ok=True)
            path = self.folder / f"part-{len(self.files):05d}.parquet"
            self._writer = pq.ParquetWriter(path, self._schema, compression="snappy",
                                            write_statistics=True)
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


def _normalised_schema(schema: pa.Schema) -> pa.Schema:
    """The schema every row group is cast to: dictionary indices widened to int32 (pandas
    picks int8/int16 codes by the number of categories, which varies per group)."""
    fields = []
    for field in schema:
        if pa.types.is_dictionary(field.type):
            field = field.with_type(pa.dictionary(pa.int32(), field.type.value_type))
        fields.append(field)
    return pa.schema(fields, metadata=schema.metadata)


def _arrow(frame: Any) -> pa.Table:
    # Without pandas' schema metadata: pandas cannot parse back the dtype name it writes
    # for an Arrow list column ("list<item: string>[pyarrow]"), so a reader would fail.
    table: pa.Table = pa.Table.from_pandas(frame, preserve_index=False)
    return table.replace_schema_metadata(None)


def _write_bucket(url: str, events_table: str, where: EventFilter, bucket: int,
                  pids: Sequence[str], folder: Path, row_group_rows: int,
                  max_rows_per_file: int, connect_timeout: float | None) -> tuple[list[Path], int]:
    session = AdbcSession(url, connect_timeout=connect_timeout)
    writer = _BucketWriter(folder / f"{PARTITION}={bucket}", max_rows_per_file)
    rows = 0
    try:
        bucket_filter = dataclasses.replace(where, persistence_ids=tuple(pids))
        stream = session.query_batches(journal_select(events_table),
                                       journal_values(bucket_filter))
        try:
            for group in rebatch(stream, row_group_rows):
                table = _arrow(to_journal_frame(group))
                del group
                rows += table.num_rows
                writer.write(table)
                del table
        finally:
            stream.close()  # type: ignore[attr-defined]
    finally:
        writer.close()
        session.close()
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
        files: list[Path] = []
        rows = 0
        lock = threading.Lock()

        def run(bucket: int) -> None:
            nonlocal rows
            written, count = _write_bucket(url, events_table, where, bucket, plan[bucket],
                                           staging, row_group_rows, max_rows_per_file,
                                           connect_timeout)
            with lock:
                files.extend(written)
                rows += count

        if plan:
            with ThreadPoolExecutor(min(workers, len(plan)),
                                    thread_name_prefix="actorpg-export") as pool:
                for future in [pool.submit(run, bucket) for bucket in plan]:
                    future.result()
        if not files:
            # Nothing matched: one empty file, so every reader still sees the columns.
            writer = _BucketWriter(staging / f"{PARTITION}=0", max_rows_per_file)
            writer.write(_arrow(empty_journal_frame()))
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
