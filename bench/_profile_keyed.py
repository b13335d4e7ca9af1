"""``python -m bench._profile_keyed``: where the time of one keyed append goes.

The companion of :mod:`bench._profile_append` for ``append(..., idempotency_key=...)``
(the ``keyed_appends`` row).  Per call: the wall time, this process's CPU time and the
CPU time of the whole server (every process ``pg_stat_activity`` lists: the backends,
the WAL writer, ...; the server runs on the same machine).  Cases, 1 typed untagged
event per call as in the bench row:

* ``append`` / ``append_keyed``: ``PostgresJournal.append`` without / with a key;
* ``sql_unkeyed`` / ``sql_keyed``: the journal's one-event unkeyed statement and its
  keyed statement for the same event on a synchronous psycopg connection, prepared
  (``prepare=True``): what the SQL costs without the journal's Python around it;
* ``sql_keyed_generic``: ``sql_keyed`` with ``plan_cache_mode = force_generic_plan``
  (the difference is what planning the statement at every execution costs);
* ``sql_keyed_tagged``: the one-event keyed statement for tagged events (clock and
  tag-row CTEs) with the same untagged event;
* ``bare`` / ``bare_two_rows``: a bare one-row INSERT, and the same INSERT plus a row in
  a copy of the idempotency table in the same statement (the physical floor of "an
  event and its key in one commit"); ``bare_two_rows_brin`` / ``_pk_only``: that copy
  with a BRIN index on ``created_at`` instead of the b-tree / with its primary key only.

Besides the times, the WAL each call writes (``pg_current_wal_insert_lsn()`` before and
after a round, divided by the calls; other sessions of the server are counted too).

Cases run in interleaved rounds (order reversed every other round); the figures are
medians over rounds.  Prints one markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
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
from ._profile_append import backend_cpu, one_event_appends

_BARE = ("INSERT INTO bare_events (persistence_id, sequence_nr, payload, tags, timestamp) "
         "VALUES (%s, %s, %s, '', %s)")
_BARE_TWO = ("WITH e AS (INSERT INTO bare_events (persistence_id, sequence_nr, payload, tags, "
             "timestamp) VALUES (%(pid)s, %(seq)s, %(payload)s, '', %(ts)s) RETURNING 1) "
             "INSERT INTO bare_idempotency (persistence_id, key, first_seq, events, digest) "
             "SELECT %(pid)s, %(key)s, %(seq)s, 1, %(digest)s FROM e")


class ServerProbe:
    """What :func:`measure` asks of a probe besides its cases, over its sync ``conn``."""

    conn: Any

    def server_pids(self) -> list[int]:
        return [int(r[0]) for r in self.conn.execute(
            "SELECT pid FROM pg_stat_activity").fetchall()]

    def wal_lsn(self) -> str:
        """The server's WAL insert position now."""
        row = self.conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
        assert row is not None
        return str(row[0])

    def wal_bytes(self, since: str) -> int:
        """WAL bytes written since the position ``since``."""
        row = self.conn.execute("SELECT pg_current_wal_insert_lsn() - %s::pg_lsn",
                                [since]).fetchone()
        assert row is not None
        return int(row[0])


class Probe(ServerProbe):
    """The connections and journal the cases run on."""

    def __init__(self, url: str, calls: int) -> None:
        self.url = url
        self.calls = calls
        self.payload = default_codec.encode(deposited(1))

    async def open(self) -> None:
        import psycopg

        from actorpg_lab.postgres import PostgresJournal

        self.journal = PostgresJournal(url=self.url)
        await self.journal.highest_seq("warm-up")
        await self.journal.append("warm-up", [JournalEntry(deposited(0))], 0,
                                  idempotency_key="warm-up")
        self.conn = psycopg.connect(self.url, autocommit=True)
        self.generic = psycopg.connect(self.url, autocommit=True)
        self.generic.execute("SET plan_cache_mode = force_generic_plan")
        self.conn.execute("CREATE TABLE bare_events (LIKE events INCLUDING ALL)")
        self.conn.execute("ALTER TABLE bare_events DROP COLUMN IF EXISTS position")
        self.conn.execute("CREATE TABLE bare_idempotency (LIKE events_idempotency INCLUDING ALL)")
        for name, index in (("bare_idempotency_brin", "USING brin (created_at)"),
                            ("bare_idempotency_pk", None)):
            self.conn.execute(f"CREATE TABLE {name} (LIKE events_idempotency INCLUDING DEFAULTS,"
                              " PRIMARY KEY (persistence_id, key))")
            if index:
                self.conn.execute(f"CREATE INDEX ON {name} {index}")
        entry = JournalEntry(deposited(1))
        request = self.journal._request("x", [entry], 0)
        assert request is not None
        self.keys = request.keys

    async def close(self) -> None:
        await self.journal.close()
        self.conn.close()
        self.generic.close()

    # -- cases: each runs self.calls calls -------------------------------------------
    async def _append(self, keyed: bool) -> None:
        await one_event_appends(self.journal, self.calls, keyed=keyed)

    async def append(self) -> None:
        await self._append(False)

    async def append_keyed(self) -> None:
        await self._append(True)

    async def sql_unkeyed(self) -> None:
        pid, payload = f"u-{uuid.uuid4().hex[:10]}", self.payload
        query, channel, k1 = self.journal._append_one_untagged_sql, self.journal.channel, \
            self.keys[0] if self.keys else None
        execute = self.conn.execute
        for seq in range(self.calls):
            execute(query, {"pid": pid, "expected": seq, "payload": payload, "notify": True,
                            "channel": channel, "k1": k1}, prepare=True)

    def _keyed(self, conn: Any, query: Any = None) -> None:
        journal = self.journal
        pid, payload = f"k-{uuid.uuid4().hex[:10]}", self.payload
        query = query or _keyed_statement(journal)
        execute = conn.execute
        for seq in range(self.calls):
            execute(query, _keyed_params(journal, pid, seq, payload, self.keys), prepare=True)

    async def sql_keyed(self) -> None:
        self._keyed(self.conn)

    async def sql_keyed_generic(self) -> None:
        self._keyed(self.generic)

    async def sql_keyed_tagged(self) -> None:
        """The one-event keyed statement for tagged events (clock and tag-row CTEs) with
        the same untagged event."""
        self._keyed(self.conn, self.journal._append_one_keyed_sql)

    async def bare(self) -> None:
        pid, payload, ts = f"b-{uuid.uuid4().hex[:10]}", self.payload, int(time.time() * 1000)
        execute = self.conn.execute
        for seq in range(1, self.calls + 1):
            execute(_BARE, (pid, seq, payload, ts), prepare=True)

    def _two_rows(self, table: str) -> None:
        pid, payload, ts = f"t-{uuid.uuid4().hex[:10]}", self.payload, int(time.time() * 1000)
        execute = self.conn.execute
        digest = hashlib.sha256(payload.encode()).digest()
        query = _BARE_TWO.replace("bare_idempotency", table)
        for seq in range(1, self.calls + 1):
            execute(query, {"pid": pid, "seq": seq, "payload": payload, "ts": ts,
                            "key": f"cmd-{seq}", "digest": digest}, prepare=True)

    async def bare_two_rows(self) -> None:
        self._two_rows("bare_idempotency")

    async def bare_two_rows_brin(self) -> None:
        """The key table with a BRIN index on created_at instead of the b-tree."""
        self._two_rows("bare_idempotency_brin")

    async def bare_two_rows_pk_only(self) -> None:
        """The key table with its primary key only (no created_at index)."""
        self._two_rows("bare_idempotency_pk")


def _keyed_statement(journal: Any) -> Any:
    """The statement a one-event keyed append runs (whichever this version has)."""
    for name in ("_append_one_keyed_untagged_sql", "_append_one_keyed_sql"):
        if hasattr(journal, name):
            return getattr(journal, name)
    return journal._append_keyed_sql


def _keyed_params(journal: Any, pid: str, seq: int, payload: str,
                  keys: list[int]) -> dict[str, Any]:
    digest = hashlib.sha256(payload.encode()).digest()
    params: dict[str, Any] = {
        "pid": pid, "expected": seq, "payload": payload, "payloads": [payload],
        "tags_csv": "" if hasattr(journal, "_append_one_keyed_sql") else [""],
        "keys": keys, "key": f"cmd-{seq}", "n": 1, "digest": digest, "notify": True,
        "channel": journal.channel, "metas": [None], "meta": None,
    }
    for i in range(4):
        params[f"k{i + 1}"] = keys[i] if i < len(keys) else None
    return params


async def measure(probe: Any, cases: dict[str, Callable[[], Awaitable[None]]],
                  rounds: int, calls: int) -> dict[str, dict[str, list[float]]]:
    """Run ``cases`` (each ``calls`` calls) in ``rounds`` interleaved rounds (order
    reversed every other round, one warm-up round first) and return per case its wall,
    client CPU, whole-server CPU (µs per call) and WAL bytes per call, one value a round.
    ``probe`` gives ``server_pids()``, ``wal_lsn()`` and ``wal_bytes(since)``."""
    results: dict[str, dict[str, list[float]]] = {
        name: {"wall": [], "cpu": [], "server": [], "wal": []} for name in cases}
    for name in cases:  # warm-up (prepares statements, fills caches)
        await cases[name]()
    for r in range(rounds):
        order = list(cases) if r % 2 == 0 else list(cases)[::-1]
        for name in order:
            pids = probe.server_pids()
            l0 = probe.wal_lsn()
            s0 = sum(backend_cpu(p) for p in pids)
            c0, w0 = time.process_time(), time.perf_counter()
            await cases[name]()
            w1, c1 = time.perf_counter(), time.process_time()
            s1 = sum(backend_cpu(p) for p in pids)
            results[name]["wal"].append(probe.wal_bytes(l0) / calls)
            results[name]["wall"].append((w1 - w0) / calls * 1e6)
            results[name]["cpu"].append((c1 - c0) / calls * 1e6)
            results[name]["server"].append((s1 - s0) / calls * 1e6)
    return results


def print_table(results: dict[str, dict[str, list[float]]], rounds: int, calls: int) -> None:
    """The medians of :func:`measure` as one markdown table, with the load average."""
    print("| case | wall µs/call | client CPU µs/call | server CPU µs/call | WAL bytes/call |")
    print("|---|---:|---:|---:|---:|")
    for name, per in results.items():
        print(f"| {name} | {statistics.median(per['wall']):.0f} | "
              f"{statistics.median(per['cpu']):.0f} | {statistics.median(per['server']):.0f} | "
              f"{statistics.median(per['wal']):.0f} |")
    print(f"\n{rounds} interleaved rounds of {calls} calls, medians; load average "
          f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


async def main_async(args: argparse.Namespace, dsn: str) -> None:
    ctx = Context(dsn=dsn, sizes=Sizes.quick(), quick=True)
    schema = new_schema(ctx, "profile")
    probe = Probe(schema_url(dsn, schema), args.calls)
    await probe.open()
    cases: dict[str, Callable[[], Awaitable[None]]] = {
        name: getattr(probe, name) for name in args.cases}
    results = await measure(probe, cases, args.rounds, args.calls)
    await probe.close()
    print_table(results, args.rounds, args.calls)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._profile_keyed")
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cases", nargs="*", default=[
        "bare", "bare_two_rows", "sql_unkeyed", "sql_keyed", "sql_keyed_tagged", "append",
        "append_keyed"])
    args = parser.parse_args()
    with provide_server() as dsn:
        asyncio.run(main_async(args, dsn))


if __name__ == "__main__":
    main()
