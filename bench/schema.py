"""Schema-evolution scenarios: what upcasting costs a recovery, and the workbench views.

``event_types`` times ``Workbench.event_types_frame()`` over the frame data set (1M
events in the full run, see :mod:`bench.frames`) against loading the journal and
parsing every payload by hand; target ≥ 200k events/s.  ``compare_replays`` times
``Workbench.compare_replays()`` of 100k events (the first streams of the same data
set) with a simple fold on both sides, against ``replay_state`` of the same streams
with one behaviour; target ≥ 50k events/s per behaviour.

``recovery_upcast`` replays the seeded 100k-event stream of the recovery scenarios
(``bench.Deposited`` rows written at version 1) with :func:`replay_state` through
Postgres journals on the same tables that differ only in their codec:

* the reference is the recovery before the change: v1 code reading the v1 rows;
* ours is the code after the change: the class registered at version 2 (a
  ``currency`` field added) reading the same v1 rows through one upcaster ``v1 -> v2``
  (written as API.md shows it: ``{**value, "currency": "EUR"}``).

The note adds the v2 code reading a stream written at version 2 (no upcasting: what
the same class costs without the upcaster) and a two-step chain (v3: a field renamed).
All fold the same balance, interleaved after a warm-up; the table shows the minimum
of the rounds.  The ratio is of the CPU time of this process, an upper bound of the
wall-time ratio (the database work is identical on both sides) that is not blurred by
other load on a shared machine; the wall times are shown too.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from actorpg_lab import JsonCodec, replay_state

from ._events import Deposited, deposited, fold
from ._harness import Comparison, Context, fmt_rate, fmt_seconds, interleave, log, rate
from .recovery import _COPY, _prepare

__all__ = ["run_compare_replays", "run_event_types", "run_recovery_upcast"]

NAME = "bench.Deposited"


@dataclass(frozen=True)
class DepositedV2:
    account: str
    amount: int
    note: str
    currency: str


@dataclass(frozen=True)
class DepositedV3:
    account: str
    amount: int
    memo: str
    currency: str


def _v1_to_v2(value: dict[str, Any]) -> dict[str, Any]:  # as API.md shows it
    return {**value, "currency": "EUR"}


def _v2_to_v3(value: dict[str, Any]) -> dict[str, Any]:
    return {"account": value["account"], "amount": value["amount"], "memo": value["note"],
            "currency": value["currency"]}


def codecs() -> dict[str, JsonCodec]:
    """The codec per deployed version of ``bench.Deposited`` (rows are version 1)."""
    v1 = JsonCodec()
    v1.register(Deposited, NAME)
    v2 = JsonCodec()
    v2.register(DepositedV2, NAME, version=2)
    v2.upcaster(NAME, 1)(_v1_to_v2)
    v3 = JsonCodec()
    v3.register(DepositedV3, NAME, version=3)
    v3.upcaster(NAME, 1)(_v1_to_v2)
    v3.upcaster(NAME, 2)(_v2_to_v3)
    return {"v1": v1, "v2": v2, "v3": v3}


async def _seed_v2(url: str, pid: str, n: int, codec: JsonCodec) -> None:
    """The same deposits as the recovery stream, written by the v2 code."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(url) as conn:
        async with conn.cursor() as cur, cur.copy(_COPY) as copy:
            for seq in range(1, n + 1):
                d = deposited(seq, pid)
                payload = codec.encode(DepositedV2(d.account, d.amount, d.note, "EUR"))
                await copy.write_row((pid, seq, payload, "", seq))
        await conn.commit()


async def run_recovery_upcast(ctx: Context) -> list[Comparison]:
    from actorpg_lab.postgres import PostgresJournal

    streams = await _prepare(ctx)
    n = streams.n
    by_version = codecs()
    v2_pid = "account-v2"
    await _seed_v2(streams.url, v2_pid, n, by_version["v2"])
    cases = {  # name -> (codec, stream)
        "v1 code, v1 rows": ("v1", streams.plain),
        "v2 code, v1 rows (1 upcast)": ("v2", streams.plain),
        "v2 code, v2 rows": ("v2", v2_pid),
        "v3 code, v1 rows (2 upcasts)": ("v3", streams.plain),
    }
    journals = {name: PostgresJournal(url=streams.url, codec=codec)
                for name, codec in by_version.items()}
    cpu: dict[str, float] = {}
    try:
        def replay(name: str) -> Callable[[], Awaitable[float]]:
            version, pid = cases[name]

            async def step() -> float:
                started, cpu_started = time.perf_counter(), time.process_time()
                result = await replay_state(journals[version], None, pid, 0, fold)
                elapsed = time.perf_counter() - started
                used = time.process_time() - cpu_started
                cpu[name] = min(cpu.get(name, used), used)
                if result.state != streams.expected_balance or result.events_applied != n:
                    raise AssertionError(f"{name}: replay gave {result!r}")
                return elapsed
            return step

        log(f"recovery of {n} events through upcasters vs read as stored")
        # The minimum of several interleaved rounds: this compares CPU work in our
        # process on a shared machine, where medians of wall time still carry noise.
        times = await interleave_min({name: replay(name) for name in cases},
                                     max(3, ctx.sizes.repeats * 2))
    finally:
        for journal in journals.values():
            await journal.close()
    base_name, one_name = "v1 code, v1 rows", "v2 code, v1 rows (1 upcast)"
    base = times[base_name]
    one = times[one_name]
    # The ratio is of the CPU time of our process: the database does the same work on
    # both sides, so (cpu1 + db) / (cpu0 + db) <= cpu1 / cpu0 -- an upper bound of the
    # wall-time ratio that the other agents on this machine do not blur.
    ratio = cpu[one_name] / cpu[base_name]
    return [
        Comparison(f"recovery of {n // 1000}k v1 events upcast one step (replay_state)",
                   f"{fmt_seconds(one)} wall, {fmt_seconds(cpu[one_name])} CPU",
                   "the same replay before the change (v1 code, v1 rows)",
                   f"{fmt_seconds(base)} wall, {fmt_seconds(cpu[base_name])} CPU",
                   ratio, "<=", 1.2,
                   note=(f"ratio of CPU times; wall {one / base:.2f}x; v2 rows read by "
                         f"v2 code {cpu[one_name] / cpu['v2 code, v2 rows']:.2f}x of its CPU; "
                         f"two upcasts {cpu['v3 code, v1 rows (2 upcasts)'] / cpu[base_name]:.2f}x")),
    ]


async def interleave_min(cases: dict[str, Callable[[], Awaitable[float]]],
                         rounds: int) -> dict[str, float]:
    """Like :func:`interleave` but the minimum per case (after one warm-up each)."""
    best: dict[str, float] = {}
    names = list(cases)
    for name in names:
        await cases[name]()
    for round_no in range(rounds):
        for name in names if round_no % 2 == 0 else names[::-1]:
            value = await cases[name]()
            best[name] = min(best.get(name, value), value)
    return best


# -- workbench: event_types_frame and compare_replays over the frame data set ---------------
def event_types_by_hand(data: Any) -> Any:
    """What a user would write: every payload loaded, parsed, and grouped by type,
    version and field names (no decode check)."""
    import orjson
    import pandas as pd

    frame = data.wb.journal_frame(progress=False)
    keys = []
    for payload in frame["payload"]:
        value = orjson.loads(payload)
        inner = value.get("$value", value) if type(value) is dict else None
        keys.append((value.get("$type") if type(value) is dict else None,
                     value.get("$version", 1) if type(value) is dict else None,
                     tuple(sorted(inner)) if type(inner) is dict else ()))
    grouped = pd.DataFrame(keys, columns=["event_type", "version", "fields"])
    grouped["persistence_id"] = frame["persistence_id"].to_numpy()
    return grouped.groupby(["event_type", "version", "fields"]).agg(
        events=("persistence_id", "size"), streams=("persistence_id", "nunique"))


async def run_event_types(ctx: Context) -> list[Comparison]:
    from .frames import _count
    from .frames import _prepare as prepare_frames

    data = await prepare_frames(ctx)
    n = data.n
    log(f"event_types_frame() over {n} events vs journal_frame + parsing by hand")

    async def ours() -> float:
        started = time.perf_counter()
        frame = data.wb.event_types_frame()
        elapsed = time.perf_counter() - started
        if frame["events"].sum() != n or frame["undecodable"].sum() != 0:
            raise AssertionError(f"unexpected event_types_frame: {frame!r}")
        return rate(n, elapsed)

    async def by_hand() -> float:
        started = time.perf_counter()
        grouped = event_types_by_hand(data)
        elapsed = time.perf_counter() - started
        if int(grouped["events"].sum()) != n:
            raise AssertionError("by-hand grouping lost events")
        return rate(n, elapsed)

    rates = await interleave({"ours": ours, "hand": by_hand}, ctx.sizes.frame_repeats)
    floor = 200_000 if not ctx.quick else 0
    return [
        Comparison(f"event_types_frame() of {_count(n)} events (SQL over the JSON text)",
                   fmt_rate(rates["ours"], "events/s"),
                   "journal_frame + orjson per payload + pandas groupby",
                   fmt_rate(rates["hand"], "events/s"), rates["ours"] / rates["hand"],
                   ">=", 1.0, extra_check=(f"≥ {floor // 1000}k events/s",
                                           rates["ours"] >= floor)),
    ]


async def run_compare_replays(ctx: Context) -> list[Comparison]:
    from .frames import _prepare as prepare_frames

    data = await prepare_frames(ctx)
    per_stream = data.n // ctx.sizes.frame_streams
    streams = max(1, min(ctx.sizes.frame_streams, 100_000 // max(per_stream, 1)))
    ids = [f"account-{k:05d}" for k in range(streams)]
    n = streams * per_stream
    log(f"compare_replays() of {streams} streams ({n} events) vs replay_state per stream")
    wb = data.wb

    async def ours() -> float:
        started = time.perf_counter()
        frame = wb.compare_replays((fold, 0), (fold, 0), persistence_ids=ids)
        elapsed = time.perf_counter() - started
        if len(frame) != streams or frame["events"].sum() != n or frame["diverged_at"].notna().any():
            raise AssertionError(f"unexpected compare_replays: {frame!r}")
        return rate(n, elapsed)

    async def plain() -> float:
        async def replay_all() -> int:
            total = 0
            for pid in ids:
                result = await replay_state(wb.journal, None, pid, 0, fold)
                total += result.events_applied
            return total

        started = time.perf_counter()
        total = wb.run(replay_all())
        elapsed = time.perf_counter() - started
        if total != n:
            raise AssertionError(f"replay_state folded {total} events, expected {n}")
        return rate(n, elapsed)

    rates = await interleave({"ours": ours, "plain": plain}, ctx.sizes.frame_repeats)
    floor = 50_000 if not ctx.quick else 0
    return [
        Comparison(f"compare_replays() of {n // 1000}k events, 2 behaviours (events/s each)",
                   fmt_rate(rates["ours"], "events/s"),
                   "replay_state of the same streams, 1 behaviour",
                   fmt_rate(rates["plain"], "events/s"), rates["ours"] / rates["plain"],
                   ">=", 0.5, extra_check=(f"≥ {floor // 1000}k events/s per behaviour",
                                           rates["ours"] >= floor),
                   note="two folds per event against one"),
    ]
