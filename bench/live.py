"""Live delivery latency: how soon a live ``events_by_tag`` consumer sees an append.

One writer appends one tagged event every 10 ms (its own journal and pool, like an
application process); a live consumer (its own journal, pool and LISTEN connection,
like a projection process) receives them.  Latency is measured from the start of the
``append`` call to the consumer's receipt (one clock: both run in this process).  The
target (issue 14): p99 <= 10 ms with exact, commit-safe delivery, no long transaction
open.  A second row shows the trade-off of the visibility horizon: with a transaction
held open elsewhere in the database for 200 ms at a time, events committed meanwhile
wait for it (delayed, never lost).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

from actorpg_lab import JournalEntry

from ._db import new_schema, schema_url
from ._harness import Comparison, Context, log

__all__ = ["run_live_latency"]

_INTERVAL_S = 0.010
_TARGET_P99_S = 0.010


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _measure(url: str, events: int, hold_open: bool) -> list[float]:
    """Latencies (seconds) of ``events`` appends made every 10 ms."""
    import psycopg

    from actorpg_lab.postgres import PostgresJournal
    from actorpg_lab.query import PersistenceQuery

    writer = PostgresJournal(url=url)
    reader = PostgresJournal(url=url)
    pid = f"live-{uuid.uuid4().hex[:10]}"
    tag = f"tag-{uuid.uuid4().hex[:6]}"
    started: dict[int, float] = {}
    latencies: list[float] = []
    ready = asyncio.Event()
    done = asyncio.Event()

    async def consume() -> None:
        query = PersistenceQuery(reader, poll_interval=1.0)
        async for tagged in query.events_by_tag(tag):
            seq = tagged.event.sequence_nr
            if seq == 1:
                ready.set()
                continue
            latencies.append(time.perf_counter() - started[seq])
            if len(latencies) >= events:
                done.set()
                return

    async def hold_transactions() -> None:
        """A transaction that has written something, open 200 ms at a time."""
        async with await psycopg.AsyncConnection.connect(url) as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS bench_other (n int)")
            await conn.commit()
            while not done.is_set():
                await conn.execute("INSERT INTO bench_other VALUES (1)")
                await asyncio.sleep(0.2)
                await conn.commit()
                await asyncio.sleep(0.05)

    await writer.append(pid, [JournalEntry({"warm": True}, (tag,))], 0)
    consumer = asyncio.create_task(consume())
    holder = asyncio.create_task(hold_transactions()) if hold_open else None
    try:
        await asyncio.wait_for(ready.wait(), 30)
        tick = time.perf_counter()
        for i in range(events):
            seq = i + 2
            started[seq] = time.perf_counter()
            await writer.append(pid, [JournalEntry({"i": i}, (tag,))], seq - 1)
            tick += _INTERVAL_S
            await asyncio.sleep(max(0.0, tick - time.perf_counter()))
        await asyncio.wait_for(done.wait(), 60)
    finally:
        done.set()
        consumer.cancel()
        for task in (consumer, holder):
            if task is not None:
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
        await writer.close()
        await reader.close()
    return latencies


async def run_live_latency(ctx: Context) -> list[Comparison]:
    n = ctx.sizes.live_events
    url = schema_url(ctx.dsn, new_schema(ctx, "live"))
    log(f"live delivery: one writer every 10 ms, {n} events, a live events_by_tag consumer")
    rows: list[Comparison] = []
    for hold_open, label in ((False, "no long transaction"),
                             (True, "a transaction held open 200 ms of every 250 ms")):
        latencies = await _measure(url, n, hold_open)
        p50, p99 = statistics.median(latencies), _percentile(latencies, 0.99)
        ours = f"p50 {p50 * 1e3:.1f} ms / p99 {p99 * 1e3:.1f} ms"
        log(f"live delivery ({label}): {ours}")
        name = f"live events_by_tag latency from append start ({label})"
        if hold_open:  # the documented trade-off: shown, not a target
            rows.append(Comparison(name, ours, "the open transaction's length", "200 ms",
                                   p99 / 0.2, "<=", 1.25,
                                   note="delayed behind the open transaction, never lost"))
        else:
            rows.append(Comparison(name, ours, "issue 14 bound for p99", "10 ms",
                                   p99 / _TARGET_P99_S, "<=", 1.0))
    return rows
