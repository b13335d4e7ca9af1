"""Workbench.iter_journal: bounded DataFrames, journal_frame()'s dtypes, constant memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from actorpg_lab.lab import Workbench

from .conftest import Seed

ROOT = Path(__file__).resolve().parents[2]


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
import json, sys
from pathlib import Path
from actorpg_lab.lab import connect

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise SystemExit("no " + field)

url, batch_rows = sys.argv[1], int(sys.argv[2])
wb = connect(url, quiet=True)
for warm in wb.iter_journal(batch_rows=batch_rows, to_seq=2):   # imports, connection, caches
    pass
before = status("VmRSS")
Path("/proc/self/clear_refs").write_text("5")                   # VmHWM := VmRSS
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
    import psycopg

    from actorpg_lab.postgres import PostgresJournal

    n, streams, batch_rows = 1_000_000, 100, 100_000
    journal = PostgresJournal(url=pg_url)
    import asyncio

    async def create() -> None:
        await journal.highest_seq("x")
        await journal.close()

    asyncio.run(create())
    per = n // streams
    payload = '{"$type":"bench.Deposited","$value":{"account":"%s","amount":%d,"note":"salary"}}'
    with psycopg.connect(pg_url) as conn, conn.cursor() as cur:
        with cur.copy("COPY events (persistence_id, sequence_nr, payload, tags, timestamp) "
                      "FROM STDIN") as copy:
            for k in range(streams):
                pid = f"account-{k:04d}"
                copy.write("".join(f"{pid}\t{s}\t{payload % (pid, s % 1000)}\ttag-{s % 3}\t"
                                   f"{1_700_000_000_000 + s}\n" for s in range(1, per + 1)))
        conn.commit()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    script = tmp_path / "probe.py"
    script.write_text(MEMORY_PROBE, encoding="utf-8")
    result = subprocess.run([sys.executable, str(script), pg_url, str(batch_rows)],
                            capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["rows"] == n
    frame_bytes = probe["batch_bytes"] * (n // batch_rows)
    assert probe["peak_delta"] < 4 * probe["batch_bytes"], (probe, frame_bytes)
    assert probe["peak_delta"] < frame_bytes / 2, (probe, frame_bytes)
