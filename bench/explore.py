"""The explorer's interactions (``wb.explore()``) against the 300 ms budget.

A journal of N events (10,000 streams of uneven length, 4 event types -- one rare --,
a region tag on every event and a ``vip`` tag on 1 % of the streams, 30 days of
timestamps) is written with ``COPY``, one transaction per 10,000 events so that
positions grow like a live journal's, into the documented tables with every index the
journal creates.  Then each interaction of the app runs through the real widget
(:class:`actorpg_lab.lab.explore.view.Explorer`, the same code a click runs; the time is
the app's own ``last_ms``): page 1, Next, the id prefix, the type (a rare one), the tag,
a one-day window, order by id, opening a stream, opening the replayer at an event.
Each ratio row divides the slowest of ``repeats`` runs by the 300 ms budget (≤ 1×).

``python -m bench --only explore`` runs it at 1M events (``--quick``: 20k);
``python -m bench.explore --events 10M`` at any size, printing the table (and with
``--write`` appending it to ``bench/RESULTS-explore.md``).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._db import new_schema, provide_server, schema_url
from ._harness import Comparison, Context, log

__all__ = ["BUDGET_MS", "measure", "run_explore", "seed"]

SQL = Path(__file__).resolve().parent / "sql"


def load_sql(name: str) -> str:
    """``bench/sql/<name>.sql``."""
    return (SQL / f"{name}.sql").read_text("utf-8")

BUDGET_MS = 300.0
STREAMS = 10_000
TX_ROWS = 10_000
DAY_MS = 86_400_000
BASE_MS = 1_790_000_000_000  # 2026-09-21
#: The event types (their own names: other scenarios of ``python -m bench`` register
#: ``bench.*`` classes, which these payloads must not claim to be).
TYPES = ("explore.Deposited", "explore.Withdrawn")


def _payload(kind: str, amount: int) -> str:
    return f'{{"$type":"{kind}","$value":{{"amount":{amount},"note":"monthly salary"}}}}'


def seed(url: str, events: int) -> dict[str, Any]:
    """Write ``events`` events (see the module) and return what the measurements ask
    for: a long stream, a window in the middle, the rare type."""
    import asyncio

    import psycopg

    from actorpg_lab.postgres import PostgresJournal, PostgresSnapshotStore

    async def create() -> None:
        journal = PostgresJournal(url=url)
        snapshots = PostgresSnapshotStore(url=url)
        await journal.highest_seq("x")  # the documented tables and every index
        await snapshots.load_latest("x")
        await journal.close()
        await snapshots.close()

    asyncio.run(create())
    rng = random.Random(25)
    # uneven streams: stream k gets weight 1/(1 + k % 97), so lengths differ ~100x
    weights = [1.0 / (1 + k % 97) for k in range(STREAMS)]
    pids = [f"account-{k:05d}" for k in range(STREAMS)]
    heads = [0] * STREAMS
    vip = {k for k in range(0, STREAMS, 100)}
    step_ms = 30 * DAY_MS // max(events, 1)
    started = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        written = 0
        while written < events:
            n = min(TX_ROWS, events - written)
            picks = rng.choices(range(STREAMS), weights=weights, k=n)
            ev_lines: list[str] = []
            tag_lines: list[str] = []
            for j, k in enumerate(picks):
                i = written + j
                heads[k] += 1
                seq = heads[k]
                if seq == 1:
                    kind = "explore.Opened"
                elif i % 10_007 == 0:
                    kind = "explore.Frozen"
                else:
                    kind = TYPES[i % 4 == 0]
                tags = [f"region-{k % 5}"] + (["vip"] if k in vip else [])
                ts = BASE_MS + i * step_ms
                ev_lines.append(f"{pids[k]}\t{seq}\t{_payload(kind, i % 1000)}\t"
                                f"{','.join(tags)}\t{ts}\n")
                tag_lines.extend(f"{pids[k]}\t{seq}\t{t}\t{ts}\n" for t in tags)
            with cur.copy("COPY events (persistence_id, sequence_nr, payload, tags, timestamp) "
                          "FROM STDIN") as copy:
                copy.write("".join(ev_lines))
            with cur.copy("COPY events_tags (persistence_id, sequence_nr, tag, timestamp) "
                          "FROM STDIN") as copy:
                copy.write("".join(tag_lines))
            conn.commit()
            written += n
            if written % 1_000_000 < TX_ROWS:
                log(f"explore: {written:,} events seeded ({time.perf_counter() - started:.0f}s)")
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE events")
        cur.execute("VACUUM ANALYZE events_tags")
    _snapshot(url)
    longest = max(range(STREAMS), key=lambda k: heads[k])
    return {"events": events, "long_pid": pids[longest], "long_head": heads[longest],
            "window": (BASE_MS + 15 * DAY_MS, BASE_MS + 16 * DAY_MS)}


def _snapshot(url: str) -> None:
    """Snapshots as a ``keep_n=3`` store with a snapshot every 1,000 events leaves them:
    the three newest multiples of 1,000 per stream (what recovery, and the replayer
    opened at an event, starts from)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(load_sql("explore_bench_snapshots"))
        conn.execute("VACUUM ANALYZE snapshots")


Result = tuple[str, list[float], str]


def measure(url: str, info: dict[str, Any], repeats: int) -> list[Result]:
    """Run every interaction ``repeats`` times through the widget; returns
    ``[(interaction, [ms, ...], note)]`` (the note: how many listed streams the page's
    problem check covered).  The last entry is *Check all* (outside the budget: it reads
    every event of the page's streams, on request)."""
    from actorpg_lab import lab
    from actorpg_lab._reprs import iso_utc

    wb = lab.connect(url)
    try:
        app = wb.explore(page_size=25)
        since, until = info["window"]

        def set_filters(prefix: str = "", kind: str = "", tag: str = "", since_: str = "",
                        until_: str = "", order: str = "recent") -> None:
            app.prefix.value, app.event_type.value, app.tag.value = prefix, kind, tag
            app.since.value, app.until.value, app.order.value = since_, until_, order

        def apply(**filters: str) -> Callable[[], None]:
            def step() -> None:
                set_filters(**filters)
                app.apply.click()
            return step

        def next_page() -> None:  # each run walks one page further (pages 2, 3, ...)
            app.next.click()

        def open_stream() -> None:
            app.streams.value = None
            app.select(info["long_pid"])  # what choosing the row in the list runs

        def open_replayer() -> None:
            stream = app.select(info["long_pid"])
            app.event_choice.value = stream.events[0].sequence_nr
            app.open.click()

        interactions: list[tuple[str, Callable[[], None]]] = [
            ("page 1 (latest first, problems checked)", apply()),
            ("Next page", next_page),
            ("id prefix 'account-042'", apply(prefix="account-042")),
            ("event type (rare: explore.Frozen)", apply(kind="explore.Frozen")),
            ("tag 'vip'", apply(tag="vip")),
            ("time window (one day, mid-journal)",
             apply(since_=iso_utc(since), until_=iso_utc(until))),
            ("order by id, prefix 'account-09'", apply(prefix="account-09", order="id")),
            (f"open a stream ({info['long_head']:,} events: its last 20)", open_stream),
            ("open the replayer at an event", open_replayer),
        ]
        def check_all() -> None:
            app.check_all.click()

        results: list[Result] = []
        for name, step in [*interactions, ("Check all (page 1, every event of its streams)",
                                           check_all)]:
            if step is next_page:
                apply()()  # page 1 of the unfiltered list, untimed
            times = []
            for _ in range(repeats + 1):  # the first run warms the caches
                if step is check_all:
                    apply()()  # page 1 again, its checks within the budget, untimed
                began = time.perf_counter()
                step()
                times.append((time.perf_counter() - began) * 1000.0)
                if app.status.value.startswith("<span"):
                    raise AssertionError(f"{name}: {app.status.value}")
            rows = app.page.rows if app.page is not None else ()
            note = (f"{sum(r.checked for r in rows)} of {len(rows)} listed streams checked"
                    if step not in (open_stream, open_replayer) else "")
            results.append((name, times[1:], note))
            log(f"explore: {name}: median {statistics.median(times[1:]):.0f} ms, "
                f"max {max(times[1:]):.0f} ms")
        return results
    finally:
        wb.close()


def _rows(size: int, results: list[Result]) -> list[Comparison]:
    """The budgeted interactions as table rows (*Check all* is reported apart)."""
    return [Comparison(f"explore @ {size:,} events: {name}",
                       f"{statistics.median(ms):.0f} ms median, {max(ms):.0f} ms max",
                       "interaction budget", f"{BUDGET_MS:.0f} ms", max(ms) / BUDGET_MS, "<=",
                       1.0, note=note)
            for name, ms, note in results if not name.startswith("Check all")]


def _check_all_line(results: list[Result]) -> str:
    name, ms, note = results[-1]
    return (f"{name}: {statistics.median(ms):.0f} ms median, {max(ms):.0f} ms max ({note}; "
            f"on request only, not an interaction of the budget)")


async def run_explore(ctx: Context) -> list[Comparison]:
    """The scenario of ``python -m bench`` (1M events; ``--quick``: 20k)."""
    import asyncio

    size = 20_000 if ctx.quick else 1_000_000
    url = schema_url(ctx.dsn, new_schema(ctx, "explore"))
    info = await asyncio.to_thread(seed, url, size)
    results = await asyncio.to_thread(measure, url, info, 2 if ctx.quick else 5)
    return _rows(size, results)


def _size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.explore", description=__doc__)
    parser.add_argument("--events", type=_size, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--schema", default=None,
                        help="reuse (or create and keep) this schema instead of a throw-away one")
    parser.add_argument("--write", action="store_true",
                        help="append the table to bench/RESULTS-explore.md")
    args = parser.parse_args(argv)
    import psycopg
    from psycopg import sql

    from ._harness import render_table

    with provide_server() as dsn:
        ctx = Context(dsn=dsn, sizes=None, quick=False)  # type: ignore[arg-type]
        schema = args.schema or new_schema(ctx, "explore")
        url = schema_url(dsn, schema)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            present = conn.execute(sql.SQL("SELECT to_regclass({}) IS NOT NULL").format(
                sql.Literal(f"{schema}.events"))).fetchone()
        info = None
        if present and present[0]:
            info = _reuse(url)
        if info is None or info["events"] != args.events:
            info = seed(url, args.events)
        results = measure(url, info, args.repeats)
        table = render_table(_rows(args.events, results)) + "\n\n" + _check_all_line(results)
        print(table)
        if args.write:
            path = os.path.join(os.path.dirname(__file__), "RESULTS-explore.md")
            if not os.path.exists(path):
                with open(path, "w", encoding="utf-8") as out:
                    out.write("# Explorer interactions (`python -m bench.explore`)\n")
            with open(path, "a", encoding="utf-8") as out:
                stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
                out.write(f"\n## {args.events:,} events, {stamp}, "
                          f"load {os.getloadavg()[0]:.1f}\n\n{table}\n")
        if not args.schema:
            from ._db import drop_schemas

            drop_schemas(ctx)
    return 0


def _reuse(url: str) -> dict[str, Any] | None:
    """What :func:`seed` returned, read back from a journal it wrote (``--schema``)."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(load_sql("explore_bench_info")).fetchone()
    if row is None or not row[0]:
        return None
    events, long_pid, long_head, snapshots = row
    if not snapshots:
        _snapshot(url)
    return {"events": int(events), "long_pid": long_pid, "long_head": int(long_head),
            "window": (BASE_MS + 15 * DAY_MS, BASE_MS + 16 * DAY_MS)}


if __name__ == "__main__":
    raise SystemExit(main())
