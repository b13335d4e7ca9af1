"""One statement on a warm connection, prepared once, sent straight through libpq.

The single-event append is one round trip and one commit, so what the client does
around that round trip decides how close it comes to a bare ``INSERT``.  Measured here
(``bench/_profile_append.py``, 1 event per call): psycopg's async ``execute`` spends
~95 µs of client CPU per call where a loop over its libpq wrapper (``pgconn``) waiting
for the socket with ``loop.add_reader`` spends ~40 µs, the same as a *synchronous*
psycopg ``execute``.  :class:`PreparedQuery` and :func:`execute_prepared` are that loop:

* the statement (``%(name)s`` placeholders, as in the ``.sql`` files) is converted to
  ``$n`` once, prepared once per connection and parameter-type signature (a name unique
  in the process), and executed with ``PQsendQueryPrepared``; parameters travel as
  text (``str`` as *unknown*, ``int`` as ``int8``, ``bool`` as ``bool``, ``None`` as
  NULL), results come back as text (``bytes``, parsed by the caller); a connection
  whose psycopg ``prepare_threshold`` is ``None`` ("never prepare", e.g. behind a
  transaction-pooling PgBouncer) gets the unnamed statement instead, parsed each time;
* the connection is a psycopg :class:`~psycopg.AsyncConnection` from the pool and is
  left exactly as psycopg expects it: idle, nothing pending (the server runs the
  statement as its own transaction, as on an autocommit connection);
* an error result becomes the psycopg exception psycopg would have raised
  (:func:`psycopg.errors.error_from_result`), so the caller translates it as usual; a
  statement the server no longer knows (``DISCARD ALL`` by a pool ``reset`` hook) is
  prepared again and retried once; a dead connection or a cancelled wait closes the
  connection (a statement may be in flight: it is never handed out again);
* on the warm connection (``keep_reader=True``) the socket's reader stays registered
  from one statement to the next (:class:`_Reader`: measured 17-27 µs less client CPU
  per single-event append, +6 % appends/s, paired rounds); the database layer releases
  it (:func:`release_reader`) whenever the connection leaves that path.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import struct
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from psycopg import AsyncConnection, errors
from psycopg.pq import ExecStatus, Format

__all__ = ["Binary", "PreparedQuery", "TextArray", "bytea", "execute_prepared", "int8_array",
           "release_reader", "text_array"]

_PLACEHOLDER = re.compile(rb"%\((\w+)\)([sb])|%%")
_INT8, _BOOL, _UNKNOWN, _TEXT, _BYTEA = 20, 16, 0, 25, 17
_TEXT_ARRAY, _INT8_ARRAY = 1009, 1016
_IDS = itertools.count(1)
#: Statement names prepared on each connection (dropped with the connection).
_PREPARED: weakref.WeakKeyDictionary[Any, set[bytes]] = weakref.WeakKeyDictionary()
#: SQLSTATE of "prepared statement ... does not exist".
_UNKNOWN_STATEMENT = "26000"


class Binary(NamedTuple):
    """A parameter already in PostgreSQL's binary format (for a ``%(name)b``
    placeholder): its type OID and bytes (:func:`text_array`, :func:`int8_array`)."""

    oid: int
    data: bytes


class TextArray(NamedTuple):
    """A ``text[]`` parameter for a ``%(name)b`` placeholder, sent in binary in the
    connection's encoding (:func:`text_array`); ``None`` values are NULL elements."""

    values: Sequence[str | None]


def text_array(values: Sequence[str | None], encoding: str) -> Binary:
    """``values`` as a binary ``text[]`` (``array_send``'s layout: ndim, has-NULL flag,
    element type, dimension, lower bound, then length-prefixed elements, -1 for NULL)."""
    if not values:
        return Binary(_TEXT_ARRAY, struct.pack("!iiI", 0, 0, _TEXT))
    pack = struct.Struct("!i").pack
    parts = [b""]
    nulls = 0
    for value in values:
        if value is None:
            nulls = 1
            parts.append(pack(-1))
            continue
        data = value.encode(encoding)
        parts.append(pack(len(data)))
        parts.append(data)
    parts[0] = struct.pack("!iiIii", 1, nulls, _TEXT, len(values), 1)
    return Binary(_TEXT_ARRAY, b"".join(parts))


def bytea(data: bytes) -> Binary:
    """``data`` as a binary ``bytea`` (its binary format is the bytes themselves)."""
    return Binary(_BYTEA, bytes(data))


def int8_array(values: Sequence[int]) -> Binary:
    """``values`` (signed 64-bit) as a binary ``bigint[]``."""
    if not values:
        return Binary(_INT8_ARRAY, struct.pack("!iiI", 0, 0, _INT8))
    return Binary(_INT8_ARRAY, struct.pack("!iiIii", 1, 0, _INT8, len(values), 1)
                  + b"".join(struct.pack("!iq", 8, value) for value in values))


class PreparedQuery:
    """A ``%(name)s`` statement converted to ``$n`` once; a ``%(name)b`` parameter is
    sent in binary and takes a :class:`Binary` value."""

    __slots__ = ("_names", "binary", "names", "sql")

    def __init__(self, query: bytes) -> None:
        order: dict[str, int] = {}
        binary: set[str] = set()

        def number(match: re.Match[bytes]) -> bytes:
            if match.group(0) == b"%%":
                return b"%"
            name = match.group(1).decode()
            if match.group(2) == b"b":
                binary.add(name)
            if name not in order:
                order[name] = len(order) + 1
            return b"$%d" % order[name]

        self.sql = _PLACEHOLDER.sub(number, query)
        #: The parameter names in ``$n`` order.
        self.names = tuple(order)
        #: The parameter formats in ``$n`` order (1: binary) or ``None`` (all text).
        self.binary = tuple(int(n in binary) for n in self.names) if binary else None
        self._names: dict[tuple[int, ...], bytes] = {}

    def name_for(self, types: tuple[int, ...]) -> bytes:
        """The statement name of one parameter-type signature (unique in the process)."""
        name = self._names.get(types)
        if name is None:
            name = self._names[types] = b"actorpg_%d" % next(_IDS)
        return name


def _encode(params: Mapping[str, Any], names: tuple[str, ...],
            encoding: str) -> tuple[list[bytes | None], tuple[int, ...]]:
    values: list[bytes | None] = []
    types: list[int] = []
    for name in names:
        value = params[name]
        if value is None:
            values.append(None)
            types.append(_UNKNOWN)
        elif type(value) is str:
            values.append(value.encode(encoding))
            types.append(_UNKNOWN)
        elif type(value) is bool:
            values.append(b"t" if value else b"f")
            types.append(_BOOL)
        elif type(value) is int:
            values.append(b"%d" % value)
            types.append(_INT8)
        elif type(value) is TextArray:
            values.append(text_array(value.values, encoding).data)
            types.append(_TEXT_ARRAY)
        elif type(value) is Binary:
            values.append(value.data)
            types.append(value.oid)
        else:
            raise TypeError(f"PreparedQuery parameter {name!r}: unsupported {type(value).__name__}")
    return values, tuple(types)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class _Reader:
    """A reader kept registered on a warm connection's socket from one statement to the
    next (``execute_prepared(..., keep_reader=True)``), so a statement's wait costs a
    future and no ``add_reader``/``remove_reader`` pair (two ``epoll_ctl`` calls and
    asyncio's bookkeeping: measured 11 vs 3.4 µs per wait on asyncio, hot).

    The callback reads what arrived itself (``consume_input``) and wakes the waiting
    statement only once its result is complete, so the socket is drained before the
    statement resumes and never wakes the loop twice.  Data arriving while no
    statement waits (a notice, the server going away) unregisters it: the next
    statement registers afresh and psycopg reads that data as usual.  It must be
    released (:func:`release_reader`) before anything else waits on the socket or
    closes it: the database layer does that whenever the warm connection leaves the
    prepared path.
    """

    __slots__ = ("fd", "fut", "loop", "pgconn")

    def __init__(self, loop: asyncio.AbstractEventLoop, pgconn: Any) -> None:
        self.loop = loop
        self.pgconn = pgconn
        self.fd: int = pgconn.socket
        self.fut: asyncio.Future[None] | None = None
        loop.add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        fut = self.fut
        if fut is None:  # nobody waits: stop watching; the next statement re-registers
            self.release()
            return
        if fut.done():
            return
        try:
            self.pgconn.consume_input()
        except Exception as exc:  # a broken connection: the waiter raises it
            # libpq may have closed the socket: unregister at once, before another
            # socket can get its number.
            self.release()
            fut.set_exception(exc)
            return
        if not self.pgconn.is_busy():
            fut.set_result(None)

    async def wait(self) -> None:
        """Until the statement in flight has a result to take (or the socket failed)."""
        fut = self.loop.create_future()
        self.fut = fut
        try:
            await fut
        finally:
            self.fut = None

    def release(self) -> None:
        """Unregister (idempotent); the connection's socket is then nobody's reader."""
        reader = _READERS.pop(self.pgconn, None)
        if reader is self:
            self.loop.remove_reader(self.fd)


#: The kept readers, by libpq connection (dropped with it).
_READERS: weakref.WeakKeyDictionary[Any, _Reader] = weakref.WeakKeyDictionary()


def release_reader(conn: AsyncConnection[Any]) -> None:
    """Unregister the reader ``execute_prepared(keep_reader=True)`` left on ``conn``'s
    socket, if any: call it before ``conn`` is used any other way, handed on or closed."""
    reader = _READERS.get(conn.pgconn)
    if reader is not None:
        reader.release()


def _kept_reader(conn: AsyncConnection[Any], loop: asyncio.AbstractEventLoop) -> _Reader:
    pgconn = conn.pgconn
    reader = _READERS.get(pgconn)
    if reader is not None and (reader.loop is not loop or reader.fd != pgconn.socket):
        reader.release()
        reader = None
    if reader is None:
        reader = _READERS[pgconn] = _Reader(loop, pgconn)
    return reader


async def _result(conn: AsyncConnection[Any], loop: asyncio.AbstractEventLoop,
                  reader: _Reader | None = None) -> Any:
    """The next result of the statement in flight (``None`` at its end)."""
    pgconn = conn.pgconn
    if reader is not None:
        while pgconn.is_busy():
            await reader.wait()  # input already consumed by the reader
        return pgconn.get_result()
    while pgconn.is_busy():
        fut: asyncio.Future[None] = loop.create_future()
        fd = pgconn.socket
        loop.add_reader(fd, _wake, fut)
        try:
            await fut
        finally:
            loop.remove_reader(fd)
        pgconn.consume_input()
    return pgconn.get_result()


async def _flush(conn: AsyncConnection[Any], loop: asyncio.AbstractEventLoop) -> None:
    """Push what libpq still buffers of the command to the server: psycopg's async
    connections are non-blocking, so a large command (a big batch, a big payload) is
    not all sent by the ``send_*`` call; meanwhile whatever the server sends is read."""
    pgconn = conn.pgconn
    while pgconn.flush() != 0:
        fut: asyncio.Future[None] = loop.create_future()
        fd = pgconn.socket
        loop.add_writer(fd, _wake, fut)
        loop.add_reader(fd, _wake, fut)
        try:
            await fut
        finally:
            loop.remove_writer(fd)
            loop.remove_reader(fd)
        pgconn.consume_input()


async def _round_trip(conn: AsyncConnection[Any], loop: asyncio.AbstractEventLoop,
                      keep_reader: bool, send: Any, *args: Any) -> Any:
    """Send one command and collect its single result (raises its error).  With
    ``keep_reader`` the waits use the connection's kept reader (:class:`_Reader`)."""
    send(*args)
    reader: _Reader | None = None
    if keep_reader:
        if conn.pgconn.flush() != 0:  # a large command: the plain waits (they own the fd)
            release_reader(conn)
            await _flush(conn, loop)
        reader = _kept_reader(conn, loop)
    else:
        await _flush(conn, loop)
    result = await _result(conn, loop, reader)
    while await _result(conn, loop, reader) is not None:  # the end of the command
        pass
    if result is None:  # pragma: no cover - libpq always returns one result first
        raise errors.OperationalError("the server returned no result")
    if result.status == ExecStatus.FATAL_ERROR:
        raise errors.error_from_result(result, encoding=conn.info.encoding)
    return result


async def execute_prepared(conn: AsyncConnection[Any], query: PreparedQuery,
                           params: Mapping[str, Any], *,
                           keep_reader: bool = False,
                           text: bool = False) -> list[tuple[Any, ...]]:
    """Run ``query`` with ``params`` on ``conn`` (idle, not shared meanwhile); the rows
    as tuples of text values (``bytes``, ``None`` for NULL).

    ``text``: the values as ``str`` instead (decoded in the connection's encoding).

    ``keep_reader``: leave a reader registered on the socket for the next statement
    (a warm connection; see :class:`_Reader`); whoever uses ``conn`` otherwise next
    must call :func:`release_reader` first.  On any error it is released.

    Raises the psycopg error of an error result (the connection stays usable) or of a
    broken connection; on any other interruption (a cancelled wait) the connection is
    closed, since a statement may still be in flight on it.
    """
    loop = asyncio.get_running_loop()
    pgconn = conn.pgconn
    values, types = _encode(params, query.names, conn.info.encoding)
    name = query.name_for(types)
    prepared = _PREPARED.get(conn)
    if prepared is None:
        prepared = _PREPARED[conn] = set()
    try:
        if conn.prepare_threshold is None:
            # The connection says "never prepare" (psycopg's switch, e.g. behind a
            # transaction-pooling PgBouncer): the unnamed statement, parsed every time.
            result = await _round_trip(conn, loop, keep_reader, pgconn.send_query_params,
                                       query.sql, values, types, query.binary, Format.TEXT)
            return _rows(result, conn.info.encoding if text else None)
        for attempt in (1, 2):
            if name not in prepared:
                await _round_trip(conn, loop, keep_reader, pgconn.send_prepare, name,
                                  query.sql, types)
                prepared.add(name)
            try:
                result = await _round_trip(conn, loop, keep_reader, pgconn.send_query_prepared,
                                           name, values, query.binary, Format.TEXT)
            except errors.Error as exc:
                if attempt == 1 and exc.sqlstate == _UNKNOWN_STATEMENT:
                    prepared.clear()  # e.g. DISCARD ALL: prepare again, once
                    continue
                raise
            break
    except errors.Error:
        release_reader(conn)
        raise
    except BaseException:
        # Cancelled (or failed) with a statement possibly in flight: never reuse it.
        release_reader(conn)
        _PREPARED.pop(conn, None)
        pgconn.finish()
        raise
    return _rows(result, conn.info.encoding if text else None)


def _rows(result: Any, encoding: str | None) -> list[tuple[Any, ...]]:
    """The result's rows as ``bytes`` values, or as ``str`` decoded with ``encoding``."""
    rows = result.ntuples
    if not rows:
        return []
    cols = result.nfields
    get = result.get_value
    if encoding is None:
        return [tuple(get(r, c) for c in range(cols)) for r in range(rows)]
    return [tuple(None if (v := get(r, c)) is None else v.decode(encoding)
                  for c in range(cols)) for r in range(rows)]
