"""``python -m bench._profile_append``: where the time of one single-event append goes.

Runs on a throw-away embedded PostgreSQL (or ``ACTORPG_DSN``) and measures, per call,
the wall time, this process's CPU time and the CPU time of the server backend that
served the call (``/proc/<pid>/stat`` of ``pg_backend_pid()``: the server runs on the
same machine), for several ways of doing "one durable commit per event":

* ``sync_bare`` / ``async_bare``: the bench's bare INSERT on a sync / async psycopg
  connection (the references of ``append_single``);
* ``raw_bare``: the same INSERT through psycopg's libpq wrapper (``pgconn``) on an
  asyncio loop, waiting for the socket with ``loop.add_reader`` (what the async
  psycopg path costs above the wire);
* ``sync_ours_sql``: the journal's own one-event statement on a sync connection
  (what our SQL costs the server above the bare INSERT);
* ``append``: ``PostgresJournal.append`` (default pool), and ``append_nocoalesce``;
* ``append_psycopg``: the same journal code with the one-event statement sent the way
  it was before the warm prepared path (psycopg's async ``execute`` on a connection
  checked out of the pool per call): the in-process A/B of that change.

Cases run in interleaved rounds (order reversed every other round); the figures are
medians over rounds.  ``--calls`` per round, ``--rounds`` rounds; ``--uvloop`` runs the
async cases on uvloop when it is installed.  Prints one markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from actorpg_lab import JournalEntry, default_codec

from ._db import new_schema, provide_server, schema_url
from ._events import deposited
from ._harness import Context, Sizes

_INSERT = ("INSERT INTO bare_events (persistence_id, sequence_nr, payload, tags, timestamp) "
           "VALUES (%s, %s, %s, %s, %s)")
_RAW_INSERT = (b"INSERT INTO bare_events (persistence_id, sequence_nr, payload, tags, timestamp)"
               b" VALUES ($1, $2, $3, $4, $5)")


def backend_cpu(pid: int) -> float:
    """CPU time a server process has run, in seconds (``/proc/<pid>/schedstat``, ns
    resolution; 0 when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except OSError:
        return 0.0


class Probe:
    def __init__(self, url: str, calls: int) -> None:
        self.url = url
        self.calls = calls
        self.payload = default_codec.encode(deposited(1))

    async def open(self) -> None:
        import psycopg

        from actorpg_lab.postgres import PostgresJournal

        self.journal = PostgresJournal(url=self.url)
        self.journal_nc = PostgresJournal(url=self.url, coalesce_appends=False)
        self.journal_pg = PostgresJournal(url=self.url)
        self.journal_pg.database.run_prepared = _psycopg_transport(  # type: ignore[method-assign]
            self.journal_pg)
        await self.journal_pg.highest_seq("warm-up")
        await self.journal.highest_seq("warm-up")
        await self.journal_nc.highest_seq("warm-up")
        self.aconn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        self.sconn = psycopg.connect(self.url, autocommit=True)
        self.rconn = psycopg.connect(self.url, autocommit=True)
        self.sconn.execute("CREATE TABLE bare_events (LIKE events INCLUDING ALL)")
        self.sconn.execute("ALTER TABLE bare_events DROP COLUMN IF EXISTS position")
        self.pids = {
            "async_bare": await self._apid(self.aconn),
            "sync_bare": self._spid(self.sconn),
            "raw_bare": self._spid(self.rconn),
            "sync_ours_sql": self._spid(self.sconn),
            "append": await self._journal_pid(self.journal),
            "append_nocoalesce": await self._journal_pid(self.journal_nc),
            "append_psycopg": await self._journal_pid(self.journal_pg),
        }
        self.ours_sql = self.journal._append_one_untagged_sql

    async def close(self) -> None:
        await self.journal.close()
        await self.journal_nc.close()
        await self.journal_pg.close()
        await self.aconn.close()
        self.sconn.close()
        self.rconn.close()

    @staticmethod
    async def _apid(conn: Any) -> int:
        cur = await conn.execute("SELECT pg_backend_pid()")
        row = await cur.fetchone()
        return int(row[0])

    @staticmethod
    def _spid(conn: Any) -> int:
        return int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])

    @staticmethod
    async def _journal_pid(journal: Any) -> int:
        row = await journal._db.fetch_one("pid", b"SELECT pg_backend_pid()", ())
        return int(row[0])

    # -- cases: each runs self.calls calls -------------------------------------------
    async def sync_bare(self) -> None:
        pid, payload, ts = f"s-{uuid.uuid4().hex[:10]}", self.payload, int(time.time() * 1000)
        execute = self.sconn.execute
        for seq in range(1, self.calls + 1):
            execute(_INSERT, (pid, seq, payload, "", ts))

    async def async_bare(self) -> None:
        pid, payload, ts = f"a-{uuid.uuid4().hex[:10]}", self.payload, int(time.time() * 1000)
        execute = self.aconn.execute
        for seq in range(1, self.calls + 1):
            await execute(_INSERT, (pid, seq, payload, "", ts))

    async def raw_bare(self) -> None:
        from psycopg import pq

        pgconn = self.rconn.pgconn
        loop = asyncio.get_running_loop()
        fd = pgconn.socket
        pid = f"r-{uuid.uuid4().hex[:10]}".encode()
        payload, ts = self.payload.encode(), str(int(time.time() * 1000)).encode()
        name = b"raw_bare_insert"
        if not getattr(self, "_raw_prepared", False):
            res = pgconn.prepare(name, _RAW_INSERT)
            assert res.status == pq.ExecStatus.COMMAND_OK, res.error_message
            self._raw_prepared = True
        for seq in range(1, self.calls + 1):
            pgconn.send_query_prepared(name, [pid, str(seq).encode(), payload, b"", ts])
            while True:
                pgconn.consume_input()
                if not pgconn.is_busy():
                    break
                fut = loop.create_future()
                loop.add_reader(fd, fut.set_result, None)
                try:
                    await fut
                finally:
                    loop.remove_reader(fd)
            result = pgconn.get_result()
            assert result is not None and result.status == pq.ExecStatus.COMMAND_OK, result
            while pgconn.get_result() is not None:
                pass

    async def sync_ours_sql(self) -> None:
        pid, payload = f"o-{uuid.uuid4().hex[:10]}", self.payload
        execute = self.sconn.execute
        channel = self.journal.channel
        for seq in range(self.calls):
            execute(self.ours_sql, {"pid": pid, "expected": seq, "payload": payload,
                                    "notify": True, "channel": channel})

    async def _append(self, journal: Any) -> None:
        await one_event_appends(journal, self.calls)

    async def append(self) -> None:
        await self._append(self.journal)

    async def append_nocoalesce(self) -> None:
        await self._append(self.journal_nc)

    async def append_psycopg(self) -> None:
        await self._append(self.journal_pg)


async def one_event_appends(journal: Any, calls: int, *, keyed: bool = False) -> None:
    """``calls`` one-event ``journal.append`` calls to a new stream (each with an
    idempotency key when ``keyed``): the client-side case the profiles share."""
    pid = f"j-{uuid.uuid4().hex[:10]}"
    append = journal.append
    entries = [[JournalEntry(deposited(i))] for i in range(calls)]
    for seq, entry in enumerate(entries):
        await append(pid, entry, seq, idempotency_key=f"cmd-{seq}" if keyed else None)


def _psycopg_transport(journal: Any) -> Any:
    """``Database.run_prepared`` as the one-event statement ran before it existed."""
    texts = {id(journal._append_one_prepared): journal._append_one_sql,
             id(journal._append_one_untagged_prepared): journal._append_one_untagged_sql}
    db = journal.database

    async def run_prepared(operation: str, query: Any, params: Any) -> tuple[list[Any], int]:
        text = texts[id(query)]

        async def work(conn: Any) -> list[Any]:
            cur = await conn.execute(text, params)
            rows: list[Any] = await cur.fetchall()
            return rows

        return await db.run(operation, work), 1

    return run_prepared


async def python_costs(calls: int) -> dict[str, float]:
    """Per-call CPU of the journal's Python work without a database (µs)."""
    from actorpg_lab._validation import Limits, validate_entries

    limits = Limits.of(None)
    entries = [[JournalEntry(deposited(i))] for i in range(calls)]
    out: dict[str, float] = {}
    t = time.process_time()
    for e in entries:
        validate_entries(e, limits)
    out["validate_entries"] = (time.process_time() - t) / calls * 1e6
    t = time.process_time()
    for e in entries:
        default_codec.encode(e[0].event)
    out["encode"] = (time.process_time() - t) / calls * 1e6
    return out


async def main_async(args: argparse.Namespace, dsn: str) -> None:
    ctx = Context(dsn=dsn, sizes=Sizes.quick(), quick=True)
    schema = new_schema(ctx, "profile")
    probe = Probe(schema_url(dsn, schema), args.calls)
    await probe.open()
    cases: dict[str, Callable[[], Awaitable[None]]] = {
        name: getattr(probe, name) for name in args.cases}
    results: dict[str, dict[str, list[float]]] = {
        name: {"wall": [], "cpu": [], "server": []} for name in cases}
    for name in cases:  # warm-up (prepares statements, fills caches)
        await cases[name]()
    for r in range(args.rounds):
        order = list(cases) if r % 2 == 0 else list(cases)[::-1]
        for name in order:
            spid = probe.pids[name]
            s0, c0, w0 = backend_cpu(spid), time.process_time(), time.perf_counter()
            await cases[name]()
            w1, c1, s1 = time.perf_counter(), time.process_time(), backend_cpu(spid)
            n = args.calls
            results[name]["wall"].append((w1 - w0) / n * 1e6)
            results[name]["cpu"].append((c1 - c0) / n * 1e6)
            results[name]["server"].append((s1 - s0) / n * 1e6)
    await probe.close()
    loop_name = type(asyncio.get_running_loop()).__module__.split(".")[0]
    print(f"| case ({loop_name} loop) | wall µs/call | client CPU µs/call | "
          "server backend CPU µs/call |")
    print("|---|---:|---:|---:|")
    for name, per in results.items():
        print(f"| {name} | {statistics.median(per['wall']):.0f} | "
              f"{statistics.median(per['cpu']):.0f} | {statistics.median(per['server']):.0f} |")
    for key, value in (await python_costs(args.calls)).items():
        print(f"| python only: {key} | | {value:.1f} | |")
    print(f"\n{args.rounds} interleaved rounds of {args.calls} calls, medians; load average "
          f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._profile_append")
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--cases", nargs="*", default=[
        "sync_bare", "async_bare", "raw_bare", "sync_ours_sql", "append", "append_psycopg"])
    args = parser.parse_args()
    with provide_server() as dsn:
        if args.uvloop:
            import uvloop

            uvloop.run(main_async(args, dsn))
        else:
            asyncio.run(main_async(args, dsn))


if __name__ == "__main__":
    main()
