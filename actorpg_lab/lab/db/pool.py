"""The stores' shared connection pool of a workbench (psycopg), opened with the
workbench's connect timeout; a server that cannot be reached is a
:class:`~actorpg_lab.JournalError` naming it (:mod:`.errors`)."""

from __future__ import annotations

from typing import Any

from ..._dsn import with_connect_timeout
from .errors import connection_failed, is_driver_error

__all__ = ["open_pool"]


async def open_pool(url: str, max_size: int, timeout: dict[str, Any]) -> Any:
    from psycopg_pool import AsyncConnectionPool, PoolTimeout

    # How long a store call waits for a connection: the pool keeps retrying a server
    # that is down, so a short connect timeout also shortens this wait.
    seconds = timeout.get("connect_timeout")
    wait = 30.0 if seconds is None else max(3.0, 2.0 * seconds)
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url, min_size=1, max_size=max_size,
        kwargs=with_connect_timeout(url, {"autocommit": True, **timeout}),
        open=False, name="actorpg-lab", timeout=wait,
    )
    try:
        await pool.open(wait=True, timeout=15)
    except PoolTimeout as exc:
        await pool.close()
        raise connection_failed(url, exc, hint="no connection within 15 s") from exc
    except Exception as exc:
        await pool.close()
        if is_driver_error(exc):
            raise connection_failed(url, exc) from exc
        raise
    except BaseException:
        await pool.close()
        raise
    return pool
