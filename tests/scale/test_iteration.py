"""Workbench.iter_journal: bounded DataFrames, journal_frame()'s dtypes, constant memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from actorpg_lab.lab import Workbench

from ._memory_probe import run_probe, seed_journal
from .conftest import Seed


def dtypes(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return [(str(c), str(t)) for c, t in frame.dtypes.items()]


def test_batches_concatenate_to_journal_frame(wb: Workbench, seed: Seed) -> None:
    seed(streams=7, per_stream=30)
    frame = wb.journal_frame()
    batches = list(wb.iter_journal(batch_rows=50))
    assert [len(b) for b in batches] == [50] * 4 + [10]
    for batch in batches:
        assert dtypes(batch) == dtypes(frame)
    joined = pd.concat(batches, ignore_index=True)
    for column in ("sequence_nr", "timestamp", "payload"):
        assert joined[column].tolist() == frame[column].tolist()
    assert joined["persistence_id"].astype(str).tolist() == frame["persistence_id"].astype(
        str).tolist()
    assert joined["tags"].map(list).tolist() == frame["tags"].map(list).tolist()


def test_filters_match_journal_frame(wb: Workbench, seed: Seed) -> None:
    pids = seed(streams=4, per_stream=12)
    cases: list[dict[str, Any]] = [
        {"persistence_ids": pids[1:3]}, {"tags": "even"}, {"from_seq": 5, "to_seq": 7},
        {"since": wb.journal_frame()["timestamp"].max()}, {"persistence_ids": "nope"},
    ]
    for case in cases:
        got = [len(b) for b in wb.iter_journal(batch_rows=7, **case)]
        assert sum(got) == len(wb.journal_frame(**case)), case


def test_empty_or_missing_journal_yields_nothing(wb: Workbench) -> None:
    assert list(wb.iter_journal()) == []  # no events table yet
    wb.run(wb.journal.highest_seq("x"))
    assert list(wb.iter_journal()) == []


def test_bad_arguments_fail_before_any_query(wb: Workbench) -> None:
    with pytest.raises(ValueError, match="batch_rows"):
        wb.iter_journal(batch_rows=0)
    with pytest.raises(TypeError, match="batch_rows"):
        wb.iter_journal(batch_rows=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="since"):
        wb.iter_journal(since="yesterday-ish")


def test_abandoned_iterator_releases_its_connection(wb: Workbench, seed: Seed,
                                                    pg_url: str) -> None:
    import psycopg

    seed(streams=3, per_stream=40)
    it = wb.iter_journal(batch_rows=10)
    first = next(it)
    assert len(first) == 10
    assert len(wb.journal_frame()) == 120  # the workbench's own loads are not blocked
    it.close()  # type: ignore[attr-defined]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        busy = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND state = 'active' AND query ILIKE 'COPY%'").fetchone()
    assert busy == (0,)


MEMORY_PROBE = r"""
url, batch_rows = sys.argv[1], int(sys.argv[2])
wb = connect(url, quiet=True)
for warm in wb.iter_journal(batch_rows=batch_rows, to_seq=2):   # imports, connection, caches
    pass
before = status("VmRSS")
reset_peak()
rows, batch_bytes = 0, 0
for batch in wb.iter_journal(batch_rows=batch_rows):
    rows += len(batch)
    batch_bytes = max(batch_bytes, int(batch.memory_usage(deep=True).sum()))
    del batch
peak = status("VmHWM")
wb.close()
print(json.dumps({"rows": rows, "peak_delta": peak - before, "batch_bytes": batch_bytes}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_constant_memory_over_a_million_rows(pg_url: str, tmp_path: Path) -> None:
    """1M events streamed with batch_rows=100k: the peak RSS growth stays below a few
    batches (the whole frame would be 10 batches; measured ~3 batches, mostly a fixed
    ~20 MB of driver buffers and allocator slack)."""
    n, streams, batch_rows = 1_000_000, 100, 100_000
    seed_journal(pg_url, streams=streams, per_stream=n // streams, note="salary")
    probe = run_probe(MEMORY_PROBE, tmp_path, pg_url, str(batch_rows), timeout=600)
    assert probe["rows"] == n
    frame_bytes = probe["batch_bytes"] * (n // batch_rows)
    assert probe["peak_delta"] < 4 * probe["batch_bytes"], (probe, frame_bytes)
    assert probe["peak_delta"] < frame_bytes / 2, (probe, frame_bytes)
