"""Load the ``.sql`` files beside this module and bind table identifiers safely.

Each file holds one statement (or, for ``*_schema.sql``, one script) with
``{name}`` placeholders for identifiers, filled with :class:`psycopg.sql.Identifier`;
values are always ``%(name)s`` bind parameters.
"""

from __future__ import annotations

from psycopg import sql

from .. import _sql_files

__all__ = ["APPEND_FRAGMENTS", "append_statement", "load_sql", "statement"]

#: The parts the append statements share (``journal_append.sql``, ``_one``, ``_keyed``,
#: ``_if``): placeholder -> the fragment file filled into it.
APPEND_FRAGMENTS = {"head": "journal_append_head", "events_rows": "journal_append_events",
                    "tag_rows": "journal_append_tag_rows", "result": "journal_append_result"}


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


def append_statement(name: str, **identifiers: str | sql.Composable) -> sql.Composed:
    """:func:`statement` for an append statement: each :data:`APPEND_FRAGMENTS`
    placeholder the file has is filled with that fragment (bound to the same
    ``identifiers``).  Composed once when a journal renders its statements: the text
    sent (and prepared) is the same as if the fragments were written out in the file."""
    text = load_sql(name)
    parts = {key: statement(fragment, **identifiers)
             for key, fragment in APPEND_FRAGMENTS.items() if f"{{{key}}}" in text}
    return statement(name, **parts, **identifiers)
