"""The PostgreSQL event journal.

Follow an event: :meth:`PostgresJournal.append` validates and JSON-encodes each
:class:`~actorpg_lab.JournalEntry`, then runs ``sql/journal_append.sql`` — the head
check, the event rows, the tag rows and a NOTIFY in one statement — and returns the
:class:`~actorpg_lab.PersistentEvent` s it wrote.  :meth:`read` runs
``sql/journal_read.sql`` and decodes the payloads back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

from .._codec import JsonCodec, default_codec
from .._dsn import redact_dsn
from .._errors import JournalConcurrencyError, JournalError
from .._memory import validate_entries
from .._tag_filter import TagFilter
from .._types import JournalEntry, PersistentEvent
from .._validation import MAX_BIGINT, check_non_negative_int, check_persistence_id, check_table_name
from .._write_attempts import has_listeners, report_write_attempt
from ._database import Database, WriteConflict, decode_stored
from ._sql import statement

__all__ = ["PostgresJournal"]

_log = logging.getLogger("actorpg_lab.postgres.journal")


def split_tags(csv: str) -> tuple[str, ...]:
    """The events table's CSV tag mirror as a tuple."""
    return tuple(csv.split(",")) if csv else ()


class PostgresJournal:
    """An event journal in PostgreSQL (see ``../shared/API.md`` for the contract).

    :param url: libpq connection string or URL; a pool is built lazily from it.
    :param pool_config: keyword arguments for :class:`psycopg_pool.AsyncConnectionPool`
        (``min_size``, ``max_size``, ``timeout``, ``kwargs={"sslmode": ...}``, ...).
    :param pool: a shared pool instead of ``url`` (never closed by the journal).
    :param events_table: the events table; ``<events_table>_meta`` holds deletion marks.
    :param tags_table: the tag index table (default ``<events_table>_tags``).
    :param auto_create_tables: run ``CREATE TABLE IF NOT EXISTS`` on first use.
    :param notify: send ``NOTIFY <events_table>_appended`` with every append so live
        queries wake at once (they poll too, so this only lowers latency).
    :param codec: payload codec (default :data:`actorpg_lab.default_codec`).
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        pool_config: Mapping[str, Any] | None = None,
        pool: AsyncConnectionPool[Any] | None = None,
        events_table: str = "events",
        tags_table: str | None = None,
        auto_create_tables: bool = True,
        notify: bool = True,
        codec: JsonCodec | None = None,
    ) -> None:
        self.events_table = check_table_name("events_table", events_table)
        self.tags_table = check_table_name(
            "tags_table", tags_table if tags_table is not None else f"{events_table}_tags"
        )
        self.meta_table = check_table_name("meta table", f"{events_table}_meta")
        self.channel = f"{self.events_table}_appended"
        self.notify = bool(notify)
        self.codec = codec or default_codec
        names = {"events": self.events_table, "tags": self.tags_table, "meta": self.meta_table}
        schema = (
            statement("journal_schema", tags_by_event=f"{self.tags_table}_by_event", **names)
            if auto_create_tables
            else None
        )
        self._db = Database(
            url=url, pool_config=pool_config, pool=pool, schema=schema, owner="PostgresJournal"
        )
        self._append_sql = statement("journal_append", **names)
        self._head_sql = statement("journal_head", **names)
        self._read_sql = statement("journal_read", **names)
        self._delete_sql = statement("journal_delete", **names)
        self._ids_sql = statement("journal_persistence_ids", **names)
        self._by_tag_sql = statement("journal_by_tag", **names)
        self._by_filter_sql = statement("journal_by_tag_filter", **names)
        self._listener: _Listener | None = None

    def __repr__(self) -> str:
        return (
            f"<PostgresJournal events_table={self.events_table!r} tags_table={self.tags_table!r} "
            f"{'url=' + repr(redact_dsn(self._db.url)) if self._db.owns_pool else 'shared pool'}>"
        )

    @property
    def database(self) -> Database:
        """The connection/pool boundary this journal uses."""
        return self._db

    # -- writes -----------------------------------------------------------------------
    async def append(
        self, persistence_id: str, entries: Sequence[JournalEntry], expected_seq: int
    ) -> list[PersistentEvent]:
        """Atomically append ``entries`` after head ``expected_seq``.

        Raises :class:`~actorpg_lab.JournalConcurrencyError` (with the re-read head)
        when the head is elsewhere or a racing writer committed first.
        """
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("expected_seq", expected_seq)
        checked = validate_entries(entries)
        if expected_seq + len(checked) > MAX_BIGINT:
            raise ValueError(f"expected_seq is too large for {len(checked)} more events: {expected_seq}")
        payloads = [self.codec.encode(event) for event, _ in checked]
        if not checked:
            return []
        tag_ords: list[int] = []
        tag_names: list[str] = []
        for i, (_, tags) in enumerate(checked, start=1):
            tag_ords.extend([i] * len(tags))
            tag_names.extend(tags)
        params = {
            "pid": pid,
            "expected": expected_seq,
            "payloads": payloads,
            "tags_csv": [",".join(tags) for _, tags in checked],
            "tag_ords": tag_ords,
            "tag_names": tag_names,
            "notify": self.notify,
            "channel": self.channel,
        }
        started = time.time()
        attempts = 0

        async def work(conn: AsyncConnection[Any]) -> tuple[Any, ...] | None:
            nonlocal attempts
            attempts += 1
            cur = await conn.execute(self._append_sql, params)
            return await cur.fetchone()

        try:
            row = await self._db.run(f"append to {pid!r}", work)
        except WriteConflict as exc:
            actual = await self.highest_seq(pid)
            self._report(pid, expected_seq, actual, None, "conflict", started, len(checked))
            raise JournalConcurrencyError(pid, expected_seq, actual) from exc
        except JournalError:
            self._report(pid, expected_seq, -1, None, "error", started, len(checked))
            raise
        assert row is not None
        head, timestamp = int(row[0]), int(row[1])
        if head != expected_seq:
            if attempts > 1 and await self._written_by_us(pid, expected_seq, payloads, checked):
                # The first attempt committed before its connection died; this is ours.
                return await self.read(pid, expected_seq + 1, expected_seq + len(checked))
            self._report(pid, expected_seq, head, None, "conflict", started, len(checked))
            raise JournalConcurrencyError(pid, expected_seq, head)
        self._report(pid, expected_seq, head, expected_seq + len(checked), "ok", started,
                     len(checked))
        return [
            PersistentEvent(pid, expected_seq + i, self.codec.decode(payload), timestamp, tags)
            for i, (payload, (_, tags)) in enumerate(zip(payloads, checked, strict=True), start=1)
        ]

    @staticmethod
    def _report(pid: str, expected: int, actual: int, written: int | None, outcome: Any,
                started: float, events: int) -> None:
        if has_listeners():
            report_write_attempt("journal", pid, expected=expected, actual=actual,
                                 written=written, outcome=outcome, started=started, events=events)

    async def _written_by_us(
        self, pid: str, expected: int, payloads: list[str], checked: list[tuple[Any, tuple[str, ...]]]
    ) -> bool:
        rows = await self._db.fetch_all(
            f"read {pid!r}", self._read_sql,
            {"pid": pid, "from_seq": expected + 1, "to_seq": expected + len(payloads)},
        )
        return len(rows) == len(payloads) and all(
            row[1] == payload and split_tags(row[2]) == tags
            for row, payload, (_, tags) in zip(rows, payloads, checked, strict=True)
        )

    async def delete(self, persistence_id: str, to_seq: int) -> None:
        """Delete events ``<= to_seq`` and their tag rows; the mark never passes the head."""
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("to_seq", to_seq)

        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(self._delete_sql, {"pid": pid, "to_seq": to_seq})

        try:
            await self._db.run(f"delete {pid!r} up to {to_seq}", work)
        except WriteConflict as exc:  # two deletes racing on a fresh mark row
            raise JournalError(f"delete {pid!r} up to {to_seq} raced another delete; retry") from exc

    # -- reads ------------------------------------------------------------------------
    async def read(
        self, persistence_id: str, from_seq: int = 1, to_seq: int | None = None
    ) -> list[PersistentEvent]:
        """Events with ``from_seq <= sequence_nr <= to_seq`` (inclusive), ascending."""
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("from_seq", from_seq)
        if to_seq is not None:
            check_non_negative_int("to_seq", to_seq)
        rows = await self._db.fetch_all(
            f"read {pid!r}", self._read_sql,
            {"pid": pid, "from_seq": from_seq, "to_seq": MAX_BIGINT if to_seq is None else to_seq},
        )
        return [
            PersistentEvent(pid, seq, self._decode(pid, seq, payload), ts, split_tags(tags))
            for seq, payload, tags, ts in rows
        ]

    async def highest_seq(self, persistence_id: str) -> int:
        """The stream head; 0 for an unknown stream; never rewinds after ``delete``."""
        pid = check_persistence_id(persistence_id)
        row = await self._db.fetch_one(f"highest_seq of {pid!r}", self._head_sql, {"pid": pid})
        return int(row[0]) if row else 0

    async def persistence_ids(self) -> list[str]:
        """Every stream with events or a deletion mark, sorted."""
        rows = await self._db.fetch_all("persistence_ids", self._ids_sql, {})
        return [r[0] for r in rows]

    async def read_by_tag(
        self, tag_filter: TagFilter, *, from_timestamp: int = 0, limit: int | None = None
    ) -> list[PersistentEvent]:
        """Events matching ``tag_filter`` from ``from_timestamp``, in offset order."""
        if not isinstance(tag_filter, TagFilter):
            raise TypeError(f"tag_filter must be a TagFilter, got {tag_filter!r}")
        check_non_negative_int("from_timestamp", from_timestamp)
        if limit is not None:
            check_non_negative_int("limit", limit)
        if len(tag_filter.all) == 1 and not tag_filter.any and not tag_filter.not_:
            query = self._by_tag_sql
            params: dict[str, Any] = {"tag": tag_filter.all[0]}
        else:
            query = self._by_filter_sql
            params = {
                "candidates": list(tag_filter.candidate_tags),
                "all": list(tag_filter.all),
                "any": list(tag_filter.any),
                "not": list(tag_filter.not_),
            }
        params.update(from_ts=from_timestamp, limit=limit)
        rows = await self._db.fetch_all(f"read tag {tag_filter!r}", query, params)
        return [
            PersistentEvent(pid, seq, self._decode(pid, seq, payload), ts, split_tags(tags))
            for pid, seq, payload, tags, ts in rows
        ]

    def _decode(self, pid: str, seq: int, payload: str) -> Any:
        return decode_stored(self.codec, payload, what="event", persistence_id=pid,
                             sequence_nr=seq)

    # -- live notifications -----------------------------------------------------------
    async def wait_for_appends(self, timeout: float) -> bool:
        """Wait for a NOTIFY from an append, at most ``timeout`` seconds.

        Listens on a dedicated connection; if it cannot be (re)established the call
        simply sleeps ``timeout`` (polling fallback) and tries to reconnect next time.
        """
        if self._listener is None:
            self._listener = _Listener(self)
        return await self._listener.wait(timeout)

    async def close(self) -> None:
        """Stop listening and close the pool if this journal built it."""
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        await self._db.close()


class _Listener:
    """LISTEN on a dedicated connection; reconnects lazily, degrades to polling."""

    def __init__(self, journal: PostgresJournal) -> None:
        self._journal = journal
        self._conn: AsyncConnection[Any] | None = None
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _connect(self) -> None:
        db = self._journal.database
        pool = await db._ready_pool()
        # A dedicated connection (same conninfo/kwargs as the pool) so LISTEN never
        # holds a pooled connection hostage.
        conninfo = pool.conninfo if isinstance(pool.conninfo, str) else db.url or ""
        kwargs = pool.kwargs if isinstance(pool.kwargs, dict) else {}
        conn = await AsyncConnection.connect(conninfo, **{**kwargs, "autocommit": True})
        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._journal.channel)))
        self._conn = conn
        self._task = asyncio.create_task(self._pump(conn), name=f"listen:{self._journal.channel}")

    async def _pump(self, conn: AsyncConnection[Any]) -> None:
        try:
            async for _ in conn.notifies():
                self._event.set()
        except Exception as exc:
            _log.info("LISTEN connection lost (%s); falling back to polling", type(exc).__name__)
        finally:
            self._conn = None
            self._event.set()  # wake waiters so they re-check the database
            with contextlib.suppress(Exception):
                await conn.close()

    async def wait(self, timeout: float) -> bool:
        if self._conn is None:
            try:
                await asyncio.wait_for(self._connect(), timeout=max(timeout, 0.1))
            except Exception as exc:
                _log.info("cannot LISTEN (%s); polling every %.2fs", exc, timeout)
                await asyncio.sleep(timeout)
                return False
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self._event.clear()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
