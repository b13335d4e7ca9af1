"""Timing, sizes, the benchmark context and the results table.

Every scenario returns :class:`Comparison` rows: one per target of the issue, each
pairing OUR measurement with a reference measured in the same run (interleaved:
repeat *i* of ours runs right next to repeat *i* of the reference, so machine noise
hits both alike).  The reported figure is the median over the repeats.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Comparison",
    "Context",
    "Sizes",
    "interleave",
    "log",
    "render_table",
]


@dataclass(frozen=True)
class Sizes:
    """Workload sizes; ``quick`` is for the smoke test, ``full`` for the real table."""

    append_calls: int  # events per repeat, 1 per call, single writer
    es_single_saves: int  # eventsourcing 1-event saves per repeat
    concurrent_actors: int
    concurrent_calls: int  # appends per actor per repeat
    batch_size: int
    batches: int  # 100-event batches per repeat
    es_batches: int  # eventsourcing 100-event saves per repeat
    recovery_events: int
    snapshot_every: int
    es_recovery_events: int
    frame_events: int
    frame_streams: int
    frame_tags: int
    repeats: int
    frame_repeats: int
    live_events: int = 1000  # appends (one per 10 ms) in the live-latency scenario
    #: Smaller frame data sets measured next to ``frame_events`` (the sizes notebooks
    #: load most), each with its own number of interleaved rounds (small loads are noisy).
    frame_small: tuple[tuple[int, int], ...] = ((30_000, 15), (300_000, 5))

    @classmethod
    def full(cls) -> Sizes:
        return cls(
            append_calls=2000, es_single_saves=600, concurrent_actors=16, concurrent_calls=250,
            batch_size=100, batches=100, es_batches=20, recovery_events=100_000,
            snapshot_every=1000, es_recovery_events=100_000, frame_events=1_000_000,
            frame_streams=1000, frame_tags=10, repeats=3, frame_repeats=2,
        )

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            append_calls=30, es_single_saves=10, concurrent_actors=4, concurrent_calls=5,
            batch_size=100, batches=3, es_batches=2, recovery_events=2000,
            snapshot_every=100, es_recovery_events=500, frame_events=5000,
            frame_streams=50, frame_tags=10, repeats=1, frame_repeats=1, live_events=30,
            frame_small=((1000, 1), (2000, 1)),
        )


@dataclass
class Context:
    """What every scenario gets: where the database is and how big to go."""

    dsn: str  # the server (no search_path)
    sizes: Sizes
    quick: bool
    schemas: list[str] = field(default_factory=list)  # created by the run; dropped at the end
    extra: dict[str, Any] = field(default_factory=dict)
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


@dataclass(frozen=True)
class Comparison:
    """One row of the table: ours vs one reference, and the target for their ratio.

    ``ratio`` is ``ours / reference`` for rates (higher is better, ``op=">="``) and
    for times or memory the same quotient with ``op="<="`` (lower is better).
    ``ratio`` is ``None`` when the scenario could not be measured (``note`` says why).
    """

    scenario: str
    ours: str
    reference: str
    reference_value: str
    ratio: float | None
    op: str
    target: float
    extra_check: tuple[str, bool] | None = None  # e.g. ("≥ 300k rows/s", True)
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.ratio is None:
            return None
        ok = self.ratio >= self.target if self.op == ">=" else self.ratio <= self.target
        if self.extra_check is not None:
            ok = ok and self.extra_check[1]
        return ok

    @property
    def target_text(self) -> str:
        target = _fmt_ratio(self.target)
        text = f"{'≥' if self.op == '>=' else '≤'} {target}×"
        if self.extra_check is not None:
            text += f" and {self.extra_check[0]}"
        return text


def log(message: str) -> None:
    """Progress goes to stderr so stdout carries only the table."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


Step = Callable[[], Awaitable[float]]


async def interleave(cases: dict[str, Step], repeats: int, *, warmup: bool = True) -> dict[str, float]:
    """Run each case ``repeats`` times, alternating cases within each round.

    Each step returns one measurement (a rate or a duration); the median per case is
    returned.  With ``warmup`` every case runs once first and that value is dropped.
    The order of cases is reversed on odd rounds so neither side always goes first.
    """
    values: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    if warmup:
        for name in names:
            await cases[name]()
    for round_no in range(repeats):
        order = names if round_no % 2 == 0 else names[::-1]
        for name in order:
            values[name].append(await cases[name]())
    return {name: statistics.median(v) for name, v in values.items()}


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def fmt_rate(value: float, unit: str = "ev/s") -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M {unit}"
    if value >= 1e4:
        return f"{value / 1e3:.0f}k {unit}"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k {unit}"
    return f"{value:.0f} {unit}"


def fmt_seconds(value: float) -> str:
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value * 1e3:.1f} ms"


def _fmt_ratio(value: float) -> str:
    if value == 0:
        return "0"
    if value < 0.1:
        inverse = 1 / value
        if abs(inverse - round(inverse)) < 1e-6:
            return f"1/{round(inverse)}"
        return f"{value:.3f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.1f}"


def render_table(rows: Sequence[Comparison]) -> str:
    """The results as one markdown table."""
    header = "| scenario | ours | reference | reference value | ratio | target | result |"
    lines = [header, "|---|---:|---|---:|---:|---|---|"]
    for row in rows:
        if row.ratio is None:
            ratio, result = "–", "not measurable"
        else:
            ratio = f"{row.ratio:.3f}×" if row.ratio < 0.1 else f"{row.ratio:.2f}×"
            result = "met" if row.met else "**missed**"
        if row.note:
            result += f" ({row.note})"
        lines.append(
            f"| {row.scenario} | {row.ours} | {row.reference} | {row.reference_value} | "
            f"{ratio} | {row.target_text} | {result} |"
        )
    return "\n".join(lines)
