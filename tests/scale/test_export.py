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
from actorpg_lab.lab.frames import memory as memory_module
from actorpg_lab.lab.frames import parquet as export_module
from actorpg_lab.lab.frames.columns import xid8_to_int64
from actorpg_lab.lab.frames.filter import EventFilter
from actorpg_lab.lab.frames.iteration import rebatch
from actorpg_lab.lab.frames.partitions import StreamSize

from ._memory_probe import run_probe, seed_journal
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


def test_row_groups_close_at_the_row_or_byte_limit_without_copying() -> None:
    batch = pa.record_batch({"n": pa.array(range(10), pa.int64())})  # 80 bytes
    by_rows = list(rebatch([batch, batch], 4, 1 << 20))
    assert [sum(b.num_rows for b in g) for g in by_rows] == [4, 4, 4, 4, 4]
    assert pa.Table.from_batches([b for g in by_rows for b in g]).column("n").to_pylist() == [
        *range(10), *range(10)]
    # Slices share the batch's buffers.
    assert by_rows[0][0].column(0).buffers()[1].address == batch.column(0).buffers()[1].address
    # A byte cap closes a group at the batch that reaches it, whatever the row limit.
    by_bytes = list(rebatch([batch, batch, batch], 1000, 100))
    assert [sum(b.num_rows for b in g) for g in by_bytes] == [20, 10]
    assert list(rebatch([], 4, 100)) == []


def test_row_groups_are_byte_bounded_and_compressed(wb: Workbench, seed: Seed,
                                                    tmp_path: Path) -> None:
    seed(streams=3, per_stream=40)
    files = export_module.export_parquet(
        wb.url, wb.tables.events, tmp_path / "ds", EventFilter.parse(),
        row_group_rows=1000, row_group_bytes=1)  # every batch closes a group
    groups = [pq.ParquetFile(f).metadata for f in files]
    assert sum(m.num_rows for m in groups) == 120
    for meta in groups:
        column = meta.row_group(0).column(0)
        assert column.compression == export_module.COMPRESSION.upper()
    with pytest.raises(ValueError, match="row_group_bytes"):
        export_module.export_parquet(wb.url, wb.tables.events, tmp_path / "x",
                                     EventFilter.parse(), row_group_bytes=0)


def test_biggest_buckets_are_written_first() -> None:
    streams = [StreamSize(f"s-{k}", events) for k, events in enumerate([5, 900, 30, 70, 1])]
    plan = export_module._plan(streams, 4)
    sizes = {s.persistence_id: s.events for s in streams}
    totals = [sum(sizes[p] for p in pids) for _, pids in plan]
    assert totals == sorted(totals, reverse=True)
    assert sorted(p for _, pids in plan for p in pids) == sorted(sizes)
    for bucket, pids in plan:
        assert all(pid_bucket(p, 4) == bucket for p in pids)


EXPORT_MEMORY_PROBE = r"""
url = sys.argv[1]
wb = connect(url, quiet=True)
folder = Path(tempfile.mkdtemp(dir=sys.argv[2]))
wb.export_parquet(folder / "warm", persistence_ids=["account-0000"])  # imports, caches
before = status("VmRSS")
reset_peak()
files = wb.export_parquet(folder / "all")
peak = status("VmHWM")
shutil.rmtree(folder)
frame = wb.journal_frame(progress=False)                              # what loading holds
print(json.dumps({"peak_delta": peak - before, "files": len(files), "rows": len(frame),
                  "frame_bytes": int(frame.memory_usage(deep=True).sum())}))
wb.close()
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_export_memory_is_bounded_by_row_groups_not_by_the_journal(
        pg_url: str, tmp_path: Path) -> None:
    """500k events with ~1 kB payloads (a ~600 MB DataFrame): the export's peak RSS
    growth stays a small fraction of it — a few row groups of 4 MiB per worker plus the
    allocators' slack (measured ~60 MiB, the same at 1M, 3M and 6M smaller events)."""
    n, streams = 500_000, 200
    seed_journal(pg_url, streams=streams, per_stream=n // streams, note="x" * 900)
    probe = run_probe(EXPORT_MEMORY_PROBE, tmp_path, pg_url, str(tmp_path), timeout=900)
    assert probe["rows"] == n
    assert probe["files"] == export_module.DEFAULT_BUCKETS
    assert probe["peak_delta"] < probe["frame_bytes"] / 4, probe


def test_memory_budget_releases_only_past_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(memory_module, "release_unused", lambda: calls.append(1))
    roomy = memory_module.MemoryBudget(1 << 40)
    assert roomy.start is not None and roomy.start > 0  # Linux: the resident set is read
    roomy.after_row_group()
    assert calls == [] and roomy.releases == 0
    tight = memory_module.MemoryBudget(-1)
    tight.after_row_group()
    tight.after_row_group()
    assert len(calls) == 2 and tight.releases == 2
    # Where the resident set cannot be read, every row group releases.
    monkeypatch.setattr(memory_module, "_resident_bytes", lambda: None)
    blind = memory_module.MemoryBudget(1 << 40)
    blind.after_row_group()
    assert len(calls) == 3


def test_xid8_binary_converts_to_int64() -> None:
    values = [0, 758, 2**40 + 7, 2**63 - 1]
    raw = pa.array([v.to_bytes(8, "big") for v in values], pa.binary())
    assert xid8_to_int64(raw).to_pylist() == values
    assert xid8_to_int64(raw.slice(1, 2)).to_pylist() == values[1:3]
    assert xid8_to_int64(pa.chunked_array([raw[:1], raw[1:]])).to_pylist() == values
    assert xid8_to_int64(raw.slice(0, 0)).to_pylist() == []
    with pytest.raises(ValueError, match="8 bytes"):
        xid8_to_int64(pa.array([b"\x01\x02"], pa.binary()))
    with pytest.raises(ValueError, match="NULL"):
        xid8_to_int64(pa.array([None, b"\x00" * 8], pa.binary()))
    with pytest.raises(TypeError, match="xid8"):
        xid8_to_int64(pa.array(["12345678"]))


def test_the_workbench_exports_over_its_own_connections(
        wb: Workbench, seed: Seed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Planning and the two workers use the workbench's session (main + helper
    connection): no connection is opened per export."""
    seed(streams=6, per_stream=10)
    expected = frame_rows(wb.journal_frame())

    def no_new_sessions(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("export_parquet opened a session of its own")

    monkeypatch.setattr(export_module, "AdbcSession", no_new_sessions)
    wb.export_parquet(tmp_path / "ds")
    assert sorted_rows(read_back(tmp_path / "ds")) == expected
    # The session stays usable afterwards.
    assert frame_rows(wb.journal_frame()) == expected
