"""Appends inside a caller's transaction: ``PostgresJournal.within(conn)``.

A projection that is also a process manager appends events in the same transaction as
its checkpoint (``ctx.journal`` of :mod:`actorpg_lab.projections`): the new events and
the checkpoint commit together or not at all.  :class:`JournalInTransaction` reuses the
journal's own append statement (``sql/journal_append.sql``: head check, event rows,
tag rows and NOTIFY in one statement) and its validation, on the caller's connection,
without group commit (a coalesced statement would commit other writers' appends inside
this transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection

from .._errors import JournalConcurrencyError, PersistenceError, WriteConflict
from .._types import JournalEntry, PersistentEvent
from .._validation import (
    MAX_BIGINT,
    check_non_negative_int,
    check_payload_size,
    check_persistence_id,
    check_seq_range,
    validate_entries,
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
        """Append ``entries`` after head ``expected_seq`` inside the transaction; the
        events are visible to others once it commits (and vanish if it rolls back)."""
        journal = self.journal
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("expected_seq", expected_seq)
        checked = validate_entries(entries, journal.limits)
        if expected_seq + len(checked) > MAX_BIGINT:
            raise ValueError(f"expected_seq is too large for {len(checked)} more events: {expected_seq}")
        payloads = [check_payload_size(journal.codec.encode(event), journal.limits,
                                       f"entries[{i}] payload")
                    for i, (event, _) in enumerate(checked)]
        if not checked:
            return []
        params = {
            "pid": pid, "expected": expected_seq, "payloads": payloads,
            "tags_csv": [",".join(tags) for _, tags in checked],
            "notify": journal.notify, "channel": journal.channel,
        }
        operation = f"append to {pid!r} in a transaction"
        try:
            cur = await self.conn.execute(journal._append_sql, params)
            row = await cur.fetchone()
        except PersistenceError:
            raise
        except Exception as exc:
            error = translate(exc, operation)
            if isinstance(error, WriteConflict):  # a racing writer committed first
                raise JournalConcurrencyError(pid, expected_seq,
                                              await journal.highest_seq(pid)) from exc
            raise error from exc
        assert row is not None
        head, timestamp, position = int(row[0]), int(row[1]), row[2]
        if head != expected_seq:
            raise JournalConcurrencyError(pid, expected_seq, head)
        stored_value = journal.codec.stored_value
        return [
            PersistentEvent(pid, expected_seq + i, stored_value(event, payload), timestamp, tags,
                            int(position or 0))
            for i, (payload, (event, tags)) in enumerate(zip(payloads, checked, strict=True),
                                                          start=1)
        ]

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
