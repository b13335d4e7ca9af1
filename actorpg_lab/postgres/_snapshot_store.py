"""The PostgreSQL snapshot store: save, keep the newest ``keep_n``, load."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from .._codec import JsonCodec, default_codec
from .._errors import SnapshotIntegrityError
from .._types import Snapshot
from .._validation import (
    MAX_BIGINT,
    Limits,
    check_non_negative_int,
    check_payload_size,
    check_persistence_id,
    check_table_name,
)
from .._write_attempts import report_snapshot_activity
from ._database import decode_stored
from ._schema import SchemaSpec, TableSpec
from ._sql import statement
from ._store import PostgresStore
from ._write_history import PruningLog, check_writer

__all__ = ["PostgresSnapshotStore"]

_log = logging.getLogger("actorpg_lab.postgres.snapshots")


class PostgresSnapshotStore(PostgresStore):
    """Snapshots in PostgreSQL, keeping the newest ``keep_n`` per persistence id.

    ``save`` upserts the snapshot at ``(persistence_id, sequence_nr)`` and then prunes
    older ones in a separate statement: a failing prune is logged and never fails the
    save.  ``keep_n <= 0`` keeps every snapshot.

    ``log_pruning=True`` records every pruned snapshot in ``<snapshots_table>_pruned``
    (persistence_id, sequence_nr, saved_at, pruned_at, writer; ``writer`` defaults to
    ``<host>:<pid>``) — only when something was pruned, best effort (logged, never raised).
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        pool_config: Mapping[str, Any] | None = None,
        pool: AsyncConnectionPool[Any] | None = None,
        snapshots_table: str = "snapshots",
        keep_n: int = 3,
        auto_create_tables: bool = True,
        codec: JsonCodec | None = None,
        log_pruning: bool = False,
        writer: str | None = None,
        limits: Limits | Mapping[str, Any] | None = None,
    ) -> None:
        self.snapshots_table = check_table_name("snapshots_table", snapshots_table)
        if isinstance(keep_n, bool) or not isinstance(keep_n, int):
            raise TypeError(f"keep_n must be an int, got {type(keep_n).__name__}: {keep_n!r}")
        self.keep_n = keep_n
        self.codec = codec or default_codec
        self.limits = Limits.of(limits)
        names = {"snapshots": self.snapshots_table}
        tables = [TableSpec(self.snapshots_table, statement("snapshots_schema", **names))]
        if log_pruning:
            tables.append(TableSpec(f"{self.snapshots_table}_pruned",
                                    PruningLog.schema(self.snapshots_table)))
        super().__init__(url=url, pool_config=pool_config, pool=pool,
                         schema=SchemaSpec("PostgresSnapshotStore", tables),
                         auto_create_tables=auto_create_tables)
        #: Where pruned snapshots are recorded (``log_pruning=True``), else ``None``.
        self.pruning_log: PruningLog | None = (
            PruningLog(self._db, self.snapshots_table, check_writer(writer))
            if log_pruning else None)
        self._save_sql = statement("snapshots_save", **names)
        self._prune_sql = statement("snapshots_prune", **names)
        self._load_sql = statement("snapshots_load", **names)
        self._delete_sql = statement("snapshots_delete", **names)

    def __repr__(self) -> str:
        return (f"<PostgresSnapshotStore table={self.snapshots_table!r} keep_n={self.keep_n} "
                f"{self._where}>")

    async def save(self, persistence_id: str, sequence_nr: int, state: Any) -> Snapshot:
        """Save ``state`` as of ``sequence_nr``, then prune to the newest ``keep_n``."""
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("sequence_nr", sequence_nr)
        payload = check_payload_size(self.codec.encode(state), self.limits, "snapshot state")
        row = await self._db.fetch_one(
            f"save snapshot {pid!r}@{sequence_nr}", self._save_sql,
            {"pid": pid, "seq": sequence_nr, "payload": payload},
        )
        assert row is not None
        try:
            pruned = await self._prune(pid)
        except Exception:
            _log.warning("pruning snapshots of %r failed; the snapshot at %d was saved",
                         pid, sequence_nr, exc_info=True)
            report_snapshot_activity(pid, sequence_nr, (), self.keep_n, prune_failed=True)
        else:
            report_snapshot_activity(pid, sequence_nr, pruned, self.keep_n)
        return Snapshot(pid, sequence_nr, self.codec.decode(payload), int(row[0]))

    async def _prune(self, persistence_id: str) -> tuple[int, ...]:
        """Delete all but the newest ``keep_n`` snapshots; returns the pruned sequence numbers."""
        if self.keep_n <= 0:
            return ()
        rows = await self._db.fetch_all(
            f"prune snapshots of {persistence_id!r}", self._prune_sql,
            {"pid": persistence_id, "keep_n": self.keep_n},
        )
        if rows and self.pruning_log is not None:
            await self.pruning_log.record(persistence_id, [(int(r[0]), int(r[1])) for r in rows])
        return tuple(sorted(int(r[0]) for r in rows))

    async def _load(self, pid: str, below: int) -> Snapshot | None:
        row = await self._db.fetch_one(
            f"load snapshot of {pid!r}", self._load_sql, {"pid": pid, "below": below}
        )
        if row is None:
            return None
        seq, payload, ts = row
        state = decode_stored(self.codec, payload, what="snapshot", persistence_id=pid,
                              sequence_nr=int(seq), error=SnapshotIntegrityError)
        return Snapshot(pid, int(seq), state, int(ts))

    async def load_latest(self, persistence_id: str) -> Snapshot | None:
        """The newest snapshot, or ``None``."""
        return await self._load(check_persistence_id(persistence_id), MAX_BIGINT)

    async def load_before(self, persistence_id: str, sequence_nr: int) -> Snapshot | None:
        """The newest snapshot with ``sequence_nr <`` the argument, or ``None``."""
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("sequence_nr", sequence_nr)
        return await self._load(pid, sequence_nr)

    async def delete(self, persistence_id: str, to_seq: int) -> None:
        """Delete the snapshots with ``sequence_nr <= to_seq``."""
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("to_seq", to_seq)

        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(self._delete_sql, {"pid": pid, "to_seq": to_seq})

        await self._db.run(f"delete snapshots of {pid!r}", work)
