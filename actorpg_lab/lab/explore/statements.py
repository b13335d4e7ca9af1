"""The explorer's SQL (``lab/db/sql/explore_*.sql``) and how it runs: the tables and the
pieces that depend on the database filled in, each statement on a pooled connection of
the workbench loop, driver errors turned into the workbench's one error policy."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from psycopg import sql

from ..db.errors import is_driver_error, statement_failed
from ..db.statements import event_type_of, load_sql
from ..frames.loader import Tables

__all__ = ["ExploreSql", "Runner"]

Runner = Callable[[Coroutine[Any, Any, Any]], Any]

#: PostgreSQL's identifier length (a longer function name is cut like the server does).
_MAX_IDENTIFIER = 63


#: The end both stream-list walks share (explore_streams_page.sql), filled into their
#: ``{page_tail}``; unused placeholders are ignored by the other statements.
_PAGE_TAIL = sql.SQL(load_sql("explore_streams_page"))


class ExploreSql:
    """The explorer's statements over one workbench's tables.

    :param run: runs a coroutine on the workbench loop (:meth:`Workbench.run`).
    :param pool: the workbench's ``AsyncConnectionPool``.
    :param url: the database's URL (a failed query names its redacted target).
    """

    def __init__(self, run: Runner, pool: Any, tables: Tables, url: str = "") -> None:
        self._run = run
        self.pool = pool
        self.tables = tables
        self.url = url
        self._cached: dict[str, sql.Composable] | None = None

    def statement(self, name: str) -> sql.Composed:
        """``sql/<name>.sql`` with the tables and the database-dependent parts filled."""
        parts = self._parts()
        return sql.SQL(load_sql(name)).format(
            events=sql.Identifier(self.tables.events), tags=sql.Identifier(self.tables.tags),
            page_tail=_PAGE_TAIL, **parts)

    def _parts(self) -> dict[str, sql.Composable]:
        """The pieces that depend on the database: the event-type expression over
        ``e.payload`` (the journal's IMMUTABLE type function, whose index the type filter
        walks; the same expression inline on an unmigrated journal), the metadata column
        (``NULL`` while the table has none) and the meta and snapshot tables (an empty
        row set until a store creates them).  Asked again until every piece is there."""
        if self._cached is not None:
            return self._cached
        function = (self.tables.events + "_type_v1")[:_MAX_IDENTIFIER]
        quoted = {k: sql.Identifier(v).as_string(None) for k, v in (
            ("table", self.tables.events), ("meta", self.tables.meta),
            ("snapshots", self.tables.snapshots))}
        present, metadata, has_meta, has_snapshots = self.rows(
            sql.SQL(load_sql("explore_capabilities")),
            {"signature": sql.Identifier(function).as_string(None) + "(text)", **quoted})[0]
        parts: dict[str, sql.Composable] = {
            "type_expr": (sql.SQL("{}(e.payload)").format(sql.Identifier(function)) if present
                          else event_type_of("e")),
            "metadata": sql.SQL("e.metadata::text") if metadata else sql.SQL("NULL::text"),
            "meta": (sql.Identifier(self.tables.meta) if has_meta else sql.SQL(
                "(SELECT NULL::text AS persistence_id, NULL::bigint AS deleted_to WHERE false)")),
            "snapshots": (sql.Identifier(self.tables.snapshots) if has_snapshots else sql.SQL(
                "(SELECT NULL::text AS persistence_id, NULL::bigint AS sequence_nr "
                "WHERE false)")),
        }
        if present and has_meta and has_snapshots:
            self._cached = parts
        return parts

    def rows(self, statement: sql.Composable, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The rows of one statement (one pooled connection)."""
        async def fetch() -> list[tuple[Any, ...]]:
            async with self.pool.connection() as conn:
                cur = await conn.execute(statement, params)
                found: list[tuple[Any, ...]] = await cur.fetchall()
                return found

        result: list[tuple[Any, ...]] = self.call(fetch())
        return result

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro``; a driver error becomes a :class:`~actorpg_lab.JournalError`
        naming the redacted target (the workbench's one error policy)."""
        try:
            return self._run(coro)
        except Exception as exc:
            if is_driver_error(exc):
                raise statement_failed(self.url, exc) from exc
            raise
