"""Checkpoints in PostgreSQL: ``<checkpoints_table>`` and ``<checkpoints_table>_dead_letters``.

Every statement is a file in ``actorpg_lab/postgres/sql/projection_*.sql``; identifiers are
bound with :mod:`psycopg.sql`, values travel as parameters, and every driver error is
translated by :func:`actorpg_lab.postgres._database.translate` (the one choke point) —
except those raised by the projection's own code, which reach the runner as
:class:`~._checkpoint.HandlerFailed` with the original error as ``__cause__``.

The tables are created with the journal's pool like the journal's own (a
:class:`~actorpg_lab.postgres._schema.SchemaSpec`, under the schema advisory lock, only
what is missing); ``auto_create_tables=False`` expects ``migrate_projections.sql`` to
have been run and needs only SELECT/INSERT/UPDATE.
"""

from __future__ import annotations

import asyncio
from typing import Any

from psycopg import AsyncConnection, sql

from .._errors import JournalError, PersistenceError
from .._tag_filter import EventKey, TagFilter
from .._validation import check_table_name
from ..postgres._database import Database, translate
from ..postgres._journal import PostgresJournal
from ..postgres._listener import Listener
from ..postgres._schema import SchemaSpec, TableSpec, ensure_schema
from ..postgres._sql import load_sql, statement
from ._checkpoint import Apply, Checkpoint, DeadLetter, HandlerFailed
from ._projection import ProjectionContext

__all__ = ["MANUAL_SCRIPT", "PostgresCheckpointStore"]

#: What a DBA runs for ``auto_create_tables=False``.
MANUAL_SCRIPT = "actorpg_lab/postgres/sql/migrate_projections.sql"
#: The longest a rebuild counts its events before it reports progress by position.
_COUNT_TIMEOUT_MS = 5000
#: How long a standby's acquire waits on the owner's batch row lock.
_ACQUIRE_LOCK_TIMEOUT = "1s"


class _Listener(Listener):
    """The journal's LISTEN helper plus :meth:`ready`: wait until LISTEN is in place."""

    async def ready(self, timeout: float) -> bool:
        if self._conn is not None:
            return True
        if self._connecting is None:
            self._connecting = asyncio.create_task(self._connect(),
                                                   name=f"connect:{self.channel}")
        connecting = self._connecting
        await asyncio.wait([connecting], timeout=timeout)
        if not connecting.done():
            return False
        if self._connecting is connecting:
            self._connecting = None
        return connecting.exception() is None and self._conn is not None


class PostgresCheckpointStore:
    """The checkpoint table of one :class:`~actorpg_lab.postgres.PostgresJournal` (its
    pool, its database)."""

    def __init__(self, journal: PostgresJournal, checkpoints_table: str, *,
                 auto_create_tables: bool = True) -> None:
        self.journal = journal
        self.table = check_table_name("checkpoints_table", checkpoints_table)
        self.dead_table = check_table_name("dead letters table", f"{checkpoints_table}_dead_letters")
        self.channel = f"{self.table}_advanced"
        self.auto_create_tables = bool(auto_create_tables)
        self._db: Database = journal.database
        names: dict[str, str | sql.Composable] = {
            "checkpoints": self.table, "dead_letters": self.dead_table,
            "columns": sql.SQL(load_sql("projection_columns")),
            "events": journal.events_table,
        }
        create = statement("projection_schema", **names)  # one script for both tables
        self._schema = SchemaSpec(
            "ProjectionRunner",
            tables=[TableSpec(self.table, create), TableSpec(self.dead_table, create)],
            manual_script=MANUAL_SCRIPT)
        self._sql = {n: statement(f"projection_{n}", **names) for n in (
            "ensure", "select", "acquire", "heartbeat", "release", "advance", "fail",
            "dead_letter", "dead_letters", "set_status", "start_rebuild", "count", "blocker")}
        self._ready = False
        self._ready_lock = asyncio.Lock()
        self._listener: _Listener | None = None

    def __repr__(self) -> str:
        return f"<PostgresCheckpointStore table={self.table!r} {self._db.where}>"

    async def _pool(self) -> Any:
        pool = await self._db.ready_pool()
        if self._ready:
            return pool
        async with self._ready_lock:
            if not self._ready:
                try:
                    await ensure_schema(pool, self._schema, create=self.auto_create_tables)
                except PersistenceError:
                    raise
                except Exception as exc:
                    raise translate(exc, f"ProjectionRunner: creating {self.table}") from exc
                self._ready = True
        return pool

    async def _fetch(self, operation: str, name: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        await self._pool()
        return await self._db.fetch_all(operation, self._sql[name], params)

    async def _rows(self, operation: str, name: str, params: dict[str, Any]) -> list[Checkpoint]:
        return [Checkpoint.of_row(r) for r in await self._fetch(operation, name, params)]

    # -- rows ---------------------------------------------------------------------------
    async def ensure(self, name: str, version: int, tag_filter: str) -> Checkpoint:
        params = {"name": name, "version": version, "tag_filter": tag_filter}
        await self._pool()

        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(self._sql["ensure"], params)

        try:
            await self._db.run(f"create the checkpoint of {name!r} v{version}", work)
        except JournalError as exc:
            if "permission denied" not in str(exc):
                raise
            # A DML-only role without INSERT on a pre-provisioned row set: read below.
        rows = await self.read(name, version)
        if not rows:
            raise JournalError(f"the checkpoint of {name!r} v{version} could not be created in "
                               f"{self.table!r}")
        return rows[0]

    async def read(self, name: str | None = None, version: int | None = None) -> list[Checkpoint]:
        return await self._rows("read checkpoints", "select", {"name": name, "version": version})

    async def try_acquire(self, name: str, version: int, owner: str,
                          lease_s: float) -> Checkpoint | None:
        rows = await self.read(name, version)
        if not rows:
            return None
        row = rows[0]
        if row.owner not in (None, owner) and row.lease_live:
            return None  # a live owner: do not queue on its batch's row lock
        params = {"name": name, "version": version, "owner": owner, "lease_s": lease_s}

        async def work(conn: AsyncConnection[Any]) -> tuple[Any, ...] | None:
            async with conn.transaction():
                await conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(
                    sql.Literal(_ACQUIRE_LOCK_TIMEOUT)))
                cur = await conn.execute(self._sql["acquire"], params)
                got: tuple[Any, ...] | None = await cur.fetchone()
                return got

        try:
            found = await self._db.run(f"acquire {name!r} v{version}", work)
        except JournalError as exc:
            if "timed out" in str(exc) or "lock" in str(exc):
                return None  # the owner's batch holds the row: it is alive
            raise
        return Checkpoint.of_row(found) if found is not None else None

    async def heartbeat(self, name: str, version: int, owner: str,
                        lease_s: float) -> Checkpoint | None:
        rows = await self._rows(f"heartbeat {name!r} v{version}", "heartbeat",
                                {"name": name, "version": version, "owner": owner,
                                 "lease_s": lease_s})
        return rows[0] if rows else None

    async def release(self, name: str, version: int, owner: str) -> None:
        await self._fetch(f"release {name!r} v{version}", "release",
                          {"name": name, "version": version, "owner": owner,
                           "channel": self.channel})

    # -- transactions -------------------------------------------------------------------
    def _context(self, conn: AsyncConnection[Any], name: str, version: int,
                 rebuilding: bool) -> ProjectionContext:
        return ProjectionContext(conn=conn, tx=None, journal=self.journal.within(conn),
                                 name=name, version=version, rebuilding=rebuilding)

    async def _transaction(self, operation: str, name: str, version: int, rebuilding: bool,
                           body: Any) -> Any:
        """Run ``body(conn, ctx)`` in one transaction; the projection's own errors come
        out as :class:`HandlerFailed`, everything else translated."""
        pool = await self._pool()
        ctx: ProjectionContext | None = None
        try:
            async with pool.connection() as conn:
                if not conn.autocommit and conn.info.transaction_status != 0:
                    await conn.rollback()
                async with conn.transaction():
                    ctx = self._context(conn, name, version, rebuilding)
                    result = await body(conn, ctx)
        except (HandlerFailed, PersistenceError):
            raise
        except Exception as exc:
            raise translate(exc, operation) from exc
        assert ctx is not None
        for callback in ctx._after_commit:
            callback()
        return result

    @staticmethod
    async def _user(apply: Apply, ctx: ProjectionContext, conn: AsyncConnection[Any]) -> None:
        try:
            await apply(ctx)
        except Exception as exc:
            if conn.closed or conn.broken:
                raise  # the connection died under it: a storage failure, not the handler's
            raise HandlerFailed(f"{type(exc).__name__}: {exc}") from exc

    async def setup(self, name: str, version: int, apply: Apply) -> None:
        async def body(conn: AsyncConnection[Any], ctx: ProjectionContext) -> None:
            await self._user(apply, ctx, conn)

        await self._transaction(f"set up {name!r} v{version}", name, version, False, body)

    async def run_batch(
        self, name: str, version: int, owner: str, lease_s: float, *, after: EventKey,
        last: EventKey, count: int, last_event_ms: int | None, apply: Apply,
        rebuilding: bool, finish_rebuild: bool, keep_error: bool, idle_timeout_s: float,
    ) -> str:
        params = {
            "name": name, "version": version, "owner": owner, "lease_s": lease_s,
            "p_position": after[0], "p_pid": after[1], "p_seq": after[2],
            "n_position": last[0], "n_pid": last[1], "n_seq": last[2], "count": count,
            "last_event_ms": last_event_ms, "finish_rebuild": finish_rebuild,
            "keep_error": keep_error, "channel": self.channel,
            "idle_ms": str(max(1, int(idle_timeout_s * 1000))), "sync_off": rebuilding,
        }

        async def body(conn: AsyncConnection[Any], ctx: ProjectionContext) -> str | None:
            cur = await conn.execute(self._sql["advance"], params)
            row = await cur.fetchone()
            if row is None:
                return None
            await self._user(apply, ctx, conn)
            return str(row[0])

        status: str | None = await self._transaction(
            f"batch of {name!r} v{version}", name, version, rebuilding, body)
        return "" if status is None else status

    async def record_error(self, name: str, version: int, owner: str, *, pid: str | None,
                           seq: int | None, error: str, failed: bool) -> Checkpoint | None:
        rows = await self._rows(f"record the error of {name!r} v{version}", "fail",
                                {"name": name, "version": version, "owner": owner,
                                 "pid": pid, "seq": seq, "error": error[:10_000],
                                 "failed": failed})
        return rows[0] if rows else None

    async def dead_letter(self, ctx: ProjectionContext, *, pid: str, seq: int, position: int,
                          error: str) -> None:
        assert ctx.conn is not None
        await ctx.conn.execute(self._sql["dead_letter"], {
            "name": ctx.name, "version": ctx.version, "pid": pid, "seq": seq,
            "position": position, "error": error[:10_000]})

    async def dead_letters(self, name: str | None = None,
                           version: int | None = None) -> list[DeadLetter]:
        rows = await self._fetch("read dead letters", "dead_letters",
                                 {"name": name, "version": version})
        return [DeadLetter(*r) for r in rows]

    async def set_status(self, name: str, version: int, status: str,
                         from_: tuple[str, ...]) -> Checkpoint | None:
        rows = await self._rows(f"set {name!r} v{version} {status}", "set_status",
                                {"name": name, "version": version, "status": status,
                                 "from": list(from_)})
        return rows[0] if rows else None

    async def start_rebuild(self, name: str, version: int, owner: str, lease_s: float, *,
                            reset: Apply, tag_filter: TagFilter) -> Checkpoint | None:
        horizon, _ = await self.journal.visibility_horizon()
        total = await self._count(tag_filter, horizon)

        async def body(conn: AsyncConnection[Any], ctx: ProjectionContext) -> Checkpoint | None:
            cur = await conn.execute(self._sql["start_rebuild"], {
                "name": name, "version": version, "owner": owner, "lease_s": lease_s,
                "total": total, "horizon": horizon})
            row = await cur.fetchone()
            if row is None:
                return None
            await self._user(reset, ctx, conn)
            return Checkpoint.of_row(row)

        result: Checkpoint | None = await self._transaction(
            f"start rebuilding {name!r} v{version}", name, version, True, body)
        return result

    async def _count(self, tag_filter: TagFilter, horizon: int) -> int | None:
        if tag_filter.matches_nothing:
            return 0
        params = {"horizon": str(horizon), "all": list(tag_filter.all),
                  "any": list(tag_filter.any), "any_given": tag_filter.any_given,
                  "not": list(tag_filter.not_)}

        async def work(conn: AsyncConnection[Any]) -> int:
            async with conn.transaction():
                await conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(
                    sql.Literal(f"{_COUNT_TIMEOUT_MS}ms")))
                cur = await conn.execute(self._sql["count"], params)
                row = await cur.fetchone()
                assert row is not None
                return int(row[0])

        try:
            return await self._db.run("count a rebuild's events", work)
        except JournalError:
            return None  # too slow to count: progress by position instead

    # -- live -----------------------------------------------------------------------------
    async def listen(self, timeout: float) -> bool:
        """Make sure LISTEN is in place (waiting up to ``timeout`` for the connection), so
        a check made after this cannot miss the NOTIFY of a commit that follows it."""
        if self._listener is None:
            self._listener = _Listener(self._db, self.channel)
        return await self._listener.ready(timeout)

    async def wait_advanced(self, timeout: float) -> bool:
        """Wait for a batch commit (or a release) of any projection of this table."""
        if self._listener is None:
            self._listener = _Listener(self._db, self.channel)
        return await self._listener.wait(timeout)

    async def blocker(self) -> tuple[int | None, float, str, str] | None:
        rows = await self._fetch("find the open transaction holding the horizon", "blocker", {})
        if not rows:
            return None
        pid, age, state, query = rows[0]
        return (None if pid is None else int(pid), float(age or 0.0), str(state or ""),
                str(query or ""))

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
