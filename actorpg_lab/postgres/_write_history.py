"""Persisted write history (opt-in): rejected writes and pruned snapshots, from any process.

``PostgresJournal(log_conflicts=True)`` / ``PostgresDurableStateStore(log_conflicts=True)``
add a row to ``<events_table>_conflicts`` / ``<table>_conflicts`` for every write they
reject (persistence_id, expected, actual, writer, timestamp; for a conditional append
whose condition failed also ``kind = 'condition'``, the query and the conflicting
event's position, persistence id and sequence number);
``PostgresSnapshotStore(log_pruning=True)`` adds a row to ``<snapshots_table>_pruned``
for every snapshot it prunes (persistence_id, sequence_nr, saved_at, pruned_at, writer).

The rules:

* the extra write happens only on a conflict or a prune — never on the happy path;
* it is best effort: its failure (a missing table on a least-privilege database, a
  lost connection) is logged at WARNING and never fails the store call;
* the tables are created with the store (``auto_create_tables``), need only INSERT
  to be written, and their primary keys start with ``persistence_id`` (Citus).

The workbench reads them with ``Workbench.conflicts_frame()`` / ``pruned_frame()``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection, sql

from .._validation import check_table_name
from ._database import Database
from ._sql import statement

__all__ = ["ConflictLog", "PruningLog", "check_writer", "default_writer"]

_log = logging.getLogger("actorpg_lab.postgres.history")

#: The longest writer name kept (longer ones are cut).
MAX_WRITER = 200


def default_writer() -> str:
    """``<host>:<pid>`` of this process (computed per call, so a fork gets its own)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def check_writer(writer: object) -> str | None:
    """``writer`` validated: ``None`` (host:pid) or a non-empty str without NUL."""
    if writer is None:
        return None
    if not isinstance(writer, str):
        raise TypeError(f"writer must be a str or None, got {type(writer).__name__}: {writer!r}")
    if not writer or "\x00" in writer:
        raise ValueError(f"writer must be a non-empty str without NUL characters: {writer!r}")
    return writer[:MAX_WRITER]


class _History:
    """A best-effort side table of one store."""

    def __init__(self, db: Database, table: str, kind: str, writer: str | None) -> None:
        self.db = db
        self.table = table
        self.kind = kind
        self.writer = writer

    def who(self) -> str:
        return self.writer if self.writer is not None else default_writer()

    async def _insert(self, what: str, query: sql.Composed, params: dict[str, Any]) -> bool:
        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(query, params)

        try:
            await self.db.run(f"record {what} in {self.table!r}", work, retry_dead=False)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _log.warning("could not record %s in %r (the store call itself succeeded "
                         "or failed on its own): %s", what, self.table, exc)
            return False
        return True


class ConflictLog(_History):
    """``<table>_conflicts``: one row per rejected write."""

    def __init__(self, db: Database, base_table: str, writer: str | None) -> None:
        table = check_table_name("conflicts table", f"{base_table}_conflicts")
        super().__init__(db, table, "conflicts", writer)
        self._insert_sql = statement("write_history_conflicts_insert", conflicts=table)
        self._condition_sql = statement("write_history_conditions_insert", conflicts=table)

    @staticmethod
    def schema(base_table: str) -> sql.Composed:
        table = check_table_name("conflicts table", f"{base_table}_conflicts")
        return statement("write_history_conflicts_schema", conflicts=table)

    @staticmethod
    def add_condition_columns(base_table: str) -> sql.Composed:
        """The migration of a conflicts table that predates condition rows."""
        table = check_table_name("conflicts table", f"{base_table}_conflicts")
        return statement("write_history_conflicts_add_condition", conflicts=table)

    async def record(self, persistence_id: str, expected: int, actual: int) -> bool:
        """Add one row; ``False`` (logged) when that failed."""
        return await self._insert(
            f"the conflict on {persistence_id!r} (expected {expected}, actual {actual})",
            self._insert_sql,
            {"pid": persistence_id, "expected": expected, "actual": actual,
             "writer": self.who(), "timestamp": int(time.time() * 1000)},
        )


    async def record_condition(self, persistence_id: str, expected: int, actual: int,
                               conflict: tuple[int, str, int], query: str) -> bool:
        """Add one ``kind = 'condition'`` row: a conditional append to ``persistence_id``
        failed on the event ``conflict`` (position, persistence id, sequence number)
        matching ``query``; ``False`` (logged) when that failed."""
        position, c_pid, c_seq = conflict
        return await self._insert(
            f"the failed condition on {persistence_id!r} (event {c_pid!r} #{c_seq})",
            self._condition_sql,
            {"pid": persistence_id, "expected": expected, "actual": actual,
             "writer": self.who(), "timestamp": int(time.time() * 1000),
             "query": query, "c_pos": position, "c_pid": c_pid, "c_seq": c_seq},
        )


class PruningLog(_History):
    """``<snapshots_table>_pruned``: one row per pruned snapshot."""

    def __init__(self, db: Database, base_table: str, writer: str | None) -> None:
        table = check_table_name("pruned table", f"{base_table}_pruned")
        super().__init__(db, table, "pruned", writer)
        self._insert_sql = statement("write_history_pruned_insert", pruned=table)

    @staticmethod
    def schema(base_table: str) -> sql.Composed:
        table = check_table_name("pruned table", f"{base_table}_pruned")
        return statement("write_history_pruned_schema", pruned=table)

    async def record(self, persistence_id: str, pruned: Sequence[tuple[int, int]]) -> bool:
        """Add one row per ``(sequence_nr, saved_at)``; ``False`` (logged) when that failed."""
        if not pruned:
            return True
        return await self._insert(
            f"{len(pruned)} pruned snapshot(s) of {persistence_id!r}", self._insert_sql,
            {"pid": persistence_id, "seqs": [s for s, _ in pruned],
             "saved": [t for _, t in pruned], "pruned_at": int(time.time() * 1000),
             "writer": self.who()},
        )
