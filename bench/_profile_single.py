"""``python -m bench._profile_single``: the single-event append's gap to a bare INSERT,
taken apart by A/B removal (issue 24, item 2).

Per call, as :mod:`bench._profile_keyed` measures it (its :func:`~bench._profile_keyed.measure`):
the wall time, this process's CPU time, the CPU time of the whole server and the WAL
bytes.  One typed untagged event per call, as in the ``append_single`` row.

Server side: statements on a synchronous psycopg connection, prepared
(``prepare=True``), so the client's part is the same in every case:

* ``bare``: the bench's reference, one INSERT into the seed table (primary key only);
* ``plain_pos`` / ``plain_posidx`` / ``plain_full``: the same INSERT into a table with
  the ``position`` column (its default ``pg_current_xact_id()``), then with its ordering
  index too, then with the ``events_by_type`` expression index too (= our events table);
* ``sql_full``: the journal's one-event untagged statement on the events table (head
  probe, boundary lock of the event's type, NOTIFY, the stored timestamp and position
  returned);
* ``sql_nonotify`` / ``sql_nolock`` / ``sql_min``: without the NOTIFY, without the lock,
  without both; ``sql_nohead``: without the head probe (NOT a valid append: the removal
  only measures what the probe costs); ``sql_notype``: the statement on a copy of the
  events table without the type index; ``sql_tagged_cte``: the one-event statement for
  tagged events (clock and tag-row CTEs) with the same untagged event.

Client side, all on the events table:

* ``append``: ``PostgresJournal.append``; ``append_nonotify``: a journal with
  ``notify=False``; ``append_nolock``: with ``set_locks_enabled(False)``;
* ``run_prepared``: ``Database.run_prepared`` with the statement and its parameters
  ready (no validation, encoding, group-commit or result objects);
* ``exec_prepared``: ``execute_prepared`` on a dedicated async connection (no warm
  connection check-out either): what is left is the asyncio wake-up around libpq; its
  synchronous counterpart is ``sql_full``.

``--uvloop`` runs everything on uvloop.  Prints one markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from actorpg_lab import JournalEntry, default_codec

from ._db import new_schema, provide_server, schema_url
from ._events import deposited
from ._harness import Context, Sizes
from ._profile_append import one_event_appends
from ._profile_keyed import ServerProbe, measure, print_table

_PLAIN = ("INSERT INTO {table} (persistence_id, sequence_nr, payload, tags, timestamp) "
          "VALUES (%s, %s, %s, '', %s)")
#: The journal's untagged statement without its head probe (measurement only).
_NOHEAD = b"""INSERT INTO events (persistence_id, sequence_nr, payload, tags, timestamp)
SELECT %(pid)s, %(expected)s + 1, %(payload)s, '',
       (extract(epoch FROM clock_timestamp()) * 1000)::bigint
WHERE (%(k1)s::bigint IS NULL OR pg_advisory_xact_lock_shared(%(k1)s::bigint) IS NOT NULL)
RETURNING timestamp, pg_current_xact_id()::text::bigint AS position,
          CASE WHEN %(notify)s THEN pg_notify(%(channel)s, '') END AS notified"""


class Probe(ServerProbe):
    """The connections, tables and journals the cases run on."""

    def __init__(self, url: str, calls: int) -> None:
        self.url = url
        self.calls = calls
        self.payload = default_codec.encode(deposited(1))

    async def open(self) -> None:
        import psycopg

        from actorpg_lab.postgres import PostgresJournal
        from actorpg_lab.postgres._prepared import PreparedQuery

        self.journal = PostgresJournal(url=self.url)
        self.journal_nn = PostgresJournal(url=self.url, notify=False)
        for journal in (self.journal, self.journal_nn):
            await journal.append(f"warm-{uuid.uuid4().hex[:6]}", [JournalEntry(deposited(0))], 0)
        self.conn = psycopg.connect(self.url, autocommit=True)
        self.aconn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        execute = self.conn.execute
        execute("CREATE TABLE bare_events (LIKE events INCLUDING ALL)")
        execute("ALTER TABLE bare_events DROP COLUMN IF EXISTS position")
        execute("CREATE TABLE pos_events (LIKE events INCLUDING DEFAULTS,"
                " PRIMARY KEY (persistence_id, sequence_nr))")
        execute("CREATE TABLE posidx_events (LIKE pos_events INCLUDING ALL)")
        execute("CREATE INDEX ON posidx_events (position, persistence_id, sequence_nr)")
        execute("CREATE TABLE full_events (LIKE events INCLUDING ALL)")
        request = self.journal._request("x", [JournalEntry(deposited(1))], 0)
        assert request is not None and len(request.keys) == 1
        self.key = request.keys[0]
        self.stmt = self.journal._append_one_untagged_sql
        self.stmt_notype = self.stmt.replace(b'"events"', b'"posidx_events"', 2)
        assert self.stmt_notype.count(b"posidx_events") == 2
        self.prepared = self.journal._append_one_untagged_prepared
        self.direct = PreparedQuery(self.stmt)

    async def close(self) -> None:
        await self.journal.close()
        await self.journal_nn.close()
        await self.aconn.close()
        self.conn.close()

    # -- server side: sync, prepared ----------------------------------------------------
    def _plain(self, table: str) -> None:
        pid, payload, ts = f"p-{uuid.uuid4().hex[:10]}", self.payload, int(time.time() * 1000)
        query, execute = _PLAIN.format(table=table), self.conn.execute
        for seq in range(1, self.calls + 1):
            execute(query, (pid, seq, payload, ts), prepare=True)

    async def bare(self) -> None:
        self._plain("bare_events")

    async def plain_pos(self) -> None:
        self._plain("pos_events")

    async def plain_posidx(self) -> None:
        self._plain("posidx_events")

    async def plain_full(self) -> None:
        self._plain("full_events")

    def _sql(self, query: bytes, *, notify: bool = True, lock: bool = True,
             **extra: Any) -> None:
        pid, payload = f"s-{uuid.uuid4().hex[:10]}", self.payload
        execute, channel, k1 = self.conn.execute, self.journal.channel, \
            self.key if lock else None
        for seq in range(self.calls):
            execute(query, {"pid": pid, "expected": seq, "payload": payload, "notify": notify,
                            "channel": channel, "k1": k1, **extra}, prepare=True)

    async def sql_full(self) -> None:
        self._sql(self.stmt)

    async def sql_nonotify(self) -> None:
        self._sql(self.stmt, notify=False)

    async def sql_nolock(self) -> None:
        self._sql(self.stmt, lock=False)

    async def sql_min(self) -> None:
        self._sql(self.stmt, notify=False, lock=False)

    async def sql_nohead(self) -> None:
        self._sql(_NOHEAD)

    async def sql_notype(self) -> None:
        self._sql(self.stmt_notype)

    async def sql_tagged_cte(self) -> None:
        self._sql(self.journal._append_one_sql, tags_csv="", k2=None, k3=None, k4=None)

    # -- client side --------------------------------------------------------------------
    async def _append(self, journal: Any) -> None:
        await one_event_appends(journal, self.calls)

    async def append(self) -> None:
        await self._append(self.journal)

    async def append_nonotify(self) -> None:
        await self._append(self.journal_nn)

    async def append_nolock(self) -> None:
        from actorpg_lab.postgres._boundary import set_locks_enabled

        set_locks_enabled(False)
        try:
            await self._append(self.journal)
        finally:
            set_locks_enabled(True)

    async def run_prepared(self) -> None:
        pid, payload = f"r-{uuid.uuid4().hex[:10]}", self.payload
        run, query, channel = self.journal._db.run_prepared, self.prepared, self.journal.channel
        for seq in range(self.calls):
            await run("append", query, {"pid": pid, "expected": seq, "payload": payload,
                                        "notify": True, "channel": channel, "k1": self.key})

    async def exec_prepared(self) -> None:
        from actorpg_lab.postgres._prepared import execute_prepared

        pid, payload = f"e-{uuid.uuid4().hex[:10]}", self.payload
        conn, query, channel = self.aconn, self.direct, self.journal.channel
        for seq in range(self.calls):
            await execute_prepared(conn, query, {"pid": pid, "expected": seq,
                                                 "payload": payload, "notify": True,
                                                 "channel": channel, "k1": self.key})


CASES = ["bare", "plain_pos", "plain_posidx", "plain_full", "sql_full", "sql_nonotify",
         "sql_nolock", "sql_min", "sql_nohead", "sql_notype", "sql_tagged_cte", "append",
         "append_nonotify", "append_nolock", "run_prepared", "exec_prepared"]


async def main_async(args: argparse.Namespace, dsn: str) -> None:
    ctx = Context(dsn=dsn, sizes=Sizes.quick(), quick=True)
    probe = Probe(schema_url(dsn, new_schema(ctx, "profile")), args.calls)
    await probe.open()
    cases: dict[str, Callable[[], Awaitable[None]]] = {
        name: getattr(probe, name) for name in args.cases}
    results = await measure(probe, cases, args.rounds, args.calls)
    await probe.close()
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    print(f"event loop: {loop}")
    print_table(results, args.rounds, args.calls)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._profile_single")
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--cases", nargs="*", default=CASES)
    args = parser.parse_args()
    with provide_server() as dsn:
        if args.uvloop:
            import uvloop

            uvloop.run(main_async(args, dsn))
        else:
            asyncio.run(main_async(args, dsn))


if __name__ == "__main__":
    main()
