"""The workbench's SQL: ``sql/*.sql`` beside this module, identifiers bound safely.

Statements use ADBC's ``$n`` parameters for values; ``{name}`` placeholders are filled
with quoted identifiers (or other statement fragments) through :mod:`psycopg.sql`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from psycopg import sql

__all__ = ["composed", "fragment", "load_sql", "position_column", "render"]


@cache
def load_sql(name: str) -> str:
    """The text of ``sql/<name>.sql`` without its full-line ``--`` comments."""
    text = resources.files(__package__).joinpath("sql", f"{name}.sql").read_text("utf-8")
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


def fragment(name: str) -> sql.SQL:
    """``sql/<name>.sql`` as a composable fragment (to fill a ``{placeholder}``)."""
    return sql.SQL(load_sql(name))


def position_column(alias: str, present: bool) -> sql.Composable:
    """The ``position`` column of an event SELECT over the events table aliased ``alias``:
    the commit-ordered position as a ``bigint`` (``xid8`` has no direct cast), or ``0``
    when the table has no ``position`` column (a journal created before positions; the
    migration gives its stored rows position 0 too)."""
    if present:
        return sql.SQL("{}.position::text::bigint").format(sql.Identifier(alias))
    return sql.SQL("0::bigint")


def render(name: str, **parts: str | sql.Composable) -> str:
    """``sql/<name>.sql`` with each ``{placeholder}`` bound: a ``str`` becomes a quoted
    identifier, a :class:`psycopg.sql.Composable` is inserted as is."""
    bound = {k: sql.Identifier(v) if isinstance(v, str) else v for k, v in parts.items()}
    return sql.SQL(load_sql(name)).format(**bound).as_string(None)


def composed(name: str, **identifiers: str) -> sql.Composed:
    """``sql/<name>.sql`` for psycopg (``%(name)s`` values), identifiers bound."""
    return sql.SQL(load_sql(name)).format(
        **{key: sql.Identifier(value) for key, value in identifiers.items()}
    )
