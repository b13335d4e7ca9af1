"""Smoke test of ``python -m bench --scale``: the curves are printed side by side (tiny sizes,
no timing assertions), and the size parser rejects what it cannot use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench._scale import parse_sizes
from tests._pg import PgServer

ROOT = Path(__file__).resolve().parents[2]


def test_scale_mode_prints_every_curve(pg_server: PgServer) -> None:
    env = {**os.environ, "ACTORPG_DSN": pg_server.dsn}
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--scale", "--scale-sizes", "12k,15k", "--quick"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0] == "| measurement | 12k events | 15k events | 15k / 12k |"
    rows = [line for line in lines[2:] if line.startswith("| ")]
    for name in ("÷ bare INSERT", "journal_frame(progress=False)", "raw ADBC read",
                 "streams_frame()", "tag_frame", "recovery of a 2k-event stream"):
        row = next((r for r in rows if name in r), None)
        assert row is not None, (name, result.stdout)
        assert "–" not in row, row  # every size measured
    assert not (ROOT / "bench" / "RESULTS-scale.md").exists() or "12k" not in (
        ROOT / "bench" / "RESULTS-scale.md").read_text(encoding="utf-8")


def test_sizes_parse_and_reject_bad_input() -> None:
    assert parse_sizes("10M,1M,5M") == (1_000_000, 5_000_000, 10_000_000)
    assert parse_sizes("20k, 50000") == (20_000, 50_000)
    with pytest.raises(ValueError, match="'ten'"):
        parse_sizes("ten")
    with pytest.raises(ValueError, match="too small"):
        parse_sizes("5k")
    with pytest.raises(ValueError, match="no sizes"):
        parse_sizes(" , ")
