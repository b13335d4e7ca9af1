"""The workbench's SQL: ``sql/*.sql`` beside this module, identifiers bound safely.

One placeholder dialect: values are ``$name`` (or ``$n``), bound as quoted literals
(:mod:`.literals`); ``{name}`` placeholders are filled with quoted identifiers (or other
statement fragments) through :mod:`psycopg.sql`.
"""

from __future__ import annotations

from psycopg import sql

from ... import _sql_files
from .literals import SqlValues, bind_literals

__all__ = ["bound", "event_type_of", "fragment", "load_sql", "metadata_columns",
           "metadata_ids", "position_column", "render"]


def load_sql(name: str) -> str:
    """The text of ``sql/<name>.sql`` without its full-line ``--`` comments."""
    return _sql_files.load_sql(__package__, name)


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


def event_type_of(alias: str) -> sql.Composable:
    """The stored type name of ``<alias>.payload`` (NULL for plain JSON): the journal's
    one definition of an event's type (``postgres/sql/journal_type_expression.sql``),
    so the workbench reads envelopes exactly as the journal's type index does."""
    from ...postgres._journal_schema import type_expression

    return type_expression(sql.SQL("{}.payload").format(sql.Identifier(alias)))


def metadata_columns(alias: str, present: bool) -> dict[str, sql.Composable]:
    """``{correlation_id}``, ``{causation_id}`` of an event SELECT over ``alias``: the ids
    in the metadata column (JSON text; NULL without metadata, and for every row of a
    table without the column).  (The frame's ``event_type`` is computed from the payload
    in the client: :func:`..frames.event_type.event_types`.)"""
    if not present:
        return {"correlation_id": sql.SQL("NULL::text"), "causation_id": sql.SQL("NULL::text")}
    meta = sql.SQL("{}.metadata").format(sql.Identifier(alias))
    return {"correlation_id": sql.SQL("({}::jsonb ->> 'correlation_id')").format(meta),
            "causation_id": sql.SQL("({}::jsonb ->> 'causation_id')").format(meta)}


def metadata_ids(alias: str, present: bool, as_list: bool) -> sql.Composable:
    """``{metadata_ids}`` of an event SELECT over ``alias``: the select-list entries of
    the two ids of :func:`metadata_columns` — as the columns ``correlation_id`` and
    ``causation_id``, or (``as_list``) as ONE ``text[]`` column ``metadata_ids``,
    ``[correlation_id, causation_id]``, NULL for an event without metadata.  Same values
    either way (the frame builder splits the list); the list costs the client one field
    per event instead of two (ADBC's binary decoder pays ~35 ns per field, NULL or not:
    ~1.1 ms per 30k events) but more for an event with metadata, so the loader picks it
    for a journal whose events mostly have none (:class:`..frames.loader.FrameLoader`)."""
    ids = metadata_columns(alias, present)
    if not as_list:
        return sql.SQL("{} AS correlation_id, {} AS causation_id").format(
            ids["correlation_id"], ids["causation_id"])
    if not present:
        return sql.SQL("NULL::text[] AS metadata_ids")
    meta = sql.SQL("{}.metadata").format(sql.Identifier(alias))
    return sql.SQL("CASE WHEN {} IS NULL THEN NULL ELSE ARRAY[{}, {}] END AS metadata_ids"
                   ).format(meta, ids["correlation_id"], ids["causation_id"])


def render(name: str, **parts: str | sql.Composable) -> str:
    """``sql/<name>.sql`` with each ``{placeholder}`` bound: a ``str`` becomes a quoted
    identifier, a :class:`psycopg.sql.Composable` is inserted as is."""
    bound = {k: sql.Identifier(v) if isinstance(v, str) else v for k, v in parts.items()}
    return sql.SQL(load_sql(name)).format(**bound).as_string(None)


def bound(name: str, values: SqlValues = (), **parts: str | sql.Composable) -> str:
    """``sql/<name>.sql`` rendered (:func:`render`) with its ``$name`` values bound as
    literals (:func:`~.literals.bind_literals`): a complete statement for any driver —
    the workbench's SQL has ONE placeholder dialect, ``$name``/``$n``, whether ADBC or
    psycopg runs it."""
    return bind_literals(render(name, **parts), values)
