"""The PostgreSQL durable-state store: one row per key, revision compare-and-set."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from .._codec import JsonCodec, default_codec
from .._errors import DurableStateConcurrencyError, JournalError
from .._types import DurableStateRecord
from .._validation import (
    Limits,
    check_non_negative_int,
    check_payload_size,
    check_persistence_id,
    check_table_name,
)
from .._write_attempts import has_listeners, report_write_attempt
from ._database import WriteConflict, decode_stored
from ._schema import SchemaSpec, TableSpec
from ._sql import statement
from ._store import PostgresStore
from ._write_history import ConflictLog, check_writer

__all__ = ["PostgresDurableStateStore"]


class PostgresDurableStateStore(PostgresStore):
    """Key-value state in PostgreSQL with revision compare-and-set.

    ``upsert(pid, 0, state)`` creates the record (``INSERT ... ON CONFLICT DO
    NOTHING``); ``upsert(pid, n, state)`` updates it only if it is at revision ``n``.
    Either way the new revision is ``expected_revision + 1``; when no row was
    written, :class:`~actorpg_lab.DurableStateConcurrencyError` reports the revision
    read back afterwards (0 when the record does not exist).

    When the connection dies after the write was sent, the store retries on a fresh
    connection; if that retry finds the record already moved, it checks whether the
    move was its own write (revision ``expected_revision + 1`` with exactly its payload:
    success) and otherwise raises :class:`~actorpg_lab.JournalError` (outcome unknown)
    — never a concurrency error that would invite a double update.

    ``log_conflicts=True`` records every rejected upsert in ``<table>_conflicts``
    (persistence_id, expected, actual, writer, timestamp; ``writer`` defaults to
    ``<host>:<pid>``) — only on a conflict, best effort (a failure is logged, never raised).
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        pool_config: Mapping[str, Any] | None = None,
        pool: AsyncConnectionPool[Any] | None = None,
        table: str = "durable_state",
        auto_create_tables: bool = True,
        codec: JsonCodec | None = None,
        log_conflicts: bool = False,
        writer: str | None = None,
        limits: Limits | Mapping[str, Any] | None = None,
    ) -> None:
        self.table = check_table_name("table", table)
        self.codec = codec or default_codec
        self.limits = Limits.of(limits)
        names = {"table": self.table}
        tables = [TableSpec(self.table, statement("durable_state_schema", **names))]
        if log_conflicts:
            tables.append(TableSpec(f"{self.table}_conflicts", ConflictLog.schema(self.table)))
        super().__init__(url=url, pool_config=pool_config, pool=pool,
                         schema=SchemaSpec("PostgresDurableStateStore", tables),
                         auto_create_tables=auto_create_tables)
        #: Where rejected upserts are recorded (``log_conflicts=True``), else ``None``.
        self.conflict_log: ConflictLog | None = (
            ConflictLog(self._db, self.table, check_writer(writer)) if log_conflicts else None)
        self._insert_sql = statement("durable_state_insert", **names)
        self._update_sql = statement("durable_state_update", **names)
        self._load_sql = statement("durable_state_load", **names)
        self._revision_sql = statement("durable_state_revision", **names)
        self._delete_sql = statement("durable_state_delete", **names)

    def __repr__(self) -> str:
        return f"<PostgresDurableStateStore table={self.table!r} {self._where}>"

    async def upsert(
        self, persistence_id: str, expected_revision: int, state: Any
    ) -> DurableStateRecord:
        """Write ``state`` if the record is at ``expected_revision``; returns the new record."""
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("expected_revision", expected_revision)
        payload = check_payload_size(self.codec.encode(state), self.limits, "durable state")
        started = time.time()
        query = self._insert_sql if expected_revision == 0 else self._update_sql
        params = {"pid": pid, "payload": payload, "expected": expected_revision}
        cause: WriteConflict | None = None
        attempts = 0

        async def work(conn: AsyncConnection[Any]) -> tuple[Any, ...] | None:
            nonlocal attempts
            attempts += 1
            cur = await conn.execute(query, params)
            return await cur.fetchone()

        try:
            row = await self._db.run(f"upsert {pid!r}", work)
        except WriteConflict as exc:
            row, cause = None, exc
        except JournalError:
            self._report(pid, expected_revision, -1, None, "error", started)
            raise
        if row is None and attempts > 1:
            # The connection died during an earlier attempt, which may have committed: a
            # "conflict" now could be our own write, and reporting it as one would make a
            # retry-on-conflict caller apply its change twice.
            return await self._resolve_in_doubt(pid, expected_revision, payload, started)
        if row is None:
            actual = await self._current_revision(pid)
            self._report(pid, expected_revision, actual, None, "conflict", started)
            if self.conflict_log is not None:
                await self.conflict_log.record(pid, expected_revision, actual)
            raise DurableStateConcurrencyError(pid, expected_revision, actual) from cause
        revision, ts = int(row[0]), int(row[1])
        self._report(pid, expected_revision, expected_revision, revision, "ok", started)
        return DurableStateRecord(pid, revision, self.codec.decode(payload), ts)

    async def _resolve_in_doubt(
        self, pid: str, expected: int, payload: str, started: float
    ) -> DurableStateRecord:
        """Our write is found (revision ``expected + 1`` holding exactly our payload):
        success.  Otherwise its outcome cannot be known: a JournalError, never a
        DurableStateConcurrencyError."""
        row = await self._db.fetch_one(f"load {pid!r}", self._load_sql, {"pid": pid})
        if row is not None and int(row[0]) == expected + 1 and row[1] == payload:
            self._report(pid, expected, expected, expected + 1, "ok", started)
            return DurableStateRecord(pid, expected + 1, self.codec.decode(payload), int(row[2]))
        current = int(row[0]) if row is not None else 0
        self._report(pid, expected, current, None, "error", started)
        raise JournalError(
            f"upsert {pid!r} at revision {expected}: the connection was lost after the write "
            f"was sent and the record is now at revision {current}; whether this write was "
            f"applied cannot be told — reload before retrying"
        )

    @staticmethod
    def _report(pid: str, expected: int, actual: int, written: int | None, outcome: Any,
                started: float) -> None:
        if has_listeners():
            report_write_attempt("durable_state", pid, expected=expected, actual=actual,
                                 written=written, outcome=outcome, started=started)

    async def _current_revision(self, pid: str) -> int:
        row = await self._db.fetch_one(f"revision of {pid!r}", self._revision_sql, {"pid": pid})
        return int(row[0]) if row else 0

    async def load(self, persistence_id: str) -> DurableStateRecord | None:
        """The record, or ``None`` when the key does not exist."""
        pid = check_persistence_id(persistence_id)
        row = await self._db.fetch_one(f"load {pid!r}", self._load_sql, {"pid": pid})
        if row is None:
            return None
        revision, payload, ts = row
        state = decode_stored(self.codec, payload, what="durable state", persistence_id=pid,
                              sequence_nr=int(revision), position="revision")
        return DurableStateRecord(pid, int(revision), state, int(ts))

    async def delete(self, persistence_id: str) -> None:
        """Delete the record (idempotent)."""
        pid = check_persistence_id(persistence_id)

        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(self._delete_sql, {"pid": pid})

        await self._db.run(f"delete {pid!r}", work)
