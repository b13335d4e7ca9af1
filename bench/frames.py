"""DataFrame scenarios: ``journal_frame`` / ``tag_frame`` of the workbench vs pandas and ADBC.

Data set: ``frame_events`` events (1M in the full run) over ``frame_streams`` streams,
each event carrying one of ``frame_tags`` tags (so one tag selects a tenth), seeded
with ``COPY`` straight into the documented ``events`` / ``events_tags`` tables
(payloads are the codec's text of ``bench.Deposited``, byte for byte).  The
``frame_small`` sizes (30k and 300k events in the full run, the loads notebooks make
most) are separate data sets of the same shape (same streams, fewer events each), each
in its own schema, measured against the same references with more rounds.

Ours is :func:`actorpg_lab.lab.connect` → the DEFAULT call ``Workbench.journal_frame()``
/ ``tag_frame("tag-3")``: the progress bar is on (rendered to ``os.devnull`` so the table
stays readable, but drawn and updated like in a terminal); ``progress=False`` rows show
what the bar costs.  References run the same SELECT (same
columns, same order) through ``pandas.read_sql`` on a psycopg connection (its
SQLAlchemy ``UserWarning`` is suppressed locally) and through ADBC →
``fetch_arrow_table().to_pandas()``; "by hand" expansion is ``json.loads`` per
payload + ``pandas.json_normalize``, what an analyst would write.

Peak memory is measured in a fresh subprocess (see :mod:`bench._frame_memory`).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import warnings
from typing import Any

from ._db import adbc_uri, new_schema, schema_url
from ._harness import Comparison, Context, fmt_rate, interleave, log, rate

__all__ = ["run_frame_memory", "run_journal_frame", "run_journal_frame_expanded", "run_tag_frame"]

PAYLOAD = (
    '{{"$type":"bench.Deposited","$value":{{"account":"{pid}","amount":{amount},'
    '"note":"monthly salary"}}}}'
)

JOURNAL_SQL = (
    "SELECT persistence_id, sequence_nr, payload, tags, timestamp FROM events "
    "ORDER BY persistence_id, sequence_nr"
)
TAG_SQL = (
    "SELECT e.persistence_id, e.sequence_nr, e.payload, e.tags, e.timestamp "
    "FROM events_tags t JOIN events e "
    "ON e.persistence_id = t.persistence_id AND e.sequence_nr = t.sequence_nr "
    "WHERE t.tag = %s ORDER BY t.timestamp, t.persistence_id, t.sequence_nr"
)
#: The same rows driven by the tag index, a nested loop of primary-key lookups (no hash
#: join over every event, no sort): the fastest plain SELECT for them here, so the
#: ADBC read of it is the floor a tag_frame cannot beat (the planner's choice for
#: TAG_SQL is ~2x slower on the 1M set).
TAG_SQL_INDEXED = (
    "SELECT e.persistence_id, e.sequence_nr, e.payload, e.tags, e.timestamp "
    "FROM events_tags t CROSS JOIN LATERAL (SELECT x.persistence_id, x.sequence_nr, "
    "x.payload, x.tags, x.timestamp FROM events x WHERE x.persistence_id = t.persistence_id "
    "AND x.sequence_nr = t.sequence_nr OFFSET 0) e "
    "WHERE t.tag = 'tag-3' ORDER BY t.timestamp, t.persistence_id, t.sequence_nr"
)


class FrameData:
    """The seeded data set plus open connections for ours and the references."""

    def __init__(self, ctx: Context, n: int | None = None) -> None:
        self.ctx = ctx
        self.n = ctx.sizes.frame_events if n is None else n
        self.schema = new_schema(ctx, "frames")
        self.url = schema_url(ctx.dsn, self.schema)
        self.adbc_uri = adbc_uri(ctx.dsn, self.schema)
        self.wb: Any = None
        self.pg: Any = None
        self.adbc: Any = None

    def seed(self) -> None:
        import psycopg

        s = self.ctx.sizes
        per_stream = self.n // s.frame_streams
        log(f"seeding {self.n} events ({s.frame_streams} streams, {s.frame_tags} tags) with COPY")
        started = time.perf_counter()
        base = int(time.time() * 1000) - self.n
        with psycopg.connect(self.url) as conn, conn.cursor() as cur:
            with cur.copy("COPY events (persistence_id, sequence_nr, payload, tags, timestamp) "
                          "FROM STDIN") as copy:
                for k in range(s.frame_streams):
                    pid = f"account-{k:05d}"
                    lines = []
                    for seq in range(1, per_stream + 1):
                        i = seq * s.frame_streams + k  # interleaved global order
                        payload = PAYLOAD.format(pid=pid, amount=i % 1000 + 1)
                        lines.append(f"{pid}\t{seq}\t{payload}\ttag-{i % s.frame_tags}\t"
                                     f"{base + i}\n")
                    copy.write("".join(lines))
            with cur.copy("COPY events_tags (persistence_id, sequence_nr, tag, timestamp) "
                          "FROM STDIN") as copy:
                for k in range(s.frame_streams):
                    pid = f"account-{k:05d}"
                    copy.write("".join(
                        f"{pid}\t{seq}\ttag-{(seq * s.frame_streams + k) % s.frame_tags}\t"
                        f"{base + seq * s.frame_streams + k}\n"
                        for seq in range(1, per_stream + 1)
                    ))
            conn.commit()
            conn.autocommit = True
            cur.execute("VACUUM ANALYZE events")
            cur.execute("VACUUM ANALYZE events_tags")
        log(f"seeded in {time.perf_counter() - started:.1f}s")

    def open(self) -> None:
        import adbc_driver_postgresql.dbapi as adbc
        import psycopg

        from actorpg_lab import lab

        self.wb = lab.connect(self.url, quiet=True)
        self.pg = psycopg.connect(self.url, autocommit=True)
        self.adbc = adbc.connect(self.adbc_uri, autocommit=True)

    def close(self) -> None:
        for thing in (self.wb, self.pg, self.adbc):
            if thing is not None:
                thing.close()

    # -- references -------------------------------------------------------------------
    def read_sql(self, query: str, params: tuple[Any, ...] | None = None) -> Any:
        import pandas as pd

        with warnings.catch_warnings():
            # pandas wants SQLAlchemy for non-sqlite DBAPI connections; a raw psycopg
            # connection works and is what the comparison is about.
            warnings.filterwarnings("ignore", category=UserWarning, message=".*SQLAlchemy.*")
            return pd.read_sql(query, self.pg, params=params)

    def adbc_frame(self, query: str) -> Any:
        with self.adbc.cursor() as cur:
            cur.execute(query)
            return cur.fetch_arrow_table().to_pandas()


async def _prepare(ctx: Context, n: int | None = None) -> FrameData:
    """The data set of ``n`` events (default ``frame_events``), seeded once per run."""
    key = "frames" if n is None or n == ctx.sizes.frame_events else f"frames-{n}"
    data: FrameData | None = ctx.extra.get(key)
    if data is None:
        data = FrameData(ctx, n)
        from actorpg_lab.postgres import PostgresJournal

        journal = PostgresJournal(url=data.url)
        await journal.highest_seq("x")  # creates the documented tables
        await journal.close()
        data.seed()
        data.open()
        ctx.extra[key] = data
        ctx.cleanups.append(_closer(data))
    return data


def _closer(data: FrameData) -> Any:
    async def close() -> None:
        data.close()

    return close


def _with_bar(fn: Any) -> Any:
    """``fn`` with stderr (where the progress bar draws) sent to ``os.devnull``."""
    def call() -> Any:
        with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
            return fn()

    return call


def _timed_rows(fn: Any, expected_rows: int) -> Any:
    async def step() -> float:
        started = time.perf_counter()
        frame = fn()
        elapsed = time.perf_counter() - started
        if len(frame) != expected_rows:
            raise AssertionError(f"expected {expected_rows} rows, got {len(frame)}")
        return rate(expected_rows, elapsed)

    return step


async def run_journal_frame(ctx: Context) -> list[Comparison]:
    rows: list[Comparison] = []
    for n, rounds in ctx.sizes.frame_small:
        rows.extend(await _journal_frame_rows(ctx, await _prepare(ctx, n), rounds,
                                              fast_row=False))
    data = await _prepare(ctx)
    rows.extend(await _journal_frame_rows(ctx, data, ctx.sizes.frame_repeats, fast_row=True))
    return rows


async def _journal_frame_rows(ctx: Context, data: FrameData, rounds: int, *,
                              fast_row: bool) -> list[Comparison]:
    n = data.n
    log(f"journal_frame of {n} events: ours (default, progress=False) vs pandas.read_sql "
        f"vs ADBC, {rounds} round(s); load {_load()}")
    cases = {
        "ours": _timed_rows(_with_bar(lambda: data.wb.journal_frame()), n),
        "read_sql": _timed_rows(lambda: data.read_sql(JOURNAL_SQL), n),
        "adbc": _timed_rows(lambda: data.adbc_frame(JOURNAL_SQL), n),
    }
    if fast_row:
        cases["ours_fast"] = _timed_rows(lambda: data.wb.journal_frame(progress=False), n)
    rates = await interleave(cases, rounds)
    name = f"journal_frame() of {_count(n)} events (default: progress bar, raw payload)"
    ours, adbc = fmt_rate(rates["ours"], "rows/s"), fmt_rate(rates["adbc"], "rows/s")
    rows = [
        Comparison(name, ours, "pandas.read_sql (psycopg)",
                   fmt_rate(rates["read_sql"], "rows/s"), rates["ours"] / rates["read_sql"],
                   ">=", 3.0),
        Comparison(name, ours, "ADBC → pandas", adbc, rates["ours"] / rates["adbc"], ">=", 0.9,
                   note=f"{n / rates['ours'] * 1e3:.0f} ms vs {n / rates['adbc'] * 1e3:.0f} ms"),
    ]
    if fast_row:
        fast = f"journal_frame(progress=False) of {_count(n)} events"
        rows.append(Comparison(fast, fmt_rate(rates["ours_fast"], "rows/s"), "ADBC → pandas",
                               adbc, rates["ours_fast"] / rates["adbc"], ">=", 0.9))
    return rows


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def by_hand_expanded(data: FrameData) -> Any:
    """What an analyst writes: read_sql, then json.loads + json_normalize the payload."""
    import pandas as pd

    frame = data.read_sql(JOURNAL_SQL)
    fields = pd.json_normalize([json.loads(p) for p in frame["payload"]])
    return pd.concat([frame.drop(columns="payload"), fields], axis=1)


async def run_journal_frame_expanded(ctx: Context) -> list[Comparison]:
    data = await _prepare(ctx)
    n = data.n
    log(f"journal_frame(expand=True) of {n} events vs read_sql + json_normalize by hand")
    rates = await interleave(
        {
            "ours": _timed_rows(lambda: data.wb.journal_frame(expand=True, progress=False), n),
            "hand": _timed_rows(lambda: by_hand_expanded(data), n),
        },
        ctx.sizes.frame_repeats,
        warmup=False,  # the raw scenario already warmed the server; these runs are long
    )
    floor = 300_000 if not ctx.quick else 0
    return [
        Comparison(f"journal_frame of {_count(n)} events, payload expanded",
                   fmt_rate(rates["ours"], "rows/s"),
                   "read_sql + json.loads + json_normalize by hand",
                   fmt_rate(rates["hand"], "rows/s"), rates["ours"] / rates["hand"], ">=", 1.2,
                   extra_check=(f"≥ {floor // 1000}k rows/s", rates["ours"] >= floor)),
    ]


async def run_tag_frame(ctx: Context) -> list[Comparison]:
    rows: list[Comparison] = []
    # The 300k-event set: one tag is 30k rows; the 1M set: 100k rows.
    for n, rounds in ctx.sizes.frame_small[-1:]:
        rows.extend(await _tag_frame_rows(ctx, await _prepare(ctx, n), rounds, fast_row=False))
    rows.extend(await _tag_frame_rows(ctx, await _prepare(ctx), ctx.sizes.frame_repeats,
                                      fast_row=True))
    return rows


async def _tag_frame_rows(ctx: Context, data: FrameData, rounds: int, *,
                          fast_row: bool) -> list[Comparison]:
    s = ctx.sizes
    expected = data.n // s.frame_tags
    log(f"tag_frame of one tag ({expected} of {data.n} events) vs read_sql and ADBC of the "
        f"same join, {rounds} round(s); load {_load()}")
    cases = {
        "ours": _timed_rows(_with_bar(lambda: data.wb.tag_frame("tag-3")), expected),
        "read_sql": _timed_rows(lambda: data.read_sql(TAG_SQL, ("tag-3",)), expected),
        "adbc": _timed_rows(lambda: data.adbc_frame(TAG_SQL_INDEXED), expected),
    }
    if fast_row:
        cases["ours_fast"] = _timed_rows(lambda: data.wb.tag_frame("tag-3", progress=False),
                                         expected)
    rates = await interleave(cases, rounds)
    name = f"one tag over {_count(data.n)} events / {s.frame_tags} tags"
    reference = fmt_rate(rates["read_sql"], "rows/s")
    adbc = fmt_rate(rates["adbc"], "rows/s")
    rows = [
        Comparison(f"tag_frame(tag), default: progress bar, {name}",
                   fmt_rate(rates["ours"], "rows/s"), "pandas.read_sql of the same join",
                   reference, rates["ours"] / rates["read_sql"], ">=", 3.0),
        Comparison(f"tag_frame(tag), default: progress bar, {name}",
                   fmt_rate(rates["ours"], "rows/s"),
                   "ADBC → pandas of the join driven by the tag index", adbc,
                   rates["ours"] / rates["adbc"], ">=", 0.9,
                   note=f"{expected / rates['ours'] * 1e3:.0f} ms vs "
                        f"{expected / rates['adbc'] * 1e3:.0f} ms"),
    ]
    if fast_row:
        rows.append(Comparison(f"tag_frame(tag, progress=False), {name}",
                               fmt_rate(rates["ours_fast"], "rows/s"),
                               "pandas.read_sql of the same join", reference,
                               rates["ours_fast"] / rates["read_sql"], ">=", 3.0))
    return rows


async def run_frame_memory(ctx: Context) -> list[Comparison]:
    data = await _prepare(ctx)
    log(f"peak memory of journal_frame({data.n}) in a subprocess")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.getcwd(), *filter(None, [os.environ.get("PYTHONPATH")])])}
    result = subprocess.run(
        [sys.executable, "-m", "bench._frame_memory", data.url, str(data.n)],
        capture_output=True, text=True, env=env, check=False, timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"memory probe failed: {result.stderr.strip()[-500:]}")
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    peak, frame_bytes = probe["peak_delta"], probe["frame_bytes"]
    if frame_bytes <= 0 or (peak <= 0 and not ctx.quick):
        raise RuntimeError(f"memory probe measured nothing: {probe}")
    return [
        Comparison(f"peak memory of journal_frame({_count(data.n)})",
                   f"{peak / 2**20:.0f} MiB peak RSS Δ", "the DataFrame's own memory",
                   f"{frame_bytes / 2**20:.0f} MiB", peak / frame_bytes, "<=", 2.5),
    ]


def _count(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else (
        f"{n // 1000}k" if n >= 1000 else str(n))
