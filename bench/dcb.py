"""DCB scenarios: what the boundary locks cost plain appends (the gate of issue 22).

Every append takes ``pg_advisory_xact_lock_shared`` for each tag and event type it
writes (``actorpg_lab/postgres/_boundary.py``).  ``boundary_locks`` measures that cost
as an A/B in one run on the three write rows ("append 1 event/call", "16 actors",
"persist_all"): the same workload with the locks on and off
(:func:`~actorpg_lab.postgres._boundary.set_locks_enabled`, a benchmark-only switch: off,
the statements get NULL keys and take no lock), in paired rounds whose order alternates;
the row shows the median of the per-round ratios (this machine is shared: a ratio of
two runs seconds apart moves much less than either rate).
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable

from ._harness import Comparison, Context, fmt_rate, log
from .writes import _Writers

__all__ = ["paired_ratios", "run_boundary_locks"]


async def paired_ratios(on: Callable[[], Awaitable[float]], off: Callable[[], Awaitable[float]],
                        rounds: int) -> tuple[float, float, float]:
    """``(median on, median off, median of on/off per round)`` over ``rounds`` pairs."""
    from actorpg_lab.postgres import _boundary

    async def run(enabled: bool) -> float:
        _boundary.set_locks_enabled(enabled)
        try:
            return await (on() if enabled else off())
        finally:
            _boundary.set_locks_enabled(True)

    await run(True)
    await run(False)  # warm-up
    ons: list[float] = []
    offs: list[float] = []
    ratios: list[float] = []
    for r in range(rounds):
        if r % 2 == 0:
            a = await run(True)
            b = await run(False)
        else:
            b = await run(False)
            a = await run(True)
        ons.append(a)
        offs.append(b)
        ratios.append(a / b)
    return statistics.median(ons), statistics.median(offs), statistics.median(ratios)


async def run_boundary_locks(ctx: Context) -> list[Comparison]:
    s = ctx.sizes
    rounds = max(3, 3 * s.repeats)
    rows: list[Comparison] = []
    async with _Writers(ctx) as w:
        cases: list[tuple[str, Callable[[], Awaitable[float]]]] = [
            ("append 1 event/call, one writer (journal.append)",
             lambda: w.ours_single(s.append_calls // 2)),
            (f"append 1 event/command, {s.concurrent_actors} actors on one pool",
             lambda: w.ours_actors(s.concurrent_actors, s.concurrent_calls // 2)),
            (f"persist_all of {s.batch_size}-event batches (1 actor)",
             lambda: w.ours_persist_all(max(1, s.batches // 2), s.batch_size)),
        ]
        for name, step in cases:
            log(f"boundary locks A/B: {name} ({rounds} paired rounds)")
            on, off, ratio = await paired_ratios(step, step, rounds)
            ctx.extra[f"locks:{name}"] = ratio
            rows.append(Comparison(
                f"{name}, with boundary locks", fmt_rate(on),
                "the same without boundary locks (same run, paired rounds)", fmt_rate(off),
                ratio, ">=", 0.97,
                note=f"median of {rounds} per-round ratios"))
    return rows
