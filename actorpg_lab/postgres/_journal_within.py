"""Appends inside a caller's transaction: ``PostgresJournal.within(conn)``.

A projection that is also a process manager appends events in the same transaction as
its checkpoint (``ctx.journal`` of :mod:`actorpg_lab.projections`): the new events and
the checkpoint commit together or not at all.  :class:`JournalInTransaction` binds a
journal to the caller's connection: appends go through
:meth:`PostgresJournal.append_in_transaction` (the journal's own statements, validation
and boundary locks, never coalesced: a group-commit statement would commit other
writers' appends inside this transaction); reads see what the transaction sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection

from .._types import JournalEntry, PersistentEvent
from .._validation import (
    MAX_BIGINT,
    check_persistence_id,
    check_seq_range,
)
from ._database import translate

if TYPE_CHECKING:
    from ._journal import PostgresJournal

__all__ = ["JournalInTransaction"]


class JournalInTransaction:
    """The part of a journal that works inside ``conn``'s open transaction: ``append``,
    ``read`` and ``highest_seq`` see (and write) what the transaction sees.

    A conflicting head raises :class:`~actorpg_lab.JournalConcurrencyError`; a racing
    writer that slips through (SQLSTATE 23505) aborts the transaction and raises it too,
    so the caller's transaction must then be rolled back (a projection batch is).
    """

    def __init__(self, journal: PostgresJournal, conn: AsyncConnection[Any]) -> None:
        self.journal = journal
        self.conn = conn

    def __repr__(self) -> str:
        return f"<JournalInTransaction of {self.journal!r}>"

    async def append(
        self, persistence_id: str, entries: Sequence[JournalEntry], expected_seq: int
    ) -> list[PersistentEvent]:
        """Append ``entries`` after head ``expected_seq`` inside the transaction
        (:meth:`PostgresJournal.append_in_transaction`: same validation, head check and
        boundary locks as ``append``); visible to others once it commits, gone if it
        rolls back."""
        return await self.journal.append_in_transaction(self.conn, persistence_id, entries,
                                                        expected_seq)

    async def read(
        self, persistence_id: str, from_seq: int = 1, to_seq: int | None = None
    ) -> list[PersistentEvent]:
        """Events of one stream as this transaction sees them (inclusive bounds)."""
        pid = check_persistence_id(persistence_id)
        check_seq_range(from_seq, to_seq)
        journal = self.journal
        try:
            cur = await self.conn.execute(
                await journal._read_query(),
                {"pid": pid, "from_seq": from_seq,
                 "to_seq": MAX_BIGINT if to_seq is None else to_seq})
            rows = await cur.fetchall()
        except Exception as exc:
            raise translate(exc, f"read {pid!r} in a transaction") from exc
        return journal._stream_events(pid, rows)

    async def highest_seq(self, persistence_id: str) -> int:
        """The stream head as this transaction sees it (0 for an unknown stream)."""
        pid = check_persistence_id(persistence_id)
        try:
            cur = await self.conn.execute(self.journal._head_sql, {"pid": pid})
            row = await cur.fetchone()
        except Exception as exc:
            raise translate(exc, f"highest_seq of {pid!r} in a transaction") from exc
        return int(row[0]) if row else 0
