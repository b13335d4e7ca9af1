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
from ._database import Database

__all__ = ["Listener"]

_log = logging.getLogger("actorpg_lab.postgres.journal")


class Listener:
    """LISTEN on ``channel`` using ``database``'s connection settings."""

    def __init__(self, database: Database, channel: str) -> None:
        self._db = database
        self.channel = channel
        self._conn: AsyncConnection[Any] | None = None
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<Listener channel={self.channel!r} connected={self._conn is not None}>"

    async def _connect(self) -> None:
        pool = await self._db.ready_pool()
        conninfo = pool.conninfo if isinstance(pool.conninfo, str) else self._db.url or ""
        kwargs = pool.kwargs if isinstance(pool.kwargs, dict) else {}
        conn = await AsyncConnection.connect(
            conninfo, **with_connect_timeout(conninfo, {**kwargs, "autocommit": True}))
        try:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        except BaseException:  # failed, or cancelled by wait()'s timeout: do not leak it
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
        """Wait for a notification, at most ``timeout`` seconds; ``True`` if one came."""
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
        """Stop listening and close the dedicated connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
