"""Recovery scenarios: a 100k-event stream folded back into actor state.

The stream is seeded with ``COPY`` straight into the documented ``events`` table
(typed ``bench.Deposited`` payloads, as an actor writes them).  Two identical streams
are seeded: one without snapshots and one with snapshots every 1,000 events, the
newest at 99,000, so recovery loads it and replays the last 1,000 events (the worst
case of an ``every_n_events(1000)`` policy).

Ours is a :class:`PersistentActor` spawned in an :class:`ActorSystem` on the Postgres
plugins: the time from ``spawn`` to the answer of its first command, which waits for
recovery (``replay_state`` inside: latest snapshot, head, then pages of events).  The reference is
eventsourcing reconstructing an ``Account`` aggregate from its 100k stored events
(``repository.get``; no snapshots, no cache), seeded through eventsourcing itself.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from actorpg_lab import default_codec

from ._db import eventsourcing_env, new_schema, schema_url
from ._events import deposited, es_application, fold
from ._harness import Comparison, Context, fmt_rate, fmt_seconds, interleave, log

__all__ = ["run_recovery", "run_recovery_snapshot"]

_COPY = "COPY events (persistence_id, sequence_nr, payload, tags, timestamp) FROM STDIN"


class _Streams:
    """Two identical seeded streams (with and without snapshots) and the recovery path."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.n = ctx.sizes.recovery_events
        self.every = ctx.sizes.snapshot_every
        self.schema = new_schema(ctx, "recovery")
        self.url = schema_url(ctx.dsn, self.schema)
        self.plain = "account-plain"
        self.snapped = "account-snapped"
        self.layer = ""
        self.recover: Callable[[str], Awaitable[tuple[int, int]]] | None = None
        self._closers: list[Callable[[], Awaitable[None]]] = []

    async def seed(self) -> None:
        import psycopg

        from actorpg_lab.postgres import PostgresJournal, PostgresSnapshotStore

        journal = PostgresJournal(url=self.url)
        snapshots = PostgresSnapshotStore(url=self.url, keep_n=3)
        await journal.highest_seq(self.plain)  # creates the tables
        await snapshots.load_latest(self.plain)
        log(f"seeding 2 streams of {self.n} events with COPY")
        ts = int(time.time() * 1000)
        async with await psycopg.AsyncConnection.connect(self.url) as conn:
            async with conn.cursor() as cur, cur.copy(_COPY) as copy:
                for pid in (self.plain, self.snapped):
                    for seq in range(1, self.n + 1):
                        payload = default_codec.encode(deposited(seq, pid))
                        await copy.write_row((pid, seq, payload, "", ts + seq // 100))
            await conn.commit()
            await conn.execute("ANALYZE events")
            await conn.commit()
        balance = 0
        marks = set(range(self.every, self.n, self.every))
        newest = max(marks) if marks else 0
        for seq in range(1, self.n + 1):
            balance = fold(balance, deposited(seq, self.snapped))
            if seq in marks and seq >= newest - 2 * self.every:  # the 3 newest are kept
                await snapshots.save(self.snapped, seq, balance)
        self.expected_balance = balance
        await journal.close()
        await snapshots.close()
        self.recover, self.layer = await _recoverer(self.url, self._closers)

    async def close(self) -> None:
        for close in self._closers:
            await close()


async def _recoverer(
    url: str, closers: list[Callable[[], Awaitable[None]]]
) -> tuple[Callable[[str], Awaitable[tuple[int, int]]], str]:
    """Recovery of a PersistentActor: spawn it, ask for its state (answered after recovery).

    The system and its pool are opened once and stay warm across repeats, as in a running
    service; each recovery spawns a fresh actor and stops it afterwards.
    """
    from ._actors import BenchAccount, close_system, postgres_system

    system = await postgres_system(f"recovery-{uuid.uuid4().hex[:6]}", url, 2)
    closers.append(lambda: close_system(system))

    async def recover(pid: str) -> tuple[int, int]:
        ref = system.spawn(BenchAccount(pid))
        try:
            state = await ref.ask(("get",))
        finally:
            await ref.stop()
        actor: Any = ref.actor
        return state, actor.last_recovery.events_applied

    return recover, "PersistentActor (spawn + first ask; replay_state inside)"


async def _timed(recover: Callable[[str], Awaitable[tuple[int, int]]], pid: str,
                 expected: int) -> float:
    started = time.perf_counter()
    state, _ = await recover(pid)
    elapsed = time.perf_counter() - started
    if state != expected:
        raise AssertionError(f"recovered state {state!r} != expected {expected!r} for {pid}")
    return elapsed


class _EsStream:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.schema = new_schema(ctx, "es_recovery")
        self.app: Any = None
        self.id: Any = None

    def seed(self) -> None:
        n = self.ctx.sizes.es_recovery_events
        self.app = es_application(eventsourcing_env(self.ctx.dsn, self.schema))
        log(f"seeding eventsourcing with one aggregate of {n} events")
        account = self.app.Account(f"acc-{uuid.uuid4().hex[:6]}")
        per_save = 500  # larger saves stall in psycopg pipeline mode here
        for start in range(0, n, per_save):
            for i in range(start, min(n, start + per_save)):
                account.deposit(deposited(i + 1).amount, "monthly salary")
            self.app.save(account)
        self.id = account.id
        self.balance = account.balance
        self.events = n

    def reconstruct(self) -> float:
        started = time.perf_counter()
        account = self.app.repository.get(self.id)
        elapsed = time.perf_counter() - started
        if account.balance != self.balance:
            raise AssertionError("eventsourcing reconstruction gave a different balance")
        return elapsed


async def _prepare(ctx: Context) -> _Streams:
    streams: _Streams | None = ctx.extra.get("recovery_streams")
    if streams is None:
        streams = _Streams(ctx)
        ctx.cleanups.append(streams.close)
        await streams.seed()
        ctx.extra["recovery_streams"] = streams
    return streams


async def run_recovery(ctx: Context) -> list[Comparison]:
    streams = await _prepare(ctx)
    es = _EsStream(ctx)
    es.seed()
    assert streams.recover is not None
    recover = streams.recover
    n = streams.n
    log(f"recovery of {n} events (no snapshot): ours ({streams.layer}) vs eventsourcing")

    async def ours() -> float:
        return n / await _timed(recover, streams.plain, streams.expected_balance)

    async def theirs() -> float:
        return es.events / es.reconstruct()

    rates = await interleave({"ours": ours, "es": theirs}, ctx.sizes.repeats)
    es.app.close()
    ctx.extra["recovery_seconds"] = n / rates["ours"]
    return [
        Comparison(f"recovery of a {n // 1000}k-event stream, no snapshot",
                   f"{fmt_rate(rates['ours'])} ({fmt_seconds(n / rates['ours'])})",
                   "eventsourcing aggregate reconstruction",
                   fmt_rate(rates["es"]), rates["ours"] / rates["es"], ">=", 5.0,
                   note=f"via {streams.layer.split(' ')[0]}"),
    ]


async def run_recovery_snapshot(ctx: Context) -> list[Comparison]:
    streams = await _prepare(ctx)
    assert streams.recover is not None
    recover = streams.recover
    log(f"recovery with a snapshot every {streams.every} vs without ({streams.layer})")
    times = await interleave(
        {
            "snap": lambda: _timed(recover, streams.snapped, streams.expected_balance),
            "plain": lambda: _timed(recover, streams.plain, streams.expected_balance),
        },
        ctx.sizes.repeats,
    )
    return [
        Comparison(f"recovery of the same stream, snapshot every {streams.every}",
                   fmt_seconds(times["snap"]), "no-snapshot recovery (ours, same run)",
                   fmt_seconds(times["plain"]), times["snap"] / times["plain"], "<=", 1 / 40,
                   note=f"via {streams.layer.split(' ')[0]}"),
    ]
