"""LISTEN for a journal's append notifications on a dedicated connection.

Live queries call :meth:`Listener.wait`; the listener connects lazily (same conninfo
and connection kwargs as the journal's pool, but outside it, so LISTEN never holds a
pooled connection hostage), reconnects on the next wait after losing its connection,
and degrades to plain polling (sleeping the timeout) while it cannot connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from psycopg import AsyncConnection, sql

from .._dsn import with_connect_timeout
from .._errors import JournalError
from ._database import Database

__all__ = ["Listener"]

_log = logging.getLogger("actorpg_lab.postgres.journal")

#: The longest the dedicated LISTEN connection may take to open.
_CONNECT_TIMEOUT_S = 10.0


class Listener:
    """LISTEN on ``channel`` using ``database``'s connection settings."""

    def __init__(self, database: Database, channel: str) -> None:
        self._db = database
        self.channel = channel
        self._conn: AsyncConnection[Any] | None = None
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connecting: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<Listener channel={self.channel!r} connected={self._conn is not None}>"

    async def _connect(self) -> None:
        if self._db.closed:
            raise JournalError(f"{self._db.owner} is closed")
        conninfo, kwargs = self._db.connection_settings()
        # asyncio.timeout, not wait_for: on Python 3.11 a wait_for cancelled just as the
        # connect finished drops the new connection (it then leaks, unclosed); awaited
        # directly, a finished connect is always bound to ``conn`` and closed below.
        async with asyncio.timeout(_CONNECT_TIMEOUT_S):
            conn = await AsyncConnection.connect(
                conninfo, **with_connect_timeout(conninfo, {**kwargs, "autocommit": True}))
        try:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        except BaseException:  # failed, or cancelled: do not leak the connection
            with contextlib.suppress(Exception):
                await conn.close()
            raise
        self._conn = conn
        self._task = asyncio.create_task(self._pump(conn), name=f"listen:{self.channel}")

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
        """Wait for a notification, at most ``timeout`` seconds; ``True`` if one came.

        The first call (or the first after the connection was lost) starts connecting in
        the background: the store's first use may create tables, which can take longer
        than ``timeout``, and a connect cut off half-way would leak its connection.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._conn is None:
            if self._connecting is None:
                self._connecting = asyncio.create_task(self._connect(),
                                                       name=f"connect:{self.channel}")
            await asyncio.wait([self._connecting], timeout=timeout)
            if not self._connecting.done():
                return False
            connecting, self._connecting = self._connecting, None
            exc = connecting.exception()
            if exc is not None:
                _log.info("cannot LISTEN (%s); polling every %.2fs", exc, timeout)
                await asyncio.sleep(max(0.0, deadline - loop.time()))
                return False
        # asyncio.timeout, not wait_for: on Python 3.11 a wait_for cancelled in the same
        # tick as the event is set returns True and swallows the cancellation, so a
        # caller looping on wait() (rebuild, wait_for) could never be cancelled.
        try:
            async with asyncio.timeout(max(0.0, deadline - loop.time())):
                await self._event.wait()
            return True
        except TimeoutError:
            return False
        finally:
            self._event.clear()

    async def close(self) -> None:
        """Stop listening and close the dedicated connection."""
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(BaseException):
                await self._connecting
            self._connecting = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
