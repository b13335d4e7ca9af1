"""Write scenarios: appends of 1 event per call (one writer, 16 actors) and 100-event batches.

References, all on one dedicated psycopg connection (autocommit, so every statement
is its own transaction = one commit = one WAL flush, like every append of ours):

* ``bare INSERT``: one single-row ``INSERT`` per commit into a table with exactly the
  events table's definition, the same payload text, precomputed (no JSON encoding);
* ``COPY``: the same rows of a batch streamed with ``COPY ... FROM STDIN`` in one
  transaction per batch (the same unit of atomicity as a ``persist_all``);
* eventsourcing 9.5 (``eventsourcing.postgres``): an ``Account`` aggregate that
  records 1 event per ``save`` or 100 events per ``save``.

Ours is :meth:`PostgresJournal.append` on its own pool (1 event per call, or 100
events per call for the batch scenario) with the default codec: typed events,
untagged (the references store no tag rows either).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from actorpg_lab import JournalEntry, default_codec

from ._db import eventsourcing_env, new_schema, schema_url
from ._events import deposited, es_application
from ._harness import Comparison, Context, fmt_rate, interleave, log, rate

__all__ = ["run_append_concurrent", "run_append_single", "run_batches"]

_BARE_TABLE = "bare_events"
_INSERT = (
    f"INSERT INTO {_BARE_TABLE} (persistence_id, sequence_nr, payload, tags, timestamp) "
    "VALUES (%s, %s, %s, %s, %s)"
)
_COPY = f"COPY {_BARE_TABLE} (persistence_id, sequence_nr, payload, tags, timestamp) FROM STDIN"


class _Writers:
    """Our journal, the bare connection and the eventsourcing app, in one schema."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.schema = new_schema(ctx, "writes")
        self.url = schema_url(ctx.dsn, self.schema)
        self.journal: Any = None
        self.conn: Any = None
        self.app: Any = None
        self.payload = default_codec.encode(deposited(1))

    async def __aenter__(self) -> _Writers:
        import psycopg

        from actorpg_lab.postgres import PostgresJournal

        size = max(16, self.ctx.sizes.concurrent_actors)
        self.journal = PostgresJournal(
            url=self.url, pool_config={"min_size": size, "max_size": size}
        )
        await self.journal.highest_seq("warm-up")  # opens the pool, creates the tables
        self.conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        await self.conn.execute(
            f"CREATE TABLE {_BARE_TABLE} (LIKE events INCLUDING ALL)"
        )
        self.app = es_application(eventsourcing_env(self.ctx.dsn, self.schema))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.journal.close()
        await self.conn.close()
        self.app.close()

    # -- ours -------------------------------------------------------------------------
    async def ours_single(self, n: int) -> float:
        pid = f"single-{uuid.uuid4().hex[:12]}"
        append = self.journal.append
        entries = [[JournalEntry(deposited(i))] for i in range(n)]
        started = time.perf_counter()
        for seq, entry in enumerate(entries):
            await append(pid, entry, seq)
        return rate(n, time.perf_counter() - started)

    async def ours_concurrent(self, actors: int, calls: int) -> float:
        run = uuid.uuid4().hex[:12]

        async def actor(k: int) -> None:
            pid = f"conc-{run}-{k}"
            for seq in range(calls):
                await self.journal.append(pid, [JournalEntry(deposited(seq))], seq)

        started = time.perf_counter()
        await asyncio.gather(*(actor(k) for k in range(actors)))
        return rate(actors * calls, time.perf_counter() - started)

    async def ours_batches(self, batches: int, size: int) -> float:
        pid = f"batch-{uuid.uuid4().hex[:12]}"
        started = time.perf_counter()
        for b in range(batches):
            entries = [JournalEntry(deposited(b * size + i)) for i in range(size)]
            await self.journal.append(pid, entries, b * size)
        return rate(batches * size, time.perf_counter() - started)

    # -- the physical limit ------------------------------------------------------------
    async def bare_inserts(self, n: int) -> float:
        pid = f"bare-{uuid.uuid4().hex[:12]}"
        payload, ts = self.payload, int(time.time() * 1000)
        execute = self.conn.execute
        started = time.perf_counter()
        for seq in range(1, n + 1):
            await execute(_INSERT, (pid, seq, payload, "", ts))
        return rate(n, time.perf_counter() - started)

    async def copy_batches(self, batches: int, size: int) -> float:
        pid = f"copy-{uuid.uuid4().hex[:12]}"
        payload, ts = self.payload, int(time.time() * 1000)
        started = time.perf_counter()
        for b in range(batches):
            async with self.conn.transaction(), self.conn.cursor() as cur:
                async with cur.copy(_COPY) as copy:
                    for i in range(1, size + 1):
                        await copy.write_row((pid, b * size + i, payload, "", ts))
        return rate(batches * size, time.perf_counter() - started)

    # -- eventsourcing ----------------------------------------------------------------
    async def es_saves(self, saves: int, per_save: int) -> float:
        app = self.app
        account = app.Account("acc-1")
        app.save(account)
        started = time.perf_counter()
        for s in range(saves):
            for i in range(per_save):
                account.deposit(s * per_save + i + 1, "monthly salary")
            app.save(account)
        return rate(saves * per_save, time.perf_counter() - started)


async def run_append_single(ctx: Context) -> list[Comparison]:
    s = ctx.sizes
    async with _Writers(ctx) as w:
        log("append 1/call, one writer: ours vs bare INSERT vs eventsourcing 1/save")
        rates = await interleave(
            {
                "ours": lambda: w.ours_single(s.append_calls),
                "bare": lambda: w.bare_inserts(s.append_calls),
                "es": lambda: w.es_saves(s.es_single_saves, 1),
            },
            s.repeats,
        )
    ctx.extra["single_writer_rate"] = rates["ours"]
    name = "append 1 event/call, one writer"
    return [
        Comparison(name, fmt_rate(rates["ours"]), "bare INSERT per commit (psycopg)",
                   fmt_rate(rates["bare"]), rates["ours"] / rates["bare"], ">=", 0.8),
        Comparison(name, fmt_rate(rates["ours"]), "eventsourcing, 1 event per save",
                   fmt_rate(rates["es"]), rates["ours"] / rates["es"], ">=", 4.0),
    ]


async def run_append_concurrent(ctx: Context) -> list[Comparison]:
    s = ctx.sizes
    async with _Writers(ctx) as w:
        log(f"append 1/call, {s.concurrent_actors} actors on one pool vs one writer")
        single_calls = s.concurrent_actors * s.concurrent_calls
        rates = await interleave(
            {
                "concurrent": lambda: w.ours_concurrent(s.concurrent_actors, s.concurrent_calls),
                "single": lambda: w.ours_single(single_calls),
            },
            s.repeats,
        )
    return [
        Comparison(f"append 1 event/call, {s.concurrent_actors} actors, one pool",
                   fmt_rate(rates["concurrent"]), "ours, one writer (same run)",
                   fmt_rate(rates["single"]), rates["concurrent"] / rates["single"], ">=", 3.0),
    ]


async def run_batches(ctx: Context) -> list[Comparison]:
    s = ctx.sizes
    async with _Writers(ctx) as w:
        log(f"persist_all {s.batch_size}-event batches: ours vs COPY vs eventsourcing")
        rates = await interleave(
            {
                "ours": lambda: w.ours_batches(s.batches, s.batch_size),
                "copy": lambda: w.copy_batches(s.batches, s.batch_size),
                "es": lambda: w.es_saves(s.es_batches, s.batch_size),
            },
            s.repeats,
        )
    name = f"persist_all, {s.batch_size}-event batches"
    return [
        Comparison(name, fmt_rate(rates["ours"]),
                   f"COPY, {s.batch_size} rows per transaction (psycopg)",
                   fmt_rate(rates["copy"]), rates["ours"] / rates["copy"], ">=", 0.4),
        Comparison(name, fmt_rate(rates["ours"]),
                   f"eventsourcing, {s.batch_size} events per save",
                   fmt_rate(rates["es"]), rates["ours"] / rates["es"], ">=", 8.0),
    ]
