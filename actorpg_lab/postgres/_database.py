"""The persistence boundary to PostgreSQL: pools, schema creation and error translation.

Every store talks to the database through a :class:`Database`.  It

* owns or borrows a :class:`psycopg_pool.AsyncConnectionPool` (a shared ``pool=``
  is never closed; one built lazily from ``url`` + ``pool_config`` is closed by
  :meth:`Database.close`);
* checks the store's schema once (the catalog first: nothing is locked when all is
  there) and builds only what is missing, under an advisory lock so several processes
  can start against a fresh database at the same time (:mod:`._schema`); a failure is
  not remembered;
* is the ONE place where driver errors become library errors (:func:`translate`):
  unique violations, serialization failures and deadlocks become
  :class:`WriteConflict`; everything else a :class:`~actorpg_lab.JournalError`
  with the driver error as ``__cause__``;
* retries an operation on a fresh connection when the one it got turns out to be
  dead (killed server-side, server restarted), so the pool never hands the same
  dead connection to the next call;
* runs the hot one-statement writes (:meth:`Database.run_prepared`) on a *warm*
  connection: the one the previous such call used, kept out of the pool while calls
  keep coming (given back after :data:`WARM_IDLE_SECONDS` without one, or at once when
  it is busy and another call needs a connection), prepared once and sent straight
  through libpq (:mod:`._prepared`), its socket's reader kept registered between calls
  and released before anything else uses the connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection, errors, sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from .._codec import decode_stored  # re-exported: the one decode-with-context helper
from .._dsn import describe_target, redact_dsn, redact_params, with_connect_timeout
from .._errors import (
    JournalError,
    PersistenceError,
    WriteConflict,
)
from ._prepared import PreparedQuery, execute_prepared, release_reader
from ._schema import SchemaSpec, ensure_schema

__all__ = ["Database", "WriteConflict", "decode_stored", "translate"]

_log = logging.getLogger("actorpg_lab.postgres")

T = TypeVar("T")

#: Defaults for a pool the store builds itself; ``pool_config`` overrides any of them.
DEFAULT_POOL_CONFIG: Mapping[str, Any] = {"min_size": 1, "max_size": 10, "timeout": 10.0}

#: SQLSTATEs meaning "another writer got there first": retrying with fresh data may win.
_CONFLICT_STATES = frozenset({"23505", "40001", "40P01"})

_IDLE = psycopg.pq.TransactionStatus.IDLE

#: How many times an operation is retried on a fresh connection after a dead one.
_RECONNECT_ATTEMPTS = 3

#: A warm connection (see :meth:`Database.run_prepared`) goes back to the pool after
#: this many seconds without a call.
WARM_IDLE_SECONDS = 0.05


def translate(exc: BaseException, operation: str) -> PersistenceError:
    """Map a driver or pool error to the library's exception tree (the one choke point)."""
    if isinstance(exc, PersistenceError):
        return exc
    if isinstance(exc, PoolTimeout):
        return JournalError(f"{operation}: no database connection available ({exc})")
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate or ""
        if state in _CONFLICT_STATES:
            return WriteConflict(f"{operation}: write conflict (SQLSTATE {state})")
        if isinstance(exc, errors.InsufficientPrivilege):
            return JournalError(f"{operation}: permission denied (SQLSTATE {state}): {exc}")
        if isinstance(exc, errors.QueryCanceled):
            return JournalError(f"{operation}: statement cancelled or timed out: {exc}")
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return JournalError(f"{operation} failed ({type(exc).__name__}"
                            f"{', SQLSTATE ' + state if state else ''}): {detail}")
    return JournalError(f"{operation} failed: {exc!r}")


#: Server errors that end the session: the connection is gone whatever its state (the
#: workbench's ADBC reader retries on the same classes).
SESSION_ENDED: tuple[type[psycopg.Error], ...] = (
    errors.AdminShutdown, errors.CrashShutdown, errors.CannotConnectNow)


def _is_dead_connection(exc: BaseException, conn: AsyncConnection[Any] | None) -> bool:
    if conn is not None and conn.closed:
        return True
    if isinstance(exc, SESSION_ENDED):
        return True
    return isinstance(exc, psycopg.OperationalError) and conn is not None and conn.broken


class Database:
    """A pool (owned or shared) plus the schema of one store; see the module docstring."""

    def __init__(
        self,
        *,
        url: str | None,
        pool_config: Mapping[str, Any] | None,
        pool: AsyncConnectionPool[Any] | None,
        schema: SchemaSpec | None,
        owner: str,
        create_tables: bool = True,
    ) -> None:
        if pool is not None and (url is not None or pool_config is not None):
            raise ValueError(
                f"{owner}: pass either pool= or url=/pool_config=, not both "
                f"(url={redact_dsn(url)!r}, pool_config={_redact_config(pool_config)!r})"
            )
        if pool is None and url is None:
            raise ValueError(f"{owner}: one of url= or pool= is required")
        if pool is not None and not isinstance(pool, AsyncConnectionPool):
            raise TypeError(
                f"{owner}: pool must be a psycopg_pool.AsyncConnectionPool, got "
                f"{type(pool).__name__}"
            )
        if url is not None and not isinstance(url, str):
            raise TypeError(f"{owner}: url must be a str, got {type(url).__name__}")
        if pool_config is not None and not isinstance(pool_config, Mapping):
            raise TypeError(
                f"{owner}: pool_config must be a mapping, got {type(pool_config).__name__}"
            )
        self.url = url
        self.pool_config = dict(pool_config or {})
        self.owns_pool = pool is None
        self._pool = pool
        self._schema = schema
        self._create_tables = create_tables
        self._schema_ready = schema is None
        #: Columns a migration adds that this database lacks (``"table.column"``; only
        #: with ``create_tables=False``), known after the first use.
        self.missing_columns: frozenset[str] = frozenset()
        self._lock = asyncio.Lock()
        self._closed = False
        self.owner = owner
        # The warm connection of run_prepared: out of the pool while calls keep coming.
        self._warm: AsyncConnection[Any] | None = None
        self._warm_busy = False
        self._warm_used = 0.0
        self._warm_timer: asyncio.TimerHandle | None = None
        self._returns: set[asyncio.Task[None]] = set()

    @property
    def where(self) -> str:
        """``url=<redacted url>`` for an own pool, ``shared pool`` otherwise (for reprs)."""
        return "shared pool" if not self.owns_pool else f"url={redact_dsn(self.url)!r}"

    def __repr__(self) -> str:
        return f"<Database {self.owner} {self.where}>"

    @property
    def schema(self) -> SchemaSpec | None:
        """What this store's tables should look like (``None``: not checked)."""
        return self._schema

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def pool(self) -> AsyncConnectionPool[Any] | None:
        """The pool, once opened (``None`` before the first call of a lazily built pool)."""
        return self._pool

    def connection_settings(self) -> tuple[str, dict[str, Any]]:
        """``(conninfo, kwargs)`` of this store's connections, without opening anything
        (for a dedicated connection outside the pool, e.g. LISTEN)."""
        if self._pool is not None and not self.owns_pool:
            conninfo = self._pool.conninfo if isinstance(self._pool.conninfo, str) else ""
            kwargs = self._pool.kwargs if isinstance(self._pool.kwargs, dict) else {}
            return conninfo, dict(kwargs)
        config = {**DEFAULT_POOL_CONFIG, **self.pool_config}
        return self.url or "", dict(config.get("kwargs") or {})

    async def ready_pool(self) -> AsyncConnectionPool[Any]:
        """The pool, opened (and the schema created) on first use."""
        if self._closed:
            raise JournalError(f"{self.owner} is closed")
        if self._pool is not None and self._schema_ready:
            return self._pool
        async with self._lock:
            if self._pool is None:
                self._pool = await self._open_pool()
            if not self._schema_ready:
                await self._create_schema(self._pool)
                self._schema_ready = True
            return self._pool

    async def _open_pool(self) -> AsyncConnectionPool[Any]:
        config = {**DEFAULT_POOL_CONFIG, **self.pool_config}
        kwargs = dict(config.pop("kwargs", None) or {})
        kwargs.setdefault("autocommit", True)
        kwargs = with_connect_timeout(self.url, kwargs)  # never wait forever for a server
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self.url or "", kwargs=kwargs, open=False, name=self.owner, **config
        )
        timeout = float(config.get("timeout", 10.0))
        try:
            await pool.open(wait=True, timeout=timeout)
        except BaseException as exc:
            await pool.close()
            cause: BaseException = exc
            if isinstance(exc, PoolTimeout):  # says only "incomplete": ask libpq why
                cause = await _connect_error(self.url or "", kwargs, timeout) or exc
            raise JournalError(
                f"{self.owner}: cannot connect to {describe_target(self.url, kwargs)} "
                f"(url={redact_dsn(self.url)!r}): {cause}"
            ) from cause
        _log.debug("%s: opened pool for %s", self.owner, redact_dsn(self.url))
        return pool

    async def _create_schema(self, pool: AsyncConnectionPool[Any]) -> None:
        assert self._schema is not None
        try:
            self.missing_columns = await ensure_schema(pool, self._schema,
                                                       create=self._create_tables)
        except Exception as exc:
            raise translate(exc, f"{self.owner}: creating tables") from exc
        _log.debug("%s: tables ready", self.owner)

    async def run(
        self, operation: str, work: Callable[[AsyncConnection[Any]], Awaitable[T]],
        *, retry_dead: bool = True, warm: bool = False,
    ) -> T:
        """Run ``work(conn)`` on a pooled connection (the warm one when it is free, see
        :meth:`run_prepared`), translating every failure.  ``warm=True`` (a writer's
        appends): with no warm connection yet, the one taken becomes it, so a writer
        that keeps appending keeps one backend instead of going round the pool (which
        hands connections out first-in first-out: a cold backend per call).

        When the connection turns out to be dead and ``retry_dead`` is set, the
        operation is retried on a fresh connection (the dead one is discarded).
        """
        attempt = 0
        while True:
            attempt += 1
            conn: AsyncConnection[Any] | None = None
            try:
                # The connection-context semantics (commit on success, rollback on error)
                # spelled out: the same behaviour as ``async with pool.connection()``
                # without the generator-based context manager and, on autocommit
                # connections, without a commit round.
                conn, is_warm = await self._checkout(make_warm=warm)
                if is_warm:  # psycopg waits on the socket itself now
                    release_reader(conn)
                try:
                    result = await work(conn)
                    if not conn.closed and conn.pgconn.transaction_status != _IDLE:
                        await conn.commit()  # a shared pool without autocommit
                except BaseException:
                    if not conn.closed:
                        try:
                            await conn.rollback()
                        except Exception as exc2:
                            _log.warning("%s: error ignored in rollback: %s", operation, exc2)
                    raise
                finally:
                    await self._checkin(conn, is_warm)
                return result
            except PersistenceError:
                raise
            except Exception as exc:
                if retry_dead and attempt <= _RECONNECT_ATTEMPTS and _is_dead_connection(exc, conn):
                    _log.warning("%s: connection lost (%s); retrying on a fresh connection",
                                 operation, type(exc).__name__)
                    await asyncio.sleep(0.05 * attempt)
                    continue
                raise translate(exc, operation) from exc

    async def run_prepared(
        self, operation: str, query: PreparedQuery, params: Mapping[str, Any], *,
        text: bool = False,
    ) -> tuple[list[tuple[Any, ...]], int]:
        """Run ONE statement (its own transaction) on the warm connection, prepared
        and sent through libpq (:func:`._prepared.execute_prepared`); returns its rows
        as text values and how many attempts it took (> 1: an earlier attempt's
        connection died, maybe after the server committed it).  ``text``: the values
        as ``str`` (decoded in the connection's encoding) instead of ``bytes``.

        The warm connection is the one the previous call used, kept out of the pool
        until :data:`WARM_IDLE_SECONDS` pass without a call (one timer per idle period,
        not per call) or a client of the pool is waiting; a call that finds it busy
        takes a connection from the pool for itself.  Errors are translated and dead
        connections retried like :meth:`run`.
        """
        attempt = 0
        while True:
            attempt += 1
            conn: AsyncConnection[Any] | None = None
            try:
                conn, warm = await self._checkout(make_warm=True)
                try:
                    # The warm connection keeps its socket's reader from one statement
                    # to the next (released whenever it leaves this path).
                    rows = await execute_prepared(conn, query, params, keep_reader=warm,
                                                  text=text)
                finally:
                    await self._checkin(conn, warm)
                return rows, attempt
            except PersistenceError:
                raise
            except Exception as exc:
                if attempt <= _RECONNECT_ATTEMPTS and _is_dead_connection(exc, conn):
                    _log.warning("%s: connection lost (%s); retrying on a fresh connection",
                                 operation, type(exc).__name__)
                    await asyncio.sleep(0.05 * attempt)
                    continue
                raise translate(exc, operation) from exc

    # -- the warm connection -----------------------------------------------------------
    async def _checkout(self, *, make_warm: bool) -> tuple[AsyncConnection[Any], bool]:
        """``(connection, is_warm)``: the warm connection when it is free, else one from
        the pool (which becomes the warm one when ``make_warm`` and there is none)."""
        conn = self._warm
        if conn is not None and not self._warm_busy:
            self._warm_busy = True
            return conn, True
        pool = await self.ready_pool()
        conn = await pool.getconn()
        if make_warm and self._warm is None and not self._closed:
            self._warm, self._warm_busy = conn, True
            self._warm_timer = asyncio.get_running_loop().call_later(
                WARM_IDLE_SECONDS, self._warm_check)
            return conn, True
        return conn, False

    async def _checkin(self, conn: AsyncConnection[Any], warm: bool) -> None:
        if not warm:
            await self._put_back(conn)
            return
        self._warm_busy = False
        self._warm_used = asyncio.get_running_loop().time()
        if (self._closed or conn.closed or conn.pgconn.transaction_status != _IDLE
                or getattr(self._pool, "_waiting", None)):  # another client waits: give it back
            self._drop_warm()

    def _warm_check(self) -> None:
        """Give the warm connection back once it has been idle long enough."""
        self._warm_timer = None
        if self._warm is None:
            return
        loop = asyncio.get_running_loop()
        idle = loop.time() - self._warm_used
        if self._warm_busy or idle < WARM_IDLE_SECONDS:
            delay = WARM_IDLE_SECONDS if self._warm_busy else WARM_IDLE_SECONDS - idle
            self._warm_timer = loop.call_later(delay, self._warm_check)
            return
        self._drop_warm()

    def _drop_warm(self) -> None:
        """Hand the warm connection back to the pool (in a task: putconn is async)."""
        conn, self._warm = self._warm, None
        self._warm_busy = False
        if self._warm_timer is not None:
            self._warm_timer.cancel()
            self._warm_timer = None
        if conn is not None:
            release_reader(conn)
            task = asyncio.get_running_loop().create_task(self._put_back(conn))
            self._returns.add(task)
            task.add_done_callback(self._returns.discard)

    async def _put_back(self, conn: AsyncConnection[Any]) -> None:
        pool = self._pool
        if pool is None:  # the store was closed meanwhile (and its pool with it)
            await conn.close()
            return
        await pool.putconn(conn)

    async def fetch_all(
        self, operation: str, query: sql.Composed | bytes, params: Mapping[str, Any] | Sequence[Any],
        *, binary: bool = False,
    ) -> list[tuple[Any, ...]]:
        """All rows of one read-only statement (retried on a dead connection).

        ``binary=True`` asks for binary results: integers then skip text parsing (text
        columns arrive as ``str`` either way), which pays off on large reads.
        """

        async def work(conn: AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cur = conn.cursor(binary=True) if binary else conn.cursor()
            await cur.execute(query, params)
            rows: list[tuple[Any, ...]] = await cur.fetchall()
            return rows

        return await self.run(operation, work)

    async def fetch_one(
        self, operation: str, query: sql.Composed | bytes, params: Mapping[str, Any] | Sequence[Any]
    ) -> tuple[Any, ...] | None:
        """The first row of one statement, or ``None``."""

        async def work(conn: AsyncConnection[Any]) -> tuple[Any, ...] | None:
            cur = await conn.execute(query, params)
            row: tuple[Any, ...] | None = await cur.fetchone()
            return row

        return await self.run(operation, work)

    async def close(self) -> None:
        """Close the pool if this store built it; a shared pool stays open."""
        self._closed = True
        if self._warm is not None and not self._warm_busy:
            self._drop_warm()  # a busy one is dropped when its call ends
        if self._returns:
            await asyncio.gather(*self._returns, return_exceptions=True)
        if self.owns_pool and self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


async def _connect_error(
    conninfo: str, kwargs: Mapping[str, Any], timeout: float
) -> BaseException | None:
    """Why a connection cannot be made (the driver error), or ``None`` if it now can."""
    try:
        conn = await asyncio.wait_for(AsyncConnection.connect(conninfo, **kwargs), timeout)
    except Exception as exc:
        return exc
    await conn.close()
    return None


def _redact_config(config: Mapping[str, Any] | None) -> Any:
    if config is None:
        return None
    redacted = dict(config)
    kwargs = redacted.get("kwargs")
    if isinstance(kwargs, Mapping):
        redacted["kwargs"] = redact_params(kwargs)
    return redacted
