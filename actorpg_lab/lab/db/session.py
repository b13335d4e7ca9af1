"""The loader's ADBC session: connect (with a timeout), session settings, reconnect, run.

One :class:`AdbcSession` holds the loader's connection, opened lazily, plus a second
("helper") connection used only by the worker thread of a parallel load.  Every
statement is a ``SELECT`` whose values are bound as literals (:mod:`._literals`), so
ADBC streams it with binary ``COPY``.

* **Connect timeout.** Every connection gets libpq's ``connect_timeout`` like the
  library's psycopg connections (:func:`actorpg_lab._dsn.with_connect_timeout`: 10 s
  unless the URL or ``$PGCONNECT_TIMEOUT`` sets one; ``connect_timeout=`` overrides),
  so a server that accepts and never answers fails the first load quickly with a
  :class:`~actorpg_lab.JournalError` naming the host (never a secret).
* **Reconnect.** A statement that fails before any row arrived because the connection
  is dead is retried once on a fresh one.  "Dead" is a typed check: the SQLSTATE the
  server sent is one of the session-ending classes the stores retry on
  (:data:`actorpg_lab.postgres._database.SESSION_ENDED`) or a connection exception
  (class 08), or — no SQLSTATE — the driver reports an I/O failure (the socket is gone).
"""

from __future__ import annotations

import logging
import math
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

from ..._dsn import DEFAULT_CONNECT_TIMEOUT, redact_dsn, with_connect_timeout
from .errors import connection_failed, is_driver_error, statement_failed
from .literals import SqlValues, bind_literals
from .statements import render

__all__ = ["BATCH_BYTES", "ONE_BATCH_BYTES", "AdbcSession", "TableStats", "adbc_conninfo",
           "is_dead_connection", "timeout_params"]

_log = logging.getLogger("actorpg_lab.lab.frames")

#: ADBC's target size of one record batch: rows are converted batch by batch, so smaller
#: batches mean less transient memory (the default is 16 MB).
_BATCH_HINT = "adbc.postgresql.batch_size_hint_bytes"
BATCH_BYTES = 4 << 20
#: The batch size of a load expected to be small (:meth:`AdbcSession.query_batches`'s
#: ``batch_bytes``): one batch instead of a few, whose per-batch steps (the builder's
#: Arrow calls, unifying the batches' dictionaries) cost ~5-10 % of a 30k-row load.
ONE_BATCH_BYTES = 16 << 20
_USE_COPY = "adbc.postgresql.use_copy"


@dataclass(frozen=True, slots=True)
class TableStats:
    """Whether a table exists and the planner's idea of its size (``rows`` is ``None``
    when it was never analysed)."""

    present: bool
    rows: int | None = None
    bytes: int = 0


def timeout_params(seconds: float | None) -> dict[str, Any]:
    """The connection keyword that sets libpq's ``connect_timeout`` to ``seconds``
    (rounded up; libpq waits at least 2 s); ``None``: none, the library default applies
    (:func:`actorpg_lab._dsn.with_connect_timeout`)."""
    if seconds is None:
        return {}
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (
            math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"connect_timeout must be a positive number of seconds or None, "
                         f"got {seconds!r}")
    return {"connect_timeout": max(2, math.ceil(seconds))}


def adbc_conninfo(url: str, connect_timeout: float | None = None) -> str:
    """``url`` for ADBC (which takes one string) with the connect timeout the library's
    psycopg connections get: ``connect_timeout`` when given, else the default unless the
    URL or ``$PGCONNECT_TIMEOUT`` sets one."""
    extra = with_connect_timeout(url, timeout_params(connect_timeout))
    if not extra:
        return url
    from psycopg.conninfo import make_conninfo

    return make_conninfo(url, **extra)


def is_dead_connection(exc: BaseException) -> bool:
    """Whether ``exc`` (raised by ADBC) means the connection is gone (see the module
    docstring: the stores' session-ending SQLSTATE classes, class 08, or an I/O
    failure without a SQLSTATE)."""
    from adbc_driver_manager import AdbcStatusCode, OperationalError
    from psycopg import errors

    from ...postgres._database import SESSION_ENDED

    state = getattr(exc, "sqlstate", None)
    if state:
        try:
            cls = errors.lookup(str(state))
        except KeyError:
            return False
        return issubclass(cls, (*SESSION_ENDED, errors.ConnectionException))
    return (isinstance(exc, OperationalError)
            and getattr(exc, "status_code", None) == AdbcStatusCode.IO)


class AdbcSession:
    """The loader's ADBC connections (opened lazily; :meth:`close` closes them, the next
    statement reopens them)."""

    def __init__(self, url: str, *, connect_timeout: float | None = None) -> None:
        self.url = url
        self._conninfo = adbc_conninfo(url, connect_timeout)
        self.connect_timeout = connect_timeout
        self._lock = threading.RLock()
        self._conn: Any = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        # The second connection, used only by a worker thread of a parallel load.
        self._helper_lock = threading.Lock()
        self._helper: Any = None
        self._helper_finalizer: weakref.finalize[Any, Any] | None = None
        # (table, column) pairs seen present (a column, once added, stays: cached for the
        # session's life; an absence is asked again, so a migration run meanwhile shows).
        self._columns: set[tuple[str, str]] = set()

    def __repr__(self) -> str:
        return f"<AdbcSession {redact_dsn(self.url)!r}>"

    # -- connections ------------------------------------------------------------------
    def _open(self) -> tuple[Any, weakref.finalize[Any, Any]]:
        import adbc_driver_postgresql.dbapi as adbc

        try:
            conn = adbc.connect(self._conninfo, autocommit=True)
        except Exception as exc:
            timeout = (self.connect_timeout if self.connect_timeout is not None
                       else f"default {DEFAULT_CONNECT_TIMEOUT}")
            raise connection_failed(
                self.url, exc, hint=f"connect_timeout {timeout} s unless the URL sets one"
            ) from exc
        finalizer = weakref.finalize(self, _close_quietly, conn)
        try:
            with conn.cursor() as cur:
                cur.execute(render("session_settings"))
        except Exception:  # pragma: no cover - a server without the setting
            _log.debug("session settings not applied", exc_info=True)
        return conn, finalizer

    def _connection(self, helper: bool = False) -> Any:
        if helper:
            if self._helper is None:
                self._helper, self._helper_finalizer = self._open()
            return self._helper
        if self._conn is None:
            self._conn, self._finalizer = self._open()
        return self._conn

    def _close_helper(self) -> None:
        if self._helper_finalizer is not None:
            self._helper_finalizer()
        self._helper = None
        self._helper_finalizer = None

    def _close_main(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._conn = None
        self._finalizer = None

    def close(self) -> None:
        """Close both connections (idempotent)."""
        with self._lock:
            self._close_main()
            with self._helper_lock:
                self._close_helper()

    # -- statements -------------------------------------------------------------------
    def query(self, statement: str, params: SqlValues = ()) -> pa.Table:
        """Run one ``SELECT`` (values: see :func:`bind_literals`) and return the Arrow
        table; reconnects once if the connection turns out dead."""
        return self._query(bind_literals(statement, params))

    def _query(self, statement: str, *, copy: bool = True) -> pa.Table:
        with self._lock:
            for attempt in (1, 2):
                try:
                    with self._connection().cursor() as cur:
                        cur.adbc_statement.set_options(**{_BATCH_HINT: str(BATCH_BYTES)})
                        if not copy:  # e.g. EXPLAIN, which COPY (...) TO STDOUT cannot wrap
                            cur.adbc_statement.set_options(**{_USE_COPY: "false"})
                        cur.execute(statement)
                        return cur.fetch_arrow_table()
                except Exception as exc:
                    if attempt == 1 and is_dead_connection(exc):
                        _log.info("ADBC connection lost (%s); reconnecting", exc)
                        self._close_main()
                        continue
                    if is_driver_error(exc):
                        raise statement_failed(self.url, exc) from exc
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def query_batches(self, statement: str, params: SqlValues = (), *,
                      helper: bool = False,
                      batch_bytes: int = BATCH_BYTES) -> Iterator[pa.RecordBatch]:
        """Stream the record batches of one ``SELECT``; reconnects once if the
        connection turns out dead before any row arrived.  ``helper=True`` runs it on
        the second connection (for a parallel load); ``batch_bytes`` is ADBC's target
        size of one batch."""
        return self._batches(bind_literals(statement, params), helper, batch_bytes)

    def _batches(self, statement: str, helper: bool,
                 batch_bytes: int = BATCH_BYTES) -> Iterator[pa.RecordBatch]:
        with self._helper_lock if helper else self._lock:
            for attempt in (1, 2):
                conn = self._connection(helper)
                started = False
                try:
                    with conn.cursor() as cur:
                        cur.adbc_statement.set_options(**{_BATCH_HINT: str(batch_bytes)})
                        cur.execute(statement)
                        for batch in cur.fetch_record_batch():
                            started = True
                            yield batch
                    return
                except Exception as exc:
                    if attempt == 1 and not started and is_dead_connection(exc):
                        _log.info("ADBC connection lost (%s); reconnecting", exc)
                        if helper:
                            self._close_helper()
                        else:
                            self._close_main()
                        continue
                    if is_driver_error(exc):
                        raise statement_failed(self.url, exc) from exc
                    raise

    # -- catalogue --------------------------------------------------------------------
    def _catalogue(self, statement: str, params: SqlValues) -> pa.Table:
        """A one-row catalogue query, sent without ``COPY``: for a row or two the plain
        protocol takes half the time (~180 vs ~340 us for ``table_stats`` here, paid by
        every frame load); ``COPY`` pays off for the frames themselves."""
        return self._query(bind_literals(statement, params), copy=False)

    def table_stats(self, name: str) -> TableStats:
        """Whether ``name`` resolves to a table through the search_path, and its planner
        row estimate and size on disk (one catalogue query)."""
        row = self._catalogue(render("table_stats"), {"table": _quoted(name)}).to_pylist()[0]
        if not row["present"]:
            return TableStats(False)
        rows = row["estimated_rows"]
        return TableStats(True, None if rows is None or rows < 0 else int(rows),
                          int(row["bytes"] or 0))

    def table_exists(self, name: str) -> bool:
        """Whether ``name`` resolves to a relation through the connection's search_path."""
        return self.table_stats(name).present

    def has_column(self, table: str, column: str) -> bool:
        """Whether ``table`` (through the search_path) has a column named ``column``
        (``sql/column_exists.sql``; a positive answer is cached for the session)."""
        if (table, column) in self._columns:
            return True
        present = bool(self._catalogue(render("column_exists"), {"table": _quoted(table),
                                                                 "column": column}
                                       ).column(0)[0].as_py())
        if present:
            self._columns.add((table, column))
        return present

    def split_key(self, table: str, column: str) -> tuple[int, str | None]:
        """The planner's row estimate of ``table`` and the value of ``column`` that
        splits it in two halves (``sql/split_key.sql``; ``None`` without statistics)."""
        rows = self._catalogue(render("split_key"), {"table": _quoted(table),
                                                     "column": column}).to_pylist()
        if not rows:
            return 0, None
        middle: str | None = rows[0]["middle"]
        return int(rows[0]["estimated_rows"] or 0), middle

    def estimate(self, statement: str, params: SqlValues) -> tuple[int, int]:
        """The planner's ``(rows, bytes)`` estimate of a ``SELECT``'s result (``EXPLAIN``;
        nothing is executed)."""
        plan = self._query("EXPLAIN (FORMAT JSON) " + bind_literals(statement, params),
                           copy=False).column(0)[0].as_py()
        top = orjson.loads(plan)[0]["Plan"]
        rows = int(top.get("Plan Rows") or 0)
        return rows, rows * int(top.get("Plan Width") or 0)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # pragma: no cover - closing a broken connection
        _log.debug("closing the ADBC connection failed", exc_info=True)
