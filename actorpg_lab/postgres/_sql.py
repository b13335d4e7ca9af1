"""Load the ``.sql`` files beside this module and bind table identifiers safely.

Each file holds one statement (or, for ``*_schema.sql``, one script) with
``{name}`` placeholders for identifiers, filled with :class:`psycopg.sql.Identifier`;
values are always ``%(name)s`` bind parameters.
"""

from __future__ import annotations

from psycopg import sql

from .. import _sql_files

__all__ = ["load_sql", "statement"]


def load_sql(name: str) -> str:
    """The text of ``sql/<name>.sql`` without its full-line ``--`` comments."""
    return _sql_files.load_sql(__package__, name)


def statement(name: str, **identifiers: str | sql.Composable) -> sql.Composed:
    """``sql/<name>.sql`` with each ``{placeholder}`` bound to a quoted identifier
    (a ``str``) or to a fixed SQL fragment (a :class:`psycopg.sql.Composable`, e.g.
    ``sql.SQL("CONCURRENTLY")``)."""
    return sql.SQL(load_sql(name)).format(
        **{key: value if isinstance(value, sql.Composable) else sql.Identifier(value)
           for key, value in identifiers.items()}
    )
