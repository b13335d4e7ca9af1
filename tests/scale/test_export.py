"""Workbench.export_parquet: a Hive-partitioned Parquet dataset of the journal."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from actorpg_lab import JournalEntry
from actorpg_lab.lab import Workbench, pid_bucket
from actorpg_lab.lab import _export as export_module

from .conftest import HOSTILE_IDS, Seed

#: The columns compared row by row (journal_frame() may carry more: they are exported too
#: and checked by name).
COLUMNS = ["persistence_id", "sequence_nr", "timestamp", "tags", "payload"]


def read_back(path: Path) -> pa.Table:
    """The dataset as pyarrow reads it (Hive partitioning)."""
    return ds.dataset(path, format="parquet", partitioning="hive").to_table()


def as_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    pids = [str(v) for v in table.column("persistence_id").to_pylist()]
    return list(zip(pids, table.column("sequence_nr").to_pylist(),
                    table.column("timestamp").to_pylist(),
                    [tuple(t) for t in table.column("tags").to_pylist()],
                    table.column("payload").to_pylist(), strict=True))


def frame_rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    table = pa.Table.from_pandas(frame[COLUMNS], preserve_index=False)
    return sorted(as_rows(table), key=lambda r: (r[0].encode(), r[1]))


def sorted_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted(as_rows(table), key=lambda r: (r[0].encode(), r[1]))


def parquet_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


def test_round_trip_with_pyarrow(wb: Workbench, seed: Seed, tmp_path: Path) -> None:
    seed(streams=8, per_stream=25)
    files = wb.export_parquet(tmp_path / "journal")
    assert files and files == parquet_files(tmp_path / "journal")
    assert all(f.suffix == ".parquet" for f in files)
    table = read_back(tmp_path / "journal")
    frame = wb.journal_frame()
    assert sorted_rows(table) == frame_rows(frame)
    # The Parquet columns carry journal_frame()'s types (plus the partition column).
    schema = pq.read_schema(files[0])
    assert schema.names == list(frame.columns)
    assert pa.types.is_dictionary(schema.field("persistence_id").type)
    assert schema.field("sequence_nr").type == pa.int64()
    assert schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("tags").type.value_type == pa.string()
    assert pa.types.is_string(schema.field("payload").type) or pa.types.is_large_string(
        schema.field("payload").type)
    back = pd.read_parquet(tmp_path / "journal").drop(columns="pid_bucket")
    back = back.sort_values(["persistence_id", "sequence_nr"]).reset_index(drop=True)
    for column in ("persistence_id", "sequence_nr", "timestamp", "payload"):
        assert str(back[column].dtype) == str(frame[column].dtype), column
    assert back["tags"].map(list).tolist() == frame["tags"].map(list).tolist()


def test_duckdb_reads_the_dataset_as_is(wb: Workbench, seed: Seed, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    seed(streams=5, per_stream=10)
    wb.export_parquet(tmp_path / "ds")
    glob = str(tmp_path / "ds" / "**" / "*.parquet")
    rows = duckdb.sql(
        "SELECT persistence_id, count(*), max(sequence_nr), min(pid_bucket), max(pid_bucket),"
        " sum(len(tags)) "
        f"FROM read_parquet('{glob}', hive_partitioning = true) GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert [r[:3] for r in rows] == [(f"s-{k:03d}", 10, 10) for k in range(5)]
    for pid, _, _, low, high, tags in rows:
        assert low == high == pid_bucket(pid, 16)
        assert tags == 5  # "even" on every other event


def test_filters_select_the_same_events_as_journal_frame(wb: Workbench, seed: Seed,
                                                        tmp_path: Path) -> None:
    pids = seed(streams=6, per_stream=30)
    frame = wb.journal_frame()
    middle = frame["timestamp"].sort_values().iloc[len(frame) // 2]
    since, until = frame["timestamp"].min() + pd.Timedelta(milliseconds=1), middle
    cases: list[dict[str, Any]] = [
        {"persistence_ids": pids[:2]},
        {"persistence_ids": pids[4]},
        {"since": since, "until": until},
        {"persistence_ids": pids[1:3], "since": since},
        {"persistence_ids": ["no-such-stream"]},
    ]
    for i, case in enumerate(cases):
        target = tmp_path / f"case-{i}"
        wb.export_parquet(target, **case)
        assert sorted_rows(read_back(target)) == frame_rows(wb.journal_frame(**case)), case


def test_partition_layout_is_a_pid_hash(wb: Workbench, seed: Seed, tmp_path: Path) -> None:
    pids = seed(streams=40, per_stream=3)
    files = wb.export_parquet(tmp_path / "ds", buckets=4)
    folders = {f.parent.name for f in files}
    assert folders <= {f"pid_bucket={b}" for b in range(4)} and len(folders) > 1
    seen: dict[str, int] = {}
    for file in files:
        bucket = int(file.parent.name.split("=")[1])
        table = pq.read_table(file)
        keys = list(zip([str(p) for p in table.column("persistence_id").to_pylist()],
                        table.column("sequence_nr").to_pylist(), strict=True))
        assert keys == sorted(keys, key=lambda k: (k[0].encode(), k[1])), "in key order"
        for pid, _ in keys:
            assert pid_bucket(pid, 4) == bucket
            assert seen.setdefault(pid, bucket) == bucket  # one stream, one bucket
    assert set(seen) == set(pids)


def test_pid_bucket_is_stable_and_checked() -> None:
    assert pid_bucket("account-7", 16) == pid_bucket("account-7", 16)
    assert [pid_bucket(f"s-{i}", 1) for i in range(5)] == [0] * 5
    # A known value, so a change of the hash (which would scatter existing datasets) fails.
    assert pid_bucket("account-7", 1_000_003) == int.from_bytes(
        __import__("hashlib").blake2b(b"account-7", digest_size=8).digest(), "big") % 1_000_003
    with pytest.raises(ValueError, match="buckets"):
        pid_bucket("x", 0)


def test_rerun_refuses_then_overwrite_replaces_the_whole_dataset(
        wb: Workbench, seed: Seed, tmp_path: Path) -> None:
    seed(streams=3, per_stream=4)
    target = tmp_path / "ds"
    first = wb.export_parquet(target)
    before = {f: f.read_bytes() for f in first}
    with pytest.raises(FileExistsError, match="overwrite=True") as info:
        wb.export_parquet(target)
    assert str(target) in str(info.value)
    assert {f: f.read_bytes() for f in parquet_files(target)} == before  # untouched
    wb.run(wb.journal.append("late", [JournalEntry({"n": 1})], 0))
    second = wb.export_parquet(target, overwrite=True, buckets=2)
    assert parquet_files(target) == second
    assert {f.parent.name for f in second} <= {"pid_bucket=0", "pid_bucket=1"}
    assert read_back(target).num_rows == 13
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]  # no staging left behind


def test_a_failed_overwrite_keeps_the_previous_dataset(
        wb: Workbench, seed: Seed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(streams=3, per_stream=4)
    target = tmp_path / "ds"
    first = wb.export_parquet(target)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(export_module, "_write_bucket", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        wb.export_parquet(target, overwrite=True)
    assert parquet_files(target) == first
    assert read_back(target).num_rows == 12
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_path_that_is_a_file_or_bad_arguments_are_refused_before_writing(
        wb: Workbench, seed: Seed, tmp_path: Path) -> None:
    seed(streams=1, per_stream=1)
    a_file = tmp_path / "file.parquet"
    a_file.write_bytes(b"not a dataset")
    with pytest.raises(FileExistsError, match="not a directory"):
        wb.export_parquet(a_file, overwrite=True)
    assert a_file.read_bytes() == b"not a dataset"
    with pytest.raises(TypeError, match="path"):
        wb.export_parquet(123)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="buckets"):
        wb.export_parquet(tmp_path / "x", buckets=0)
    with pytest.raises(ValueError, match="since"):
        wb.export_parquet(tmp_path / "y", since="not a time")
    with pytest.raises(ValueError, match="persistence"):
        wb.export_parquet(tmp_path / "z", persistence_ids=[""])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.parquet"]


def test_empty_journal_exports_one_empty_file_with_the_columns(
        wb: Workbench, tmp_path: Path) -> None:
    columns = list(wb.journal_frame().columns)
    # No events table at all (a fresh schema), then an existing but empty one.
    for name in ("before", "after"):
        if name == "after":
            wb.run(wb.journal.highest_seq("creates-the-tables"))
        files = wb.export_parquet(tmp_path / name)
        assert len(files) == 1
        table = read_back(tmp_path / name)
        assert table.num_rows == 0
        assert [n for n in table.schema.names if n != "pid_bucket"] == columns


def test_hostile_ids_are_data_never_paths(wb: Workbench, seed: Seed, tmp_path: Path) -> None:
    pids = seed(streams=0, per_stream=3, ids=HOSTILE_IDS)
    target = tmp_path / "out"
    files = wb.export_parquet(target, buckets=8)
    for file in files:
        assert file.resolve().is_relative_to(target.resolve())
        assert file.parent.parent == target and file.parent.name.startswith("pid_bucket=")
    assert {p.name for p in tmp_path.iterdir()} == {"out"}
    assert sorted_rows(read_back(target)) == frame_rows(wb.journal_frame())
    assert sorted(str(p) for p in set(read_back(target).column("persistence_id").to_pylist())
                  ) == sorted(pids)
    # Exporting just the most path-like one works too.
    wb.export_parquet(tmp_path / "one", persistence_ids="../../escape")
    assert read_back(tmp_path / "one").num_rows == 3


def test_export_directories_are_private(wb: Workbench, seed: Seed, tmp_path: Path) -> None:
    seed(streams=2, per_stream=2)
    files = wb.export_parquet(tmp_path / "ds")
    for folder in {tmp_path / "ds", *(f.parent for f in files)}:
        assert os.stat(folder).st_mode & 0o077 == 0, folder
