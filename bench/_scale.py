"""``python -m bench --scale``: how the costs grow with the journal (1M, 5M, 10M events).

One journal is grown in place with ``COPY`` (events and their tag rows straight into the
documented tables, ``VACUUM ANALYZE`` after each step) over 1,000 streams plus one long
stream, and at each size the same measurements run, so the curves sit side by side:

* **append / bare INSERT**: ``PostgresJournal.append`` of 1 event per call (default pool)
  vs a bare single-row ``INSERT`` per commit into the **same** table, both appending to
  existing streams in rotation (every call touches another part of the primary key, as
  a fleet of actors does): 20 rounds of 200 calls per side, the two sides of a round
  back to back (order alternating), and the ratio is the median of the per-round ratios
  (with its quartiles), so a load change on the shared machine hits both sides of a
  round instead of skewing one median;
* **journal_frame** rows/s (``progress=False``) and, as the reference the loader cannot
  beat, the raw ADBC read rate of the same SELECT (record batches streamed and dropped),
  paired the same way (3 rounds);
* **streams_frame** (the 1,001-stream overview) time;
* **tag_frame** of one tag of ten, rows/s;
* **recovery** of the long stream (a ``PersistentActor`` spawned on it; ``replay_state``
  inside), events/s;
* **decision latency** (DCB, D9): ``read_matching`` of an empty boundary for a token,
  then a conditional append whose condition covers one tag of ten (a tenth of the
  journal) and the event type every event has (all of it): the check reads only what
  committed after the token, so its cost must not follow the journal's size.

A flat curve is the goal: the last column divides the largest size's figure by the
smallest's (1.00 = flat).  The footer gives the load average at the start and the
end.  ``--scale-sizes 20k,50k`` develops with small sizes; a full run (default sizes)
writes ``bench/RESULTS-scale.md``.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actorpg_lab import JournalEntry, default_codec

from ._db import adbc_uri, new_schema, schema_url
from ._events import deposited, fold
from ._harness import Context, fmt_rate, fmt_seconds, interleave, log, rate

__all__ = ["FULL_SIZES", "QUICK_SIZES", "parse_sizes", "run_scale"]

FULL_SIZES = (1_000_000, 5_000_000, 10_000_000)
QUICK_SIZES = (20_000, 50_000)
RESULTS = Path(__file__).resolve().parent / "RESULTS-scale.md"

STREAMS = 1000
TAGS = 10
PAYLOAD = (
    '{{"$type":"bench.Deposited","$value":{{"account":"{pid}","amount":{amount},'
    '"note":"monthly salary"}}}}'
)
JOURNAL_SQL = ("SELECT persistence_id, sequence_nr, payload, tags, timestamp FROM events "
               "ORDER BY persistence_id, sequence_nr")


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"1M,5M,10M"`` or ``"20k,50000"`` -> ascending event counts."""
    sizes = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        factor = 1
        if part[-1] in "km":
            factor = 1000 if part[-1] == "k" else 1_000_000
            part = part[:-1]
        try:
            value = int(float(part) * factor)
        except ValueError:
            raise ValueError(f"not a size: {part!r} (use e.g. 1M,5M,10M or 20k,50k)") from None
        if value < 10 * STREAMS:
            raise ValueError(f"size {value} is too small: at least {10 * STREAMS} events")
        sizes.append(value)
    if not sizes:
        raise ValueError("no sizes given")
    return tuple(sorted(set(sizes)))


@dataclass
class Point:
    """The measurements at one journal size."""

    events: int
    append_ours: float = 0.0
    append_bare: float = 0.0
    #: Median and quartiles of the per-round ratios append ÷ bare INSERT.
    append_ratio: float = 0.0
    append_spread: tuple[float, float] = (0.0, 0.0)
    frame_rate: float = 0.0
    adbc_rate: float = 0.0
    #: Median of the per-round ratios journal_frame ÷ raw ADBC read.
    frame_ratio: float = 0.0
    streams_seconds: float = 0.0
    streams_stats_seconds: float | None = None
    tag_rate: float = 0.0
    recovery_rate: float = 0.0
    #: Seconds per decision (read_matching + conditional append), median of rounds.
    decision_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


class ScaleJournal:
    """One journal grown in place; remembers every stream's head."""

    def __init__(self, ctx: Context, long_events: int, calls: int) -> None:
        self.ctx = ctx
        self.schema = new_schema(ctx, "scale")
        self.url = schema_url(ctx.dsn, self.schema)
        self.adbc_uri = adbc_uri(ctx.dsn, self.schema)
        self.long_pid = "long-stream"
        self.long_events = long_events
        self.calls = calls
        self.pids = [f"account-{k:05d}" for k in range(STREAMS)]
        self.heads = dict.fromkeys(self.pids, 0)
        self.seeded = 0  # events written by COPY (tagged; the long stream is not)
        self.appended = 0  # events written by the append measurements (untagged)
        self.tag3 = 0
        #: The head of the decision point's one stream (``decider``).
        self.decider_head = 0
        self.next_i = 0
        self.base_ms = int(time.time() * 1000) - 20_000_000
        self.cursor = 0
        self.balance = 0

    @property
    def total(self) -> int:
        return self.seeded + self.long_events + self.appended

    async def create(self) -> None:
        import psycopg

        from actorpg_lab.postgres import PostgresJournal, PostgresSnapshotStore

        journal = PostgresJournal(url=self.url)
        snapshots = PostgresSnapshotStore(url=self.url)
        await journal.highest_seq("x")  # creates the documented tables
        await snapshots.load_latest("x")
        await journal.close()
        await snapshots.close()

        log(f"seeding the long stream ({self.long_events} events)")
        with psycopg.connect(self.url) as conn, conn.cursor() as cur:
            with cur.copy("COPY events (persistence_id, sequence_nr, payload, tags, timestamp) "
                          "FROM STDIN") as copy:
                lines = []
                for seq in range(1, self.long_events + 1):
                    event = deposited(seq, self.long_pid)
                    self.balance = fold(self.balance, event)
                    lines.append(f"{self.long_pid}\t{seq}\t{default_codec.encode(event)}\t\t"
                                 f"{self.base_ms + seq}\n")
                copy.write("".join(lines))

    def grow_to(self, size: int) -> None:
        """COPY events (one tag each, tag rows too) until the journal holds ``size``."""
        import psycopg

        want = size - self.total
        if want <= 0:
            return
        per_stream, extra = divmod(want, STREAMS)
        log(f"growing the journal by {want} events to {size} with COPY")
        started = time.perf_counter()
        with psycopg.connect(self.url) as conn, conn.cursor() as cur:
            rows: list[tuple[str, int, int]] = []
            for k, pid in enumerate(self.pids):
                add = per_stream + (1 if k < extra else 0)
                head = self.heads[pid]
                for seq in range(head + 1, head + add + 1):
                    rows.append((pid, seq, self.next_i))
                    self.next_i += 1
                self.heads[pid] = head + add
            chunk = 200_000
            with cur.copy("COPY events (persistence_id, sequence_nr, payload, tags, timestamp) "
                          "FROM STDIN") as events:
                for start in range(0, len(rows), chunk):
                    events.write("".join(
                        f"{pid}\t{seq}\t{PAYLOAD.format(pid=pid, amount=i % 1000 + 1)}\t"
                        f"tag-{i % TAGS}\t{self.base_ms + self.long_events + i}\n"
                        for pid, seq, i in rows[start:start + chunk]))
            with cur.copy("COPY events_tags (persistence_id, sequence_nr, tag, timestamp) "
                          "FROM STDIN") as tags:
                for start in range(0, len(rows), chunk):
                    tags.write("".join(
                        f"{pid}\t{seq}\ttag-{i % TAGS}\t{self.base_ms + self.long_events + i}\n"
                        for pid, seq, i in rows[start:start + chunk]))
            self.tag3 += sum(1 for _, _, i in rows if i % TAGS == 3)
            self.seeded += len(rows)
            del rows
            conn.commit()
            conn.autocommit = True
            cur.execute("VACUUM ANALYZE events")
            cur.execute("VACUUM ANALYZE events_tags")
        log(f"grown in {time.perf_counter() - started:.1f}s")


async def _append_point(data: ScaleJournal, point: Point, rounds: int) -> None:
    """Append vs bare INSERT: ``rounds`` short rounds of ``data.calls`` calls per side,
    paired (see :func:`paired_ratios`)."""
    import psycopg

    from actorpg_lab.postgres import PostgresJournal

    journal = PostgresJournal(url=data.url)
    bare = await psycopg.AsyncConnection.connect(data.url, autocommit=True)
    payload = default_codec.encode(deposited(1))
    entry = [JournalEntry(deposited(1))]
    insert = ("INSERT INTO events (persistence_id, sequence_nr, payload, tags, timestamp) "
              "VALUES (%s, %s, %s, %s, %s)")
    ours_pids = data.pids[0::2]
    bare_pids = data.pids[1::2]
    counters = {"ours": 0, "bare": 0}

    def next_pid(kind: str, pids: Sequence[str]) -> str:
        # A stride co-prime with the pool size: consecutive calls hit distant streams.
        counters[kind] += 1
        return pids[(counters[kind] * 97) % len(pids)]

    async def ours() -> float:
        started = time.perf_counter()
        for _ in range(data.calls):
            pid = next_pid("ours", ours_pids)
            await journal.append(pid, entry, data.heads[pid])
            data.heads[pid] += 1
        return rate(data.calls, time.perf_counter() - started)

    async def bare_insert() -> float:
        ts = int(time.time() * 1000)
        started = time.perf_counter()
        for _ in range(data.calls):
            pid = next_pid("bare", bare_pids)
            data.heads[pid] += 1
            await bare.execute(insert, (pid, data.heads[pid], payload, "", ts))
        return rate(data.calls, time.perf_counter() - started)

    try:
        await journal.highest_seq(ours_pids[0])
        ours_rates, bare_rates = await paired_rounds(ours, bare_insert, rounds)
    finally:
        await journal.close()
        await bare.close()
    data.appended += data.calls * 2 * (rounds + 1)
    point.append_ours = statistics.median(ours_rates)
    point.append_bare = statistics.median(bare_rates)
    point.append_ratio, point.append_spread = paired_ratios(ours_rates, bare_rates)


def paired_ratios(ours: Sequence[float], reference: Sequence[float]
                  ) -> tuple[float, tuple[float, float]]:
    """The median and the quartiles of the per-round ratios ``ours[i] / reference[i]``.

    Why per round: the two sides of a round run back to back, so a load change on the
    shared machine hits both; the ratio of two medians taken over many minutes does not
    cancel it (the last scale run's append ratio swung 0.75×-1.43× that way)."""
    ratios = sorted(o / r for o, r in zip(ours, reference, strict=True) if r > 0)
    if not ratios:
        return 0.0, (0.0, 0.0)
    if len(ratios) < 4:
        return statistics.median(ratios), (ratios[0], ratios[-1])
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    return statistics.median(ratios), (q1, q3)


async def paired_rounds(ours: Callable[[], Awaitable[float]],
                        reference: Callable[[], Awaitable[float]], rounds: int
                        ) -> tuple[list[float], list[float]]:
    """``rounds`` rounds of one ``ours`` and one ``reference`` step, back to back, the
    order alternating per round (after one warm-up of each); the values per side."""
    await ours()
    await reference()
    values: tuple[list[float], list[float]] = ([], [])
    for round_no in range(rounds):
        if round_no % 2 == 0:
            values[0].append(await ours())
            values[1].append(await reference())
        else:
            values[1].append(await reference())
            values[0].append(await ours())
    return values


def _median_of(step: Callable[[], float], repeats: int) -> float:
    return statistics.median(step() for _ in range(repeats))


def _frames_point(data: ScaleJournal, point: Point, repeats: int) -> None:
    import inspect

    import adbc_driver_postgresql.dbapi as adbc

    from actorpg_lab import lab

    n = data.total
    wb = lab.connect(data.url, quiet=True)
    conn = adbc.connect(data.adbc_uri, autocommit=True)
    try:
        def frame() -> float:
            gc.collect()
            started = time.perf_counter()
            # allow_large: the workbench refuses loads above its size caps (10M rows is one).
            got = len(wb.journal_frame(progress=False, allow_large=True))
            elapsed = time.perf_counter() - started
            if got != n:
                raise AssertionError(f"journal_frame: expected {n} rows, got {got}")
            return rate(n, elapsed)

        def raw() -> float:
            started = time.perf_counter()
            rows = 0
            with conn.cursor() as cur:
                cur.execute(JOURNAL_SQL)
                for batch in cur.fetch_record_batch():
                    rows += batch.num_rows
            elapsed = time.perf_counter() - started
            if rows != n:
                raise AssertionError(f"ADBC read: expected {n} rows, got {rows}")
            return rate(n, elapsed)

        def streams(**kwargs: Any) -> float:
            started = time.perf_counter()
            got = len(wb.streams_frame(**kwargs))
            elapsed = time.perf_counter() - started
            want = STREAMS + 1 + (data.decider_head > 0)  # + the decision point's stream
            if got != want:
                raise AssertionError(f"streams_frame: expected {want} rows, got {got}")
            return elapsed

        def tagged() -> float:
            started = time.perf_counter()
            got = len(wb.tag_frame("tag-3", progress=False, allow_large=True))
            elapsed = time.perf_counter() - started
            if got != data.tag3:
                raise AssertionError(f"tag_frame: expected {data.tag3} rows, got {got}")
            return rate(got, elapsed)

        log(f"{n} events: journal_frame vs raw ADBC read")
        raw()  # warm the cache
        frames: list[float] = []
        raws: list[float] = []
        for round_no in range(repeats):  # paired, alternating which goes first
            if round_no % 2 == 0:
                frames.append(frame())
                raws.append(raw())
            else:
                raws.append(raw())
                frames.append(frame())
        point.adbc_rate = statistics.median(raws)
        point.frame_rate = statistics.median(frames)
        point.frame_ratio = paired_ratios(frames, raws)[0]
        log(f"{n} events: streams_frame, tag_frame")
        streams()
        point.streams_seconds = _median_of(streams, repeats)
        if "stats" in inspect.signature(wb.streams_frame).parameters:
            point.streams_stats_seconds = _median_of(lambda: streams(stats=True), repeats)
        tagged()
        point.tag_rate = _median_of(tagged, repeats)
    finally:
        conn.close()
        wb.close()


async def _recovery_point(data: ScaleJournal, point: Point, repeats: int) -> None:
    from .recovery import _recoverer

    closers: list[Any] = []
    recover, _ = await _recoverer(data.url, closers)
    try:
        async def step() -> float:
            started = time.perf_counter()
            state, _ = await recover(data.long_pid)
            elapsed = time.perf_counter() - started
            if state != data.balance:
                raise AssertionError(f"recovered {state!r}, expected {data.balance!r}")
            return rate(data.long_events, elapsed)

        point.recovery_rate = (await interleave({"r": step}, repeats))["r"]
    finally:
        for close in closers:
            await close()


async def _decision_point(data: ScaleJournal, point: Point, repeats: int) -> None:
    """D9 at this size: decisions whose condition spans a tenth of the journal (tag-3)
    and all of it (the type), each on a fresh token; the appended events are tagged
    ``dcb`` (the tag_frame point keeps counting tag-3)."""
    from actorpg_lab import AppendCondition, Query, QueryItem
    from actorpg_lab.postgres import PostgresJournal

    journal = PostgresJournal(url=data.url)
    condition = Query([QueryItem(tags=["tag-3"]), QueryItem(types=["bench.Deposited"])])
    per_round = 10 if data.ctx.quick else 50
    rounds = iter(range(10**9))
    try:
        async def step() -> float:
            run = next(rounds)
            started = time.perf_counter()
            for i in range(per_round):
                token = (await journal.read_matching(
                    Query([QueryItem(tags=[f"none:{point.events}-{run}"])]))).token
                await journal.append("decider", [JournalEntry(deposited(i), tags=("dcb",))],
                                     data.decider_head,
                                     condition=AppendCondition(condition, token))
                data.decider_head += 1
            data.appended += per_round
            return (time.perf_counter() - started) / per_round

        await step()  # warm: the statements prepared, the plans cached
        point.decision_seconds = (await interleave({"d": step}, max(5, repeats)))["d"]
    finally:
        await journal.close()


async def run_scale(ctx: Context, sizes: Sequence[int], *, quick: bool) -> list[Point]:
    """Grow one journal through ``sizes`` and measure at each size."""
    long_events = 2_000 if quick else 100_000
    # Append: many short paired rounds (20 x 200 calls per side) rather than a few long
    # ones, so the ratio is taken minute by minute (see paired_ratios).
    calls = 15 if quick else 200
    append_rounds = 2 if quick else 20
    repeats = 1 if quick else 3
    frame_repeats = 1 if quick else 3
    data = ScaleJournal(ctx, long_events, calls)
    await data.create()
    points = []
    for size in sizes:
        data.grow_to(size)
        point = Point(events=data.total)
        log(f"{data.total} events: append vs bare INSERT")
        await _append_point(data, point, append_rounds)
        _frames_point(data, point, frame_repeats)
        log(f"{data.total} events: recovery of the {long_events}-event stream")
        await _recovery_point(data, point, repeats)
        log(f"{data.total} events: decision latency (read_matching + conditional append)")
        await _decision_point(data, point, repeats)
        points.append(point)
        log(f"{data.total} events done: {point}")
    return points


def _label(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M".replace(".0M", "M")
    return f"{n / 1000:.0f}k"


def render(points: Sequence[Point], long_events: int) -> str:
    """The curves as one markdown table (a column per size, then last / first)."""
    if not points:
        return "(no sizes measured)"
    header = "| measurement | " + " | ".join(f"{_label(p.events)} events" for p in points)
    header += f" | {_label(points[-1].events)} / {_label(points[0].events)} |"
    lines = [header, "|---|" + "---:|" * (len(points) + 1)]

    def row(name: str, values: list[float | None], fmt: Callable[[float], str]) -> None:
        cells = [fmt(v) if v is not None else "–" for v in values]
        first, last = values[0], values[-1]
        trend = f"{last / first:.2f}×" if first and last else "–"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {trend} |")

    row("append 1 event/call ÷ bare INSERT (same table; median of paired rounds)",
        [p.append_ratio or None for p in points], lambda v: f"{v:.2f}×")
    lines.append("|   quartiles of the paired append ratios | " + " | ".join(
        f"{lo:.2f}-{hi:.2f}×" for lo, hi in (p.append_spread for p in points)) + " |  |")
    row("  append 1 event/call (journal.append)", [p.append_ours for p in points], fmt_rate)
    row("  bare INSERT per commit", [p.append_bare for p in points], fmt_rate)
    row("journal_frame(progress=False)", [p.frame_rate for p in points],
        lambda v: fmt_rate(v, "rows/s"))
    row("  raw ADBC read of the same SELECT (batches dropped)", [p.adbc_rate for p in points],
        lambda v: fmt_rate(v, "rows/s"))
    row("  journal_frame ÷ raw ADBC read (median of paired rounds)",
        [p.frame_ratio or None for p in points], lambda v: f"{v:.2f}×")
    row(f"streams_frame() ({STREAMS + 1} streams)", [p.streams_seconds for p in points],
        fmt_seconds)
    if any(p.streams_stats_seconds is not None for p in points):
        row("streams_frame(stats=True)", [p.streams_stats_seconds for p in points],
            fmt_seconds)
    row(f"tag_frame, one tag of {TAGS}", [p.tag_rate for p in points],
        lambda v: fmt_rate(v, "rows/s"))
    row(f"recovery of a {_label(long_events)}-event stream (PersistentActor)",
        [p.recovery_rate for p in points], fmt_rate)
    row("decision: read_matching + conditional append over a tag of 10 and every event's "
        "type", [p.decision_seconds or None for p in points],
        lambda v: f"{v * 1000:.2f} ms")
    return "\n".join(lines)


#: Written under the table: how to read the curves (method; the findings of past runs are
#: in docs/scale-out.md, "Appendix: what one machine showed").
HOW_TO_READ = """## How to read this run

* Read the ratios taken side by side (append ÷ bare INSERT, journal_frame ÷ raw ADBC
  read: medians of paired rounds, the two sides of a round back to back) and the shape
  of the curves; absolute rates move with the machine's load (footer).
* **append ÷ bare INSERT** should stay flat with size: the head check must not get
  relatively dearer as the table grows. Its quartiles show how noisy the rounds were
  (single-commit rates follow fsync latency).
* **journal_frame ÷ raw ADBC read** at 10M events is measured in a process that already
  loaded and dropped smaller frames; glibc's dynamic mmap threshold makes such repeated
  multi-GB loads ~30% dearer in CPU than the first (docs/scale-out.md, appendix:
  `MALLOC_MMAP_THRESHOLD_=131072` removes it).
* **streams_frame()** costs O(streams) (index probes); `stats=True` is the full scan,
  O(events), on request.
* **decision** latency should stay flat (target: 10M ≤ 1.2× the smallest size): the
  condition's check is an index range scan from the token up, whatever the boundary's
  size.
"""


def _load() -> str:
    """The 1-minute load average (``?`` where the OS does not give one)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):
        return "?"


def main_scale(ctx: Context, sizes: Sequence[int], quick: bool, write: bool) -> int:
    import asyncio

    started = time.perf_counter()
    load_before = _load()
    points = asyncio.run(run_scale(ctx, sizes, quick=quick))
    table = render(points, 2_000 if quick else 100_000)
    footer = (f"\nscale run, {time.perf_counter() - started:.0f} s total; Python "
              f"{platform.python_version()}; "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average "
              f"{load_before} at the start, {_load()} at the end (2 cores: above ~1.5 the "
              "machine was shared and absolute rates mean little)")
    print(table)
    print(footer)
    if write:
        RESULTS.write_text(
            "# Scale curves\n\nProduced by `python -m bench --scale` (one journal grown "
            "with COPY to each size over 1,000 streams plus one long stream; see "
            "`bench/_scale.py` for the method).\n\n" + table + "\n" + footer + "\n\n"
            + HOW_TO_READ, encoding="utf-8")
        log(f"wrote {RESULTS}")
    return 0
