"""Smoke test of ``python -m bench --scale``: the curves are printed side by side (tiny sizes,
no timing assertions), and the size parser rejects what it cannot use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench._scale import paired_ratios, paired_rounds, parse_sizes
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
    for name in ("÷ bare INSERT", "quartiles of the paired append ratios",
                 "journal_frame(progress=False)", "raw ADBC read",
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


def test_ratios_are_taken_per_round_and_rounds_alternate_the_order() -> None:
    import asyncio

    # A machine that slows down 10x half way: per-round ratios stay 0.5, while the
    # ratio of the two medians would depend on how the slow rounds fall.
    ours = [50.0, 50.0, 5.0, 5.0, 5.0]
    reference = [100.0, 100.0, 10.0, 10.0, 10.0]
    assert paired_ratios(ours, reference) == (0.5, (0.5, 0.5))
    ratio, (low, high) = paired_ratios([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0])
    assert ratio == 2.5 and low < ratio < high
    assert paired_ratios([], []) == (0.0, (0.0, 0.0))

    calls: list[str] = []

    def step(name: str) -> Any:
        async def run() -> float:
            calls.append(name)
            return 1.0
        return run

    values = asyncio.run(paired_rounds(step("a"), step("b"), 3))
    assert values == ([1.0] * 3, [1.0] * 3)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up, then alternating
