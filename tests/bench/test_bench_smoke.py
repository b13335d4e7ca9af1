"""Smoke test of the benchmark suite: ``python -m bench --quick`` runs end to end against
the test server and prints the results table (no timing assertions: sizes are tiny)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests._pg import PgServer

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_runs_and_prints_the_table(pg_server: PgServer) -> None:
    env = {**os.environ, "ACTORPG_DSN": pg_server.dsn}
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0] == "| scenario | ours | reference | reference value | ratio | target | result |"
    rows = [line for line in lines[2:] if line.startswith("| ")]
    for scenario in ("one writer", "actors on one pool", "persist_all",
                     "recovery of a", "snapshot every", "upcast one step", "journal_frame of",
                     "payload expanded", "tag_frame", "peak memory", "check_streams()",
                     "event_types_frame()", "compare_replays()"):
        assert any(scenario in row for row in rows), (scenario, result.stdout)
    assert not any("not measurable" in row for row in rows), result.stdout
    # Every row carries a ratio and a verdict.
    assert all(row.rstrip().endswith("|") and ("met" in row or "missed" in row) for row in rows)


def test_only_runs_one_scenario(pg_server: PgServer) -> None:
    env = {**os.environ, "ACTORPG_DSN": pg_server.dsn}
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "batches"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines()[2:] if line.startswith("| ")]
    assert rows and all("persist_all" in row for row in rows)
