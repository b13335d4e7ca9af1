"""Creating and migrating a store's tables without stalling the application's writers.

A :class:`SchemaSpec` lists what a store needs: its tables (each with the script that
creates it from nothing), columns added since a table's first release, and indexes.
:func:`ensure_schema` first reads the catalog (``sql/schema_catalog.sql``: no locks
beyond a catalog snapshot) and returns at once when everything is there, which is the
case on every start-up but the first.  Only what is missing is built, under the
schema advisory lock (so several processes starting at once against a fresh database
do the work once):

* a missing table: its create script in one transaction (a table nobody has yet
  cannot hold up anybody's writes);
* a missing column of an existing table: ``ALTER TABLE`` with a short
  ``lock_timeout``, retried with back-off.  ``ALTER TABLE`` needs an exclusive lock;
  a lock request that waits queues every later writer behind it, so the request is
  withdrawn after :data:`LOCK_TIMEOUT_MS` instead of ever being held while others wait;
* a missing (or invalid) index of an existing table: ``CREATE INDEX CONCURRENTLY``,
  which does not block writers at all;
* a missing function (e.g. the journal's IMMUTABLE event-type function an index is
  built on): created first, in its own transaction (it locks no table).

With ``auto_create_tables=False`` nothing is created: missing columns are reported
back (the journal then keeps working without them where it can, and names the SQL
script that adds them where it cannot; see :func:`missing_columns_error`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection, errors, sql
from psycopg_pool import AsyncConnectionPool

from .._errors import JournalError
from ._sql import statement

__all__ = [
    "LOCK_TIMEOUT_MS",
    "ColumnSpec",
    "FunctionSpec",
    "IndexSpec",
    "SchemaSpec",
    "TableSpec",
    "ensure_schema",
    "missing_columns_error",
]

_log = logging.getLogger("actorpg_lab.postgres")

#: Advisory lock key serialising schema work across processes.
SCHEMA_LOCK_KEY = 0x6163746F72706721  # "actorpg!"
#: The longest an ALTER TABLE waits for its lock before giving way to writers.
LOCK_TIMEOUT_MS = 200
#: How long a migration keeps retrying a lock it cannot get before giving up.
MIGRATION_PATIENCE_S = 120.0
#: PostgreSQL truncates identifiers to this many bytes.
MAX_IDENTIFIER = 63


def index_name(base: str, suffix: str) -> str:
    """``base + suffix`` cut to PostgreSQL's identifier length (as the server would)."""
    return (base + suffix)[:MAX_IDENTIFIER]


@dataclass(frozen=True)
class TableSpec:
    """A table and the script that creates it (with everything it needs) from nothing."""

    name: str
    create: sql.Composed


@dataclass(frozen=True)
class ColumnSpec:
    """A column added after ``table``'s first release, the statement that adds it, and
    the manual migration a DBA runs instead (``None``: the schema's ``manual_script``)."""

    table: str
    name: str
    add: sql.Composed
    script: str | None = None


@dataclass(frozen=True)
class IndexSpec:
    """An index of ``table``; ``sql_name`` is its ``sql/`` file (with ``{concurrently}``,
    ``{index}`` and table placeholders filled from ``identifiers``)."""

    table: str
    name: str
    sql_name: str
    identifiers: tuple[tuple[str, str], ...] = ()

    def create(self, *, concurrently: bool) -> sql.Composed:
        return statement(
            self.sql_name, concurrently=sql.SQL("CONCURRENTLY" if concurrently else ""),
            index=self.name, **dict(self.identifiers),
        )


@dataclass(frozen=True)
class FunctionSpec:
    """A function ``signature`` (``"name(argtype, ...)"``, resolved on the search path like
    the tables), the script that creates (or replaces) it, and whether it is STRICT (one
    that exists with the other strictness is an earlier version's, replaced on open)."""

    signature: str
    create: sql.Composed
    strict: bool = False
    #: The store works without it (slower): a role that may not create it logs the
    #: script to run and goes on.
    optional: bool = False


@dataclass(frozen=True)
class SchemaSpec:
    """Everything one store needs; ``manual_script`` is what a DBA runs instead of
    ``auto_create_tables`` (named in the error when a column is missing)."""

    owner: str
    tables: Sequence[TableSpec]
    columns: Sequence[ColumnSpec] = ()
    indexes: Sequence[IndexSpec] = ()
    manual_script: str | None = None
    functions: Sequence[FunctionSpec] = ()
    #: The script that creates ``functions`` (named when one cannot be replaced).
    function_script: str | None = None
    _names: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "_names", tuple(t.name for t in self.tables))


@dataclass
class _Catalog:
    present: set[str]
    columns: dict[str, set[str]]
    indexes: dict[str, set[str]]
    invalid: dict[str, set[str]]
    missing_functions: set[str] = field(default_factory=set)
    #: Functions that exist in an earlier version's definition (see FunctionSpec).
    stale_functions: set[str] = field(default_factory=set)


async def _read_catalog(conn: AsyncConnection[Any], spec: SchemaSpec) -> _Catalog:
    cur = await conn.execute(statement("schema_catalog"), {"tables": list(spec._names)})
    catalog = _Catalog(set(), {}, {}, {})
    for name, present, columns, indexes, invalid in await cur.fetchall():
        if present:
            catalog.present.add(name)
        catalog.columns[name] = set(columns)
        catalog.indexes[name] = set(indexes)
        catalog.invalid[name] = set(invalid)
    if spec.functions:
        cur = await conn.execute(statement("schema_functions_missing"),
                                 {"signatures": [f.signature for f in spec.functions],
                                  "strict": [f.strict for f in spec.functions]})
        for signature, present in await cur.fetchall():
            (catalog.stale_functions if present else catalog.missing_functions).add(signature)
    return catalog


def _missing(spec: SchemaSpec, catalog: _Catalog) -> tuple[
        list[TableSpec], list[ColumnSpec], list[IndexSpec], list[FunctionSpec]]:
    tables = [t for t in spec.tables if t.name not in catalog.present]
    columns = [c for c in spec.columns
               if c.table in catalog.present and c.name not in catalog.columns[c.table]]
    indexes = [i for i in spec.indexes
               if i.name not in catalog.indexes.get(i.table, set())]
    functions = [f for f in spec.functions if f.signature in catalog.missing_functions
                 or f.signature in catalog.stale_functions]
    return tables, columns, indexes, functions


async def ensure_schema(
    pool: AsyncConnectionPool[Any], spec: SchemaSpec, *, create: bool
) -> frozenset[str]:
    """Make sure ``spec`` exists; build only what is missing (see the module docstring).

    ``create=False`` (``auto_create_tables=False``) builds nothing and returns the
    migration columns that are missing (``"table.column"``); a missing table is left
    to the first statement to report.  ``create=True`` returns an empty set.
    """
    async with pool.connection() as conn:  # ends (commits) a non-autocommit read too
        catalog = await _read_catalog(conn, spec)
    tables, columns, indexes, functions = _missing(spec, catalog)
    if not create:
        missing = frozenset(f"{c.table}.{c.name}" for c in columns)
        if missing:
            _log.warning("%s", missing_columns_error(spec, missing))
        return missing
    if tables or columns or indexes or functions:
        async with pool.connection() as conn:
            await _build(conn, spec)
    return frozenset()


def missing_columns_error(spec: SchemaSpec, missing: Iterable[str]) -> JournalError:
    """The error for an operation that needs columns a migration adds: it names the
    script(s) that add exactly those columns."""
    missing = sorted(missing)
    scripts = {c.script or spec.manual_script for c in spec.columns
               if f"{c.table}.{c.name}" in missing} - {None}
    named = " and ".join(sorted(s for s in scripts if s)) or spec.manual_script
    return JournalError(
        f"{spec.owner}: column(s) {', '.join(missing)} missing: the tables predate "
        f"this version and auto_create_tables=False, so they are not migrated "
        f"automatically; have an administrator run {named} (with the table "
        f"names adjusted), or enable auto_create_tables"
    )


async def _build(conn: AsyncConnection[Any], spec: SchemaSpec) -> None:
    """Under the session advisory lock: re-read the catalog, build what is missing."""
    autocommit = conn.autocommit
    if not autocommit:
        await conn.set_autocommit(True)
    await conn.execute("SELECT pg_advisory_lock(%s)", [SCHEMA_LOCK_KEY])
    try:
        catalog = await _read_catalog(conn, spec)
        tables, columns, indexes, functions = _missing(spec, catalog)
        new_tables = {t.name for t in tables}
        for function in functions:  # before the indexes built on them
            await _create_function(conn, spec, function,
                                   stale=function.signature in catalog.stale_functions)
        if tables:
            async with conn.transaction():
                for create in _distinct(t.create for t in tables):
                    await conn.execute(create)
                for index in indexes:  # a table made just now is empty: build in place
                    if index.table in new_tables:
                        await conn.execute(index.create(concurrently=False))
            _log.info("%s: created %s", spec.owner, ", ".join(sorted(new_tables)))
        for add in _distinct(c.add for c in columns):
            await _alter_politely(conn, spec, add)
        for index in indexes:
            if index.table in new_tables:
                continue
            if index.name in catalog.invalid.get(index.table, set()):  # a failed earlier build
                await conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(
                    sql.Identifier(index.name)))
            _log.info("%s: building index %s of %s concurrently", spec.owner, index.name,
                      index.table)
            await conn.execute(index.create(concurrently=True))
    finally:
        try:
            await conn.execute("SELECT pg_advisory_unlock(%s)", [SCHEMA_LOCK_KEY])
        finally:
            if not autocommit and not conn.closed:
                await conn.set_autocommit(False)


async def _create_function(conn: AsyncConnection[Any], spec: SchemaSpec,
                           function: FunctionSpec, *, stale: bool) -> None:
    """Create ``function``, or (``stale``) replace an earlier version's definition (same
    results).  A role that may not do so keeps the old definition of a stale function,
    and goes without an ``optional`` one (both work, only slower): it logs the script to
    run; for any other function the error is raised."""
    try:
        async with conn.transaction():
            await conn.execute(function.create)
    except errors.InsufficientPrivilege:
        if not (stale or function.optional):
            raise
        script = spec.function_script or spec.manual_script
        if stale:
            _log.warning("%s: %s has an earlier version's definition (it works, more slowly) "
                         "and this role may not replace it: have its owner run %s",
                         spec.owner, function.signature, script)
        else:
            _log.warning("%s: this role may not create %s (the store works without it, "
                         "more slowly): have the tables' owner run %s", spec.owner,
                         function.signature, script)
        return
    if stale:
        _log.info("%s: replaced %s with this version's definition", spec.owner,
                  function.signature)


def _distinct(scripts: Iterable[sql.Composed]) -> list[sql.Composed]:
    """Each script once (several specs share one script), in first-seen order."""
    seen: dict[int, sql.Composed] = {}
    for script in scripts:
        seen.setdefault(id(script), script)
    return list(seen.values())


async def _alter_politely(conn: AsyncConnection[Any], spec: SchemaSpec, add: sql.Composed) -> None:
    """Run ``add`` (ALTER TABLE) without ever queueing writers behind a waiting lock."""
    deadline = time.monotonic() + MIGRATION_PATIENCE_S
    delay = 0.05
    while True:
        try:
            async with conn.transaction():
                await conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(
                    sql.Literal(f"{LOCK_TIMEOUT_MS}ms")))
                await conn.execute(add)
            _log.info("%s: migrated (columns added)", spec.owner)
            return
        except errors.LockNotAvailable:
            if time.monotonic() > deadline:
                raise
            _log.info("%s: the tables are busy; retrying the migration in %.2fs", spec.owner,
                      delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
