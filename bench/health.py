"""Stream health: ``Workbench.check_streams()`` (structure checks in SQL) over the frame
data set (``frame_events`` events, 1M in the full run; see :mod:`bench.frames`).

Reference: the same checks by hand — ``journal_frame()``, a pandas check that each
stream's sequence numbers run 1, 2, 3, ... (``groupby().diff()``) and every payload
decoded with the codec to find the undecodable ones (still without the compaction
mark and snapshot checks).  Target: at least as fast as that, and ≥ 500k events/s.
"""

from __future__ import annotations

import time
from typing import Any

from ._harness import Comparison, Context, fmt_rate, interleave, log, rate
from .frames import FrameData, _count, _prepare

__all__ = ["run_check_streams"]


def problems_by_hand(data: FrameData) -> Any:
    """Load every event, flag the streams whose sequence numbers skip and the payloads
    that do not decode."""
    from actorpg_lab import default_codec

    frame = data.wb.journal_frame(progress=False)
    seq = frame["sequence_nr"]
    step = seq.groupby(frame["persistence_id"], observed=True).diff().fillna(seq)
    broken = set(frame.loc[step != 1, "persistence_id"].unique())
    decode = default_codec.decode
    for pid, payload in zip(frame["persistence_id"], frame["payload"], strict=True):
        try:
            decode(payload)
        except ValueError:
            broken.add(pid)
    return broken


async def run_check_streams(ctx: Context) -> list[Comparison]:
    data = await _prepare(ctx)
    n = data.n
    streams = ctx.sizes.frame_streams
    log(f"check_streams() over {n} events / {streams} streams vs journal_frame + checks by hand")

    async def ours() -> float:
        started = time.perf_counter()
        frame = data.wb.check_streams()
        elapsed = time.perf_counter() - started
        if len(frame) != streams or not frame["ok"].all():
            raise AssertionError(f"expected {streams} healthy streams, got {frame!r}")
        return rate(n, elapsed)

    async def by_hand() -> float:
        started = time.perf_counter()
        broken = problems_by_hand(data)
        elapsed = time.perf_counter() - started
        if len(broken):
            raise AssertionError(f"the data set has no gaps, found {broken!r}")
        return rate(n, elapsed)

    rates = await interleave({"ours": ours, "hand": by_hand}, ctx.sizes.frame_repeats)
    floor = 500_000 if not ctx.quick else 0
    return [
        Comparison(f"check_streams() of {_count(n)} events (structure, SQL)",
                   fmt_rate(rates["ours"], "events/s"),
                   "journal_frame + pandas gaps + decoding by hand",
                   fmt_rate(rates["hand"], "events/s"), rates["ours"] / rates["hand"],
                   ">=", 1.0, extra_check=(f"≥ {floor // 1000}k events/s",
                                           rates["ours"] >= floor)),
    ]
