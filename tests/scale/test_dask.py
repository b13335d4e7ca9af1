"""Workbench.journal_dask: partitions loaded by the workers, three schedulers, secrets."""

from __future__ import annotations

import itertools
import os
import pickle
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from psycopg.conninfo import make_conninfo

from actorpg_lab import JournalEntry
from actorpg_lab.lab import Workbench, connect
from actorpg_lab.lab.frames.filter import EventFilter
from actorpg_lab.lab.frames.partitions import StreamSize, key_ranges
from actorpg_lab.lab.frames.to_dask import Conninfo, PartitionSpec, plan

from .conftest import Seed

dd = pytest.importorskip("dask.dataframe")
SECRET = "s3cr3t-Pa55word"


def dtypes(frame: Any) -> list[tuple[str, str]]:
    return [(str(c), str(t)) for c, t in frame.dtypes.items()]


def same_rows(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got.reset_index(drop=True)
    assert got["persistence_id"].astype(str).tolist() == want["persistence_id"].astype(
        str).tolist()
    for column in ("sequence_nr", "timestamp", "payload"):
        assert got[column].tolist() == want[column].tolist(), column
    assert got["tags"].map(list).tolist() == want["tags"].map(list).tolist()


@pytest.fixture
def secret_wb(pg_url: str) -> Iterator[Workbench]:
    """A workbench whose URL carries a password (the test server ignores it: trust
    authentication), to show it never reaches a repr or a log."""
    workbench = connect(make_conninfo(pg_url, password=SECRET), quiet=True)
    try:
        yield workbench
    finally:
        workbench.close()


def test_threaded_scheduler_partitions_dtypes_and_rows(wb: Workbench, seed: Seed) -> None:
    seed(streams=9, per_stream=15)
    frame = wb.journal_frame()
    ddf = wb.journal_dask(npartitions=4)
    assert ddf.npartitions == 4
    assert dtypes(ddf) == dtypes(frame)
    assert dtypes(ddf._meta) == dtypes(frame)
    got = ddf.compute(scheduler="threads")
    assert dtypes(got) == dtypes(frame)
    same_rows(got, frame)
    # Each partition is one key range: its ids are contiguous and disjoint from the others.
    parts = [ddf.get_partition(i).compute(scheduler="sync") for i in range(4)]
    ids = [sorted(set(p["persistence_id"].astype(str))) for p in parts]
    assert all(ids) and sum(len(i) for i in ids) == 9
    assert [max(i) for i in ids[:-1]] < [min(i) for i in ids[1:]]


def test_processes_scheduler(wb: Workbench, seed: Seed) -> None:
    seed(streams=4, per_stream=10)
    got = wb.journal_dask(npartitions=2).compute(scheduler="processes", num_workers=2)
    same_rows(got, wb.journal_frame())


def test_distributed_local_cluster_without_leaking_the_password(secret_wb: Workbench) -> None:
    distributed = pytest.importorskip("distributed")
    wb = secret_wb
    for k in range(5):
        wb.run(wb.journal.append(f"d-{k}", [JournalEntry({"k": k})], 0))
    ddf = wb.journal_dask(npartitions=3)
    graph = ddf.__dask_graph__()
    assert SECRET not in repr(dict(graph)) and SECRET not in str(ddf)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        got = client.compute(ddf).result()
        logs = client.get_worker_logs()
        where = client.run(os.getpid)
    assert len(set(where.values())) == 2  # two worker processes
    same_rows(got.sort_values(["persistence_id", "sequence_nr"]), wb.journal_frame())
    assert SECRET not in repr(logs)


def test_filters_match_journal_frame(wb: Workbench, seed: Seed) -> None:
    pids = seed(streams=6, per_stream=10)
    frame = wb.journal_frame()
    since = frame["timestamp"].sort_values().iloc[20]
    cases: list[dict[str, Any]] = [
        {"persistence_ids": pids[2:4]}, {"since": since}, {"until": since},
        {"persistence_ids": pids[0], "since": since}, {"persistence_ids": ["missing"]},
    ]
    for case in cases:
        got = wb.journal_dask(npartitions=3, **case).compute(scheduler="sync")
        same_rows(got, wb.journal_frame(**case))


def test_empty_journal_is_one_empty_partition(wb: Workbench) -> None:
    frame = wb.journal_frame()
    ddf = wb.journal_dask()
    assert ddf.npartitions == 1
    got = ddf.compute(scheduler="sync")
    assert len(got) == 0 and dtypes(got) == dtypes(frame)


def test_default_partitions_and_bad_arguments(wb: Workbench, seed: Seed) -> None:
    seed(streams=3, per_stream=2)
    assert wb.journal_dask().npartitions == 1  # ~1 per million events
    assert wb.journal_dask(npartitions=50).npartitions == 3  # at most one per stream
    with pytest.raises(ValueError, match="npartitions"):
        wb.journal_dask(npartitions=0)
    with pytest.raises(TypeError, match="npartitions"):
        wb.journal_dask(npartitions=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="since"):
        wb.journal_dask(since="soon")


def test_partition_specs_are_small_picklable_and_redacted(secret_wb: Workbench) -> None:
    specs = plan(secret_wb.url, "events", EventFilter(), 2)
    assert len(specs) == 1  # no stream yet: one open range
    spec = specs[0]
    assert isinstance(spec, PartitionSpec) and spec.range_from is None
    assert SECRET not in repr(spec) and SECRET not in str(spec.conninfo)
    assert "***" in repr(spec.conninfo)
    copy = pickle.loads(pickle.dumps(spec))
    assert copy == spec and copy.conninfo.reveal() == secret_wb.url
    with pytest.raises(TypeError):
        Conninfo("")


def test_key_ranges_balance_events_and_cover_everything() -> None:
    streams = [StreamSize(f"s{i}", n) for i, n in enumerate([10, 10, 10, 10, 100, 10])]
    assert key_ranges(streams, 1) == [(None, None)]
    ranges = key_ranges(streams, 3)
    assert ranges[0][0] is None and ranges[-1][1] is None and len(ranges) == 3
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert key_ranges(streams[:2], 5) == [(None, "s1"), ("s1", None)]
    assert key_ranges([], 4) == [(None, None)]
    with pytest.raises(ValueError, match="positive"):
        key_ranges(streams, 0)
