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

import asyncio
import os
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ._harness import Comparison, Context, fmt_rate, interleave, log, rate
from .writes import _Writers

__all__ = ["paired_ratios", "run_boundary_locks", "run_condition_latency",
           "run_conditional_appends", "run_keyed_appends",
           "run_metadata_reads"]


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


# -- conditional appends ---------------------------------------------------------------
_WRITERS = 16


async def _ours_conditional(journal: Any, run: str, per_writer: int,
                            decide: bool) -> tuple[float, int]:
    """16 tasks, each on its own boundary (tag ``student:<run>-<w>``); returns
    (appends/s, failures).  ``decide``: every append is a decision (``read_matching``,
    then the append with the read's token); else the writer read once and each append's
    condition is "nothing after my last event" (``after=TagOffset`` of it: a writer
    that keeps its decision model in memory, the append path on its own)."""
    from actorpg_lab import AppendCondition, AppendConditionError, JournalEntry, Query, QueryItem
    from actorpg_lab.query import TagOffset

    from ._events import deposited

    failures = written = 0

    async def writer(w: int) -> None:
        nonlocal failures, written
        tag = f"student:{run}-{w}"
        q = Query([QueryItem(types=["bench.Deposited"], tags=[tag])])
        after: Any = (await journal.read_matching(q)).token
        for i in range(per_writer):
            if decide:
                after = (await journal.read_matching(q)).token
            try:
                events = await journal.append(f"c-{run}-{w}",
                                              [JournalEntry(deposited(i), tags=(tag,))], i,
                                              condition=AppendCondition(q, after))
            except AppendConditionError:
                failures += 1
                return  # its stale "after" would fail every later append
            written += 1
            after = TagOffset(*events[-1].key)

    started = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(_WRITERS)))
    return rate(written, time.perf_counter() - started), failures


async def _ours_plain(journal: Any, run: str, per_writer: int) -> float:
    from actorpg_lab import JournalEntry

    from ._events import deposited

    async def writer(w: int) -> None:
        for i in range(per_writer):
            await journal.append(f"p-{run}-{w}", [JournalEntry(deposited(i))], i)

    started = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(_WRITERS)))
    return rate(_WRITERS * per_writer, time.perf_counter() - started)


def _es_conditional(recorder: Any, run: str, per_writer: int,
                    decide: bool) -> tuple[float, int]:
    """eventsourcing's PostgresDCBRecorderTT with 16 threads, unrelated boundaries, the
    same two shapes as :func:`_ours_conditional` (``after`` = the position its last
    append returned when not deciding)."""
    from eventsourcing.dcb.api import DCBAppendCondition, DCBEvent, DCBQuery, DCBQueryItem
    from eventsourcing.persistence import IntegrityError

    failures = written = 0
    lock = threading.Lock()

    def writer(w: int) -> None:
        nonlocal failures, written
        tag = f"student:{run}-{w}"
        q = DCBQuery(items=[DCBQueryItem(types=["bench.Deposited"], tags=[tag])])
        response = recorder.read(q)
        list(response)
        after = response.head
        for _ in range(per_writer):
            if decide:
                response = recorder.read(q)
                list(response)
                after = response.head
            try:
                after = recorder.append([DCBEvent("bench.Deposited", b'{"amount":1}', [tag])],
                                        DCBAppendCondition(q, after=after))
            except IntegrityError:
                with lock:
                    failures += 1
                return
            with lock:
                written += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(_WRITERS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return rate(written, time.perf_counter() - started), failures


async def run_conditional_appends(ctx: Context) -> list[Comparison]:
    from eventsourcing.dcb.postgres_tt import PostgresDCBRecorderTT
    from eventsourcing.postgres import PostgresDatastore

    from actorpg_lab.postgres import PostgresJournal

    from ._db import eventsourcing_env, new_schema, schema_url

    s = ctx.sizes
    per_writer = max(5, s.concurrent_calls // 5)
    schema = new_schema(ctx, "dcb")
    url = schema_url(ctx.dsn, schema)
    journal = PostgresJournal(url=url, pool_config={"min_size": _WRITERS, "max_size": _WRITERS})
    await journal.highest_seq("warm-up")
    env = eventsourcing_env(ctx.dsn, schema)
    # eventsourcing's DCB tables reference each other unqualified: its connections need
    # the schema on their search_path (libpq reads PGOPTIONS; ours set options anyway).
    saved_options = os.environ.get("PGOPTIONS")
    os.environ["PGOPTIONS"] = f"-c search_path={schema}"
    datastore = PostgresDatastore(
        env["POSTGRES_DBNAME"], env["POSTGRES_HOST"], env["POSTGRES_PORT"],
        env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], pool_size=_WRITERS, schema=schema)
    recorder = PostgresDCBRecorderTT(datastore, events_table_name=f"{schema}.es_dcb")
    recorder.create_table()
    failures = {"ours": 0, "es": 0}
    counter = iter(range(10**9))

    def ours(decide: bool) -> Callable[[], Awaitable[float]]:
        async def run() -> float:
            value, failed = await _ours_conditional(journal, f"r{next(counter)}", per_writer,
                                                    decide)
            failures["ours"] += failed
            return value
        return run

    def theirs(decide: bool) -> Callable[[], Awaitable[float]]:
        async def run() -> float:
            value, failed = await asyncio.to_thread(_es_conditional, recorder,
                                                    f"r{next(counter)}", per_writer, decide)
            failures["es"] += failed
            return value
        return run

    try:
        log(f"conditional appends, {_WRITERS} writers on unrelated boundaries (append only, "
            f"and read + append) vs plain 1-event appends vs eventsourcing "
            f"PostgresDCBRecorderTT")
        rates = await interleave({
            "cond": ours(False), "decide": ours(True),
            "plain": lambda: _ours_plain(journal, f"r{next(counter)}", per_writer),
            "es": theirs(False), "es_decide": theirs(True),
        }, max(3, s.repeats))
    finally:
        await journal.close()
        datastore.close()
        if saved_options is None:
            os.environ.pop("PGOPTIONS", None)
        else:
            os.environ["PGOPTIONS"] = saved_options
    name = (f"conditional append (condition: nothing after the writer's last event), "
            f"{_WRITERS} writers, unrelated boundaries")
    decision = (f"decision (read_matching + conditional append), {_WRITERS} writers, "
                f"unrelated boundaries")
    note = f"failures: ours {failures['ours']}, eventsourcing {failures['es']}"
    return [
        Comparison(name, fmt_rate(rates["cond"], "appends/s"),
                   f"ours, plain 1-event appends, {_WRITERS} writers (same run)",
                   fmt_rate(rates["plain"], "appends/s"), rates["cond"] / rates["plain"], ">=",
                   0.8, extra_check=("0 failures", failures["ours"] == 0), note=note),
        Comparison(name, fmt_rate(rates["cond"], "appends/s"),
                   f"eventsourcing 9.5.6 PostgresDCBRecorderTT, the same, {_WRITERS} threads",
                   fmt_rate(rates["es"], "appends/s"), rates["cond"] / rates["es"], ">=", 3.0,
                   note=note),
        Comparison(decision, fmt_rate(rates["decide"], "decisions/s"),
                   f"eventsourcing 9.5.6 PostgresDCBRecorderTT, read + append, "
                   f"{_WRITERS} threads", fmt_rate(rates["es_decide"], "decisions/s"),
                   rates["decide"] / rates["es_decide"], ">=", 3.0, note=note),
    ]


async def run_condition_latency(ctx: Context) -> list[Comparison]:
    """D9: the latency of a decision (read_matching + conditional append) in a small and
    a large journal, each in its own schema (grown with COPY), measured in the SAME
    rounds, alternating (a load change on this shared machine moves both): the check
    reads only what is new since the token, so the two should be alike."""
    from actorpg_lab import AppendCondition, JournalEntry, Query, QueryItem
    from actorpg_lab.postgres import PostgresJournal

    from ._db import new_schema, schema_url
    from ._events import deposited

    small, large = (2_000, 20_000) if ctx.quick else (100_000, 1_000_000)
    import psycopg

    from actorpg_lab import default_codec

    payload = default_codec.encode(deposited(1))

    async def grow_to(url: str, n: int) -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            async with conn.transaction(), conn.cursor() as c:
                async with c.copy("COPY events (persistence_id, sequence_nr, payload, tags, "
                                  "timestamp) FROM STDIN") as copy:
                    for i in range(n):
                        await copy.write_row((f"bulk-{i // 1000}", i % 1000 + 1,
                                              payload, f"course:{i % 500}", 0))
            await conn.execute("INSERT INTO events_tags (persistence_id, sequence_nr, tag, "
                               "timestamp) SELECT persistence_id, sequence_nr, tags, 0 FROM "
                               "events WHERE tags <> '' ON CONFLICT DO NOTHING")
            await conn.execute("VACUUM ANALYZE events")
            await conn.execute("VACUUM ANALYZE events_tags")

    counter = iter(range(10**9))

    async def decisions(journal: PostgresJournal, k: int) -> float:
        run = next(counter)
        started = time.perf_counter()
        for i in range(k):
            token = (await journal.read_matching(Query([QueryItem(tags=[f"none:{run}"])]))).token
            await journal.append(f"lat-{run}", [JournalEntry(deposited(i), tags=("course:7",))],
                                 i, condition=AppendCondition(
                                     Query([QueryItem(types=["bench.Deposited"],
                                                      tags=[f"lat:{run}"])]), token))
        return (time.perf_counter() - started) / k

    journals: dict[int, PostgresJournal] = {}
    try:
        for n in (small, large):
            url = schema_url(ctx.dsn, new_schema(ctx, f"dcblat{n}"))
            journals[n] = PostgresJournal(url=url)
            await journals[n].highest_seq("warm-up")  # creates the tables
            log(f"condition check latency: a journal of {n:,} events")
            await grow_to(url, n)
        steps: dict[str, Callable[[], Awaitable[float]]] = {
            str(n): (lambda j=j: decisions(j, 50)) for n, j in journals.items()}  # type: ignore[misc]
        found = await interleave(steps, max(5, ctx.sizes.repeats))
        rows = {int(n): v for n, v in found.items()}
    finally:
        for journal in journals.values():
            await journal.close()
    return [Comparison(
        f"read + conditional append latency at {large:,} events", f"{rows[large] * 1000:.2f} ms",
        f"the same at {small:,} events (same rounds, alternating)", f"{rows[small] * 1000:.2f} ms",
        rows[large] / rows[small], "<=", 1.2)]


async def run_keyed_appends(ctx: Context) -> list[Comparison]:
    """Keyed appends (idempotency_key) vs the same appends unkeyed, one writer, 1 event
    per call, paired rounds."""
    from actorpg_lab import JournalEntry
    from actorpg_lab.postgres import PostgresJournal

    from ._db import new_schema, schema_url
    from ._events import deposited

    s = ctx.sizes
    n = max(20, s.append_calls // 2)
    journal = PostgresJournal(url=schema_url(ctx.dsn, new_schema(ctx, "keyed")))
    await journal.highest_seq("warm-up")
    counter = iter(range(10**9))

    async def appends(keyed: bool) -> float:
        run = next(counter)
        pid = f"{'k' if keyed else 'u'}-{run}"
        entries = [[JournalEntry(deposited(i))] for i in range(n)]
        started = time.perf_counter()
        for seq, entry in enumerate(entries):
            await journal.append(pid, entry, seq,
                                 idempotency_key=f"cmd-{run}-{seq}" if keyed else None)
        return rate(n, time.perf_counter() - started)

    rounds = max(3, 3 * s.repeats)
    try:
        log(f"keyed vs unkeyed appends, 1 event/call ({rounds} paired rounds)")
        keyed, plain, ratio = await _pairs(lambda: appends(True), lambda: appends(False), rounds)
    finally:
        await journal.close()
    return [Comparison("append 1 event/call with idempotency_key, one writer", fmt_rate(keyed),
                       "the same without a key (same run, paired rounds)", fmt_rate(plain),
                       ratio, ">=", 0.95, note=f"median of {rounds} per-round ratios")]


async def _pairs(a: Callable[[], Awaitable[float]], b: Callable[[], Awaitable[float]],
                 rounds: int) -> tuple[float, float, float]:
    """``(median a, median b, median a/b)`` over alternating paired rounds (warm-up first)."""
    await a()
    await b()
    xs: list[float] = []
    ys: list[float] = []
    for r in range(rounds):
        if r % 2 == 0:
            x, y = await a(), await b()
        else:
            y, x = await b(), await a()
        xs.append(x)
        ys.append(y)
    return (statistics.median(xs), statistics.median(ys),
            statistics.median([x / y for x, y in zip(xs, ys, strict=True)]))


async def run_metadata_reads(ctx: Context) -> list[Comparison]:
    """What the metadata column and the event-type / correlation columns cost the reads:
    a stream read (the recovery path) with the ``metadata`` column vs the statement
    without it (``NULL`` in its place, as on a journal not migrated), and journal_frame
    with its ``event_type``/``correlation_id``/``causation_id`` columns vs the same
    columns as NULL.  Paired rounds, medians of per-round ratios; events without
    metadata (the common case: every row written before metadata existed)."""
    from psycopg import sql

    from actorpg_lab import JournalEntry, lab
    from actorpg_lab.lab.frames import event_columns
    from actorpg_lab.postgres import PostgresJournal

    from ._db import new_schema, schema_url
    from ._events import deposited

    n = 5_000 if ctx.quick else 100_000
    frame_rows = 5_000 if ctx.quick else 300_000
    url = schema_url(ctx.dsn, new_schema(ctx, "meta"))
    journal = PostgresJournal(url=url)
    for start in range(0, n, 1000):
        await journal.append("long", [JournalEntry(deposited(i)) for i in range(start, start + 1000)],
                             start)
    for start in range(n, frame_rows, 1000):
        await journal.append(f"s-{start // 1000}", [JournalEntry(deposited(i)) for i in range(1000)],
                             0)
    rounds = max(3, 3 * ctx.sizes.repeats)

    async def read(with_column: bool) -> float:
        journal._render_metadata(with_column)
        try:
            started = time.perf_counter()
            events = await journal.read("long")
            elapsed = time.perf_counter() - started
        finally:
            journal._render_metadata(True)
        assert len(events) == n
        return rate(n, elapsed)

    log(f"stream read of {n:,} events with vs without the metadata column ({rounds} rounds)")
    with_meta, without, read_ratio = await _pairs(lambda: read(True), lambda: read(False), rounds)
    await journal.close()

    wb = lab.connect(url)
    names = event_columns.__dict__  # the module's globals: swap its metadata_ids
    real = names["metadata_ids"]

    from actorpg_lab.lab.db.statements import metadata_ids
    from actorpg_lab.lab.frames import builder

    real_heads = builder.__dict__["payload_heads"]
    real_types = builder.__dict__["_event_type_categorical"]

    def null_ids(alias: str, present: bool, as_list: bool) -> sql.Composable:
        return metadata_ids(alias, False, True)  # as on a table without the column

    def no_heads(payloads: Any) -> Any:
        return None

    def no_types(heads: list[Any], payloads: list[Any]) -> Any:
        import numpy as np
        import pandas as pd

        rows = sum(len(p) for p in payloads)
        return pd.Categorical.from_codes(np.full(rows, -1, dtype=np.int32),
                                         dtype=pd.CategoricalDtype(pd.Index([], dtype=str)))

    async def frame(with_columns: bool) -> float:
        names["metadata_ids"] = real if with_columns else null_ids
        builder.__dict__["payload_heads"] = real_heads if with_columns else no_heads
        builder.__dict__["_event_type_categorical"] = real_types if with_columns else no_types
        try:
            started = time.perf_counter()
            rows = len(await asyncio.to_thread(wb.journal_frame, progress=False))
            elapsed = time.perf_counter() - started
        finally:
            names["metadata_ids"] = real
            builder.__dict__["payload_heads"] = real_heads
            builder.__dict__["_event_type_categorical"] = real_types
        assert rows == frame_rows
        return rate(rows, elapsed)

    log(f"journal_frame of {frame_rows:,} rows with vs without the type/metadata columns")
    try:
        f_with, f_without, frame_ratio = await _pairs(lambda: frame(True), lambda: frame(False),
                                                      rounds)
    finally:
        wb.close()
    return [
        Comparison(f"read of a {n // 1000}k-event stream (recovery path), metadata column",
                   fmt_rate(with_meta), "the same statement without the column (same run)",
                   fmt_rate(without), read_ratio, ">=", 0.95,
                   note=f"median of {rounds} per-round ratios"),
        Comparison(f"journal_frame of {frame_rows // 1000}k rows with event_type, "
                   "correlation_id, causation_id", fmt_rate(f_with, "rows/s"),
                   "the same with those columns NULL (same run)", fmt_rate(f_without, "rows/s"),
                   frame_ratio, ">=", 0.95, note=f"median of {rounds} per-round ratios"),
    ]
