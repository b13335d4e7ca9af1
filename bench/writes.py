"""Write scenarios: appends of 1 event per call (one writer, 16 actors) and 100-event batches.

References, all on one dedicated psycopg connection (autocommit, so every statement
is its own transaction = one commit = one WAL flush, like every append of ours):

* ``bare INSERT``: one single-row ``INSERT`` per commit into a table with the seed
  events table's definition (ours minus the ``position`` column and its index), the
  same payload text, precomputed (no JSON encoding), measured twice: on an async
  psycopg connection (``await conn.execute``) and on a synchronous one
  (``conn.execute``, no event loop in between; psycopg prepares the statement after
  5 executions on both); the single-writer row divides by the FASTER of the two in
  each run, what a user would write instead of the journal;
* ``COPY``: the same rows of a batch streamed with ``COPY ... FROM STDIN`` in one
  transaction per batch (the same unit of atomicity as a ``persist_all``);
  also into a twin of the journal's events table (``LIKE events INCLUDING ALL``: the
  position column and the by-position and by-type indexes), the limit for rows that
  can be read by tag, type and position;
* eventsourcing 9.5 (``eventsourcing.postgres``): an ``Account`` aggregate that
  records 1 event per ``save`` or 100 events per ``save``.

Ours: for "one writer", :meth:`PostgresJournal.append` called directly (1 event per
call, the journal's default pool settings); for "16 actors" and "persist_all", real
:class:`PersistentActor` s in an :class:`ActorSystem` whose Postgres plugins share one
pool (16 connections), driven by ``ask`` (one client task per actor, each waiting for
its answer before sending the next command).  Events are typed (``bench.Deposited``
through the default codec) and untagged (the references store no tag rows either).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from actorpg_lab import JournalEntry, default_codec

from ._actors import BenchAccount, close_system, postgres_system
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
#: The events table's twin WITH the position column and every index of the journal's
#: (by position, by type): what the same COPY costs when the rows get the journal's
#: indexes, i.e. the limit for rows a journal can read by tag, type and position.
_INDEXED_TABLE = "indexed_events"
_COPY_INDEXED = (f"COPY {_INDEXED_TABLE} (persistence_id, sequence_nr, payload, tags, timestamp) "
                 "FROM STDIN")


class _Writers:
    """Our journal, the bare connection and the eventsourcing app, in one schema."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.schema = new_schema(ctx, "writes")
        self.url = schema_url(ctx.dsn, self.schema)
        self.solo_journal: Any = None
        self.conn: Any = None
        self.sync_conn: Any = None
        self.app: Any = None
        self.payload = default_codec.encode(deposited(1))

    async def __aenter__(self) -> _Writers:
        import psycopg

        from actorpg_lab.postgres import PostgresJournal

        size = max(16, self.ctx.sizes.concurrent_actors)
        # The lone writer gets a journal with the default pool settings, as a user would.
        self.solo_journal = PostgresJournal(url=self.url)
        await self.solo_journal.highest_seq("warm-up")  # opens the pool, creates the tables
        self.conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        self.sync_conn = psycopg.connect(self.url, autocommit=True)
        await self.conn.execute(
            f"CREATE TABLE {_BARE_TABLE} (LIKE events INCLUDING ALL)"
        )
        # The reference stays the seed table: without the position column (and with it
        # its ordering index), so the ratios show what positions cost our writes.
        await self.conn.execute(f"ALTER TABLE {_BARE_TABLE} DROP COLUMN IF EXISTS position")
        await self.conn.execute(f"CREATE TABLE {_INDEXED_TABLE} (LIKE events INCLUDING ALL)")
        self.app = es_application(eventsourcing_env(self.ctx.dsn, self.schema))
        self.system = await postgres_system(f"bench-{uuid.uuid4().hex[:6]}", self.url, size)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await close_system(self.system)
        await self.solo_journal.close()
        await self.conn.close()
        self.sync_conn.close()
        self.app.close()

    # -- ours -------------------------------------------------------------------------
    async def ours_single(self, n: int) -> float:
        pid = f"single-{uuid.uuid4().hex[:12]}"
        append = self.solo_journal.append
        entries = [[JournalEntry(deposited(i))] for i in range(n)]
        started = time.perf_counter()
        for seq, entry in enumerate(entries):
            await append(pid, entry, seq)
        return rate(n, time.perf_counter() - started)

    async def ours_actors(self, actors: int, calls: int) -> float:
        """``actors`` PersistentActors, each sent ``calls`` one-event commands via ``ask``."""
        run = uuid.uuid4().hex[:10]
        refs = [self.system.spawn(BenchAccount(f"actor-{run}-{k}")) for k in range(actors)]
        await asyncio.gather(*(ref.ask(("get",)) for ref in refs))  # recovered (empty)

        async def client(ref: Any) -> None:
            for i in range(calls):
                await ref.ask(("deposit", i % 1000 + 1))

        started = time.perf_counter()
        await asyncio.gather(*(client(ref) for ref in refs))
        elapsed = time.perf_counter() - started
        await asyncio.gather(*(ref.stop() for ref in refs))
        return rate(actors * calls, elapsed)

    async def ours_persist_all(self, batches: int, size: int) -> float:
        """One PersistentActor handling ``batches`` commands that each ``persist_all`` ``size``."""
        ref = self.system.spawn(BenchAccount(f"batch-{uuid.uuid4().hex[:12]}"))
        await ref.ask(("get",))
        started = time.perf_counter()
        for _ in range(batches):
            await ref.ask(("deposit_many", size))
        elapsed = time.perf_counter() - started
        await ref.stop()
        return rate(batches * size, elapsed)

    # -- the physical limit ------------------------------------------------------------
    async def bare_inserts(self, n: int) -> float:
        pid = f"bare-{uuid.uuid4().hex[:12]}"
        payload, ts = self.payload, int(time.time() * 1000)
        execute = self.conn.execute
        started = time.perf_counter()
        for seq in range(1, n + 1):
            await execute(_INSERT, (pid, seq, payload, "", ts))
        return rate(n, time.perf_counter() - started)

    async def bare_inserts_sync(self, n: int) -> float:
        """The same INSERTs on a synchronous connection (blocks the loop; nothing else runs)."""
        pid = f"bare-sync-{uuid.uuid4().hex[:12]}"
        payload, ts = self.payload, int(time.time() * 1000)
        execute = self.sync_conn.execute
        started = time.perf_counter()
        for seq in range(1, n + 1):
            execute(_INSERT, (pid, seq, payload, "", ts))
        return rate(n, time.perf_counter() - started)

    async def copy_batches(self, batches: int, size: int, *, indexed: bool = False) -> float:
        """COPY ``size`` rows per transaction into the seed table, or (``indexed``) into
        the table with the journal's position column and indexes."""
        pid = f"copy-{uuid.uuid4().hex[:12]}"
        payload, ts = self.payload, int(time.time() * 1000)
        statement = _COPY_INDEXED if indexed else _COPY
        started = time.perf_counter()
        for b in range(batches):
            async with self.conn.transaction(), self.conn.cursor() as cur:
                async with cur.copy(statement) as copy:
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
        log("append 1/call, one writer: ours vs bare INSERT (async, sync) vs eventsourcing")
        rates = await interleave(
            {
                "ours": lambda: w.ours_single(s.append_calls),
                "bare": lambda: w.bare_inserts(s.append_calls),
                "bare_sync": lambda: w.bare_inserts_sync(s.append_calls),
                "es": lambda: w.es_saves(s.es_single_saves, 1),
            },
            s.repeats,
        )
    ctx.extra["single_writer_rate"] = rates["ours"]
    name = "append 1 event/call, one writer (journal.append)"
    best_name, best = max((("async", rates["bare"]), ("sync", rates["bare_sync"])),
                          key=lambda item: item[1])
    other = "sync" if best_name == "async" else "async"
    return [
        Comparison(name, fmt_rate(rates["ours"]),
                   f"bare INSERT per commit (psycopg, faster of sync/async: {best_name})",
                   fmt_rate(best), rates["ours"] / best, ">=", 0.85,
                   note=f"{other}: {fmt_rate(rates['bare' if other == 'async' else 'bare_sync'])}"),
        Comparison(name, fmt_rate(rates["ours"]), "eventsourcing, 1 event per save",
                   fmt_rate(rates["es"]), rates["ours"] / rates["es"], ">=", 4.0,
                   note=_above_limit(4.0 * rates["es"], best, "bare INSERT")),
    ]


def _above_limit(needed: float, limit: float, what: str) -> str:
    """A note when a target rate lies above the physical limit measured in the same run."""
    if needed <= limit:
        return ""
    return f"target needs {fmt_rate(needed)}, above {what} = {fmt_rate(limit)}"


async def run_append_concurrent(ctx: Context) -> list[Comparison]:
    s = ctx.sizes
    async with _Writers(ctx) as w:
        log(f"append 1/call, {s.concurrent_actors} actors on one pool vs 1 actor")
        rates = await interleave(
            {
                "concurrent": lambda: w.ours_actors(s.concurrent_actors, s.concurrent_calls),
                "single": lambda: w.ours_actors(1, s.concurrent_calls * 4),
            },
            s.repeats,
        )
    return [
        Comparison(f"append 1 event/command, {s.concurrent_actors} actors on one pool",
                   fmt_rate(rates["concurrent"]), "ours, 1 actor (same run)",
                   fmt_rate(rates["single"]), rates["concurrent"] / rates["single"], ">=", 3.0),
    ]


async def run_batches(ctx: Context) -> list[Comparison]:
    s = ctx.sizes
    async with _Writers(ctx) as w:
        log(f"persist_all {s.batch_size}-event batches: ours vs COPY (seed table, and with "
            f"the journal's indexes) vs eventsourcing")
        rates = await interleave(
            {
                "ours": lambda: w.ours_persist_all(s.batches, s.batch_size),
                "copy": lambda: w.copy_batches(s.batches, s.batch_size),
                "copy_indexed": lambda: w.copy_batches(s.batches, s.batch_size, indexed=True),
                "es": lambda: w.es_saves(s.es_batches, s.batch_size),
            },
            s.repeats,
        )
    name = f"persist_all of {s.batch_size}-event batches (1 actor)"
    return [
        Comparison(name, fmt_rate(rates["ours"]),
                   f"COPY, {s.batch_size} rows per transaction (psycopg)",
                   fmt_rate(rates["copy"]), rates["ours"] / rates["copy"], ">=", 0.8,
                   note=(f"the same COPY into the journal's indexes: "
                         f"{fmt_rate(rates['copy_indexed'])} = "
                         f"{rates['copy_indexed'] / rates['copy']:.2f}x of it")),
        Comparison(name, fmt_rate(rates["ours"]),
                   f"COPY, {s.batch_size} rows per transaction, into a table with the "
                   f"journal's position column and indexes", fmt_rate(rates["copy_indexed"]),
                   rates["ours"] / rates["copy_indexed"], ">=", 0.8),
        Comparison(name, fmt_rate(rates["ours"]),
                   f"eventsourcing, {s.batch_size} events per save",
                   fmt_rate(rates["es"]), rates["ours"] / rates["es"], ">=", 8.0,
                   note=_above_limit(8.0 * rates["es"], rates["copy"], "COPY")),
    ]
