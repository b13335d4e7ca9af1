"""What every PostgreSQL store shares: its :class:`Database` (pool and schema) and ``close``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg_pool import AsyncConnectionPool

from ._database import Database
from ._schema import SchemaSpec

__all__ = ["PostgresStore"]


class PostgresStore:
    """Base of the three stores: a shared ``pool=`` (never closed here) or a pool built
    lazily from ``url=`` + ``pool_config=`` (closed by :meth:`close`), and the store's
    schema checked (and what is missing built, when ``auto_create_tables`` is on) on
    first use."""

    def __init__(
        self,
        *,
        url: str | None,
        pool_config: Mapping[str, Any] | None,
        pool: AsyncConnectionPool[Any] | None,
        schema: SchemaSpec,
        auto_create_tables: bool,
    ) -> None:
        # Without auto_create_tables the catalog is still checked once when the schema
        # has migrations (so a missing column is named, with the script that adds it).
        check = auto_create_tables or bool(schema.columns)
        self._db = Database(
            url=url, pool_config=pool_config, pool=pool, owner=type(self).__name__,
            schema=schema if check else None, create_tables=bool(auto_create_tables),
        )

    @property
    def database(self) -> Database:
        """The connection/pool boundary this store uses."""
        return self._db

    @property
    def _where(self) -> str:
        """``url=<redacted>`` or ``shared pool``, for reprs."""
        return self._db.where

    async def close(self) -> None:
        """Close the pool if this store built it; a shared pool stays open."""
        await self._db.close()
