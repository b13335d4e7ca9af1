"""What the journal's tables look like and how an older journal is brought up to date.

Three tables (``sql/journal_schema.sql``); the ``position`` column of the events and
tag tables (added to journals created before positions by
``sql/journal_add_position.sql``, or by a DBA with ``sql/migrate_positions.sql``), and
three indexes: the tag rows of an event (for ``delete``) and the two ordering indexes
of tag queries; and the event type (``sql/journal_type_function.sql``, the IMMUTABLE
``<events>_type_v1(payload)``) with its index ``<events>_by_type`` (built concurrently
on an existing journal; ``sql/migrate_dcb.sql`` for a DBA).
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from ._schema import ColumnSpec, FunctionSpec, IndexSpec, SchemaSpec, TableSpec, index_name
from ._sql import statement
from ._write_history import ConflictLog

__all__ = ["APPEND_IF_ARGS", "DCB_MIGRATION", "MANUAL_MIGRATION", "METADATA_MIGRATION",
           "READ_MATCHING_ARGS", "append_if_function", "append_if_function_name",
           "append_if_statement", "function_signature", "idempotency_table", "journal_schema",
           "lock_boundary_statement", "read_matching_function", "read_matching_function_name",
           "type_expression", "type_function_name", "type_index_name"]

#: The script a DBA runs when the store may not migrate (``auto_create_tables=False``).
MANUAL_MIGRATION = "actorpg_lab/postgres/sql/migrate_positions.sql"
#: The script that adds the event-type function and index (conditional appends need them).
DCB_MIGRATION = "actorpg_lab/postgres/sql/migrate_dcb.sql"


#: The script that adds the idempotency table (keyed appends need it).
METADATA_MIGRATION = "actorpg_lab/postgres/sql/migrate_metadata.sql"


def idempotency_table(events: str) -> str:
    """``<events>_idempotency``: the keys of keyed appends."""
    return index_name(events, "_idempotency")


def type_function_name(events: str) -> str:
    """``<events>_type_v1``: the IMMUTABLE function giving a payload's event type."""
    return index_name(events, "_type_v1")


def type_expression(payload: sql.Composable) -> sql.Composed:
    """THE definition of an event's type over the payload column ``payload`` (see
    ``sql/journal_type_expression.sql``)."""
    return statement("journal_type_expression", payload=payload)


def function_signature(name: str, args: Sequence[str]) -> str:
    """``"name"(arg, ...)``: a function's signature as the catalog checks resolve it."""
    return sql.SQL("{}({})").format(sql.Identifier(name), sql.SQL(", ".join(args))).as_string(None)


def append_if_function_name(events: str) -> str:
    """``<events>_append_if_v1``: the conditional-append function
    (``sql/journal_append_if_function.sql``)."""
    return index_name(events, "_append_if_v1")


#: The argument types of the conditional-append function (its signature).
APPEND_IF_ARGS = ("bigint[]", "boolean[]", "text", "boolean", "json", "json", "json", "json",
                  "json", "boolean", "text")

#: ``journal_append_if.sql``'s inputs: the function's parameters, or bound parameters.
_FUNCTION_INPUTS = {name: sql.SQL(f"p_{name}") for name in (
    "reqs", "items", "item_types", "type_items", "events", "notify", "channel")}
_BOUND_INPUTS = {**{name: sql.SQL(f"%({name})s::json") for name in (
    "reqs", "items", "item_types", "type_items", "events")},
    "notify": sql.SQL("false"), "channel": sql.SQL("NULL::text")}


def append_if_statement(events: str, tags: str, meta: str, *, metadata: bool,
                        in_function: bool) -> sql.Composed:
    """``sql/journal_append_if.sql`` for these tables: with the function's parameters
    (``in_function``) or with bound parameters (and no NOTIFY: the caller sends it after
    its COMMIT); ``metadata``: the events table has the metadata column."""
    inputs = _FUNCTION_INPUTS if in_function else _BOUND_INPUTS
    return statement(
        "journal_append_if", type_fn=type_function_name(events), events=events, tags=tags,
        meta=meta, metadata_column=sql.SQL(", metadata" if metadata else ""),
        metadata_value=sql.SQL(", ev.meta" if metadata else ""),
        after=statement("journal_match_after", **{
            name: sql.SQL(f"req.{name}") for name in (
                "snap", "u_pos", "u_pid", "u_seq", "a_pos", "a_pid", "a_seq")}),
        **{f"{name}_json" if name not in ("notify", "channel") else name: value
           for name, value in inputs.items()})


def lock_boundary_statement(*, in_function: bool) -> sql.Composed:
    """``sql/journal_lock_boundary.sql`` with the function's parameters
    (``in_function``) or with bound parameters."""
    if in_function:
        return statement("journal_lock_boundary", keys=sql.SQL("p_keys"),
                         exclusive=sql.SQL("p_exclusive"), lock_timeout=sql.SQL("p_lock_timeout"))
    return statement("journal_lock_boundary", keys=sql.SQL("%(keys)s::bigint[]"),
                     exclusive=sql.SQL("%(exclusive)s::bool[]"),
                     lock_timeout=sql.SQL("%(lock_timeout)s"))


def append_if_function(events: str, tags: str, meta: str) -> sql.Composed:
    """The CREATE OR REPLACE of ``<events>_append_if_v1`` (with the metadata column)."""
    return statement("journal_append_if_function", function=append_if_function_name(events),
                     events=events, locks=lock_boundary_statement(in_function=True),
                     statement=append_if_statement(events, tags, meta, metadata=True,
                                                   in_function=True))


def read_matching_function_name(events: str) -> str:
    """``<events>_read_matching_v1``: read_matching on its generic plan
    (``sql/journal_read_matching_function.sql``)."""
    return index_name(events, "_read_matching_v1")


#: The argument types of the read_matching function (its signature).
READ_MATCHING_ARGS = ("boolean", "text", "text", "text", "text", "bigint", "text", "text",
                      "bigint", "json", "json", "json", "bigint")


def read_matching_function(events: str, tags: str) -> sql.Composed:
    """The CREATE OR REPLACE of ``<events>_read_matching_v1`` (with the metadata column)."""
    after = statement("journal_match_after", snap=sql.SQL("snap"), u_pos=sql.SQL("u_pos"),
                      u_pid=sql.SQL("p_u_pid"), u_seq=sql.SQL("p_u_seq"),
                      a_pos=sql.SQL("a_pos"), a_pid=sql.SQL("p_a_pid"),
                      a_seq=sql.SQL("p_a_seq"))
    return statement("journal_read_matching_function",
                     function=read_matching_function_name(events), events=events, tags=tags,
                     type_fn=type_function_name(events), after=after)


def type_index_name(events: str) -> str:
    """``<events>_by_type``: the index of events by type and position."""
    return index_name(events, "_by_type")


def journal_schema(events: str, tags: str, meta: str, *,
                   log_conflicts: bool = False) -> SchemaSpec:
    """The journal's :class:`SchemaSpec` for these table names (with the conflict log
    table ``<events>_conflicts`` when ``log_conflicts``)."""
    names = {"events": events, "tags": tags, "meta": meta}
    create = statement("journal_schema", **names)  # one script for all three tables
    add_position = statement("journal_add_position", **names)  # one for both columns
    tables = [TableSpec(events, create), TableSpec(tags, create), TableSpec(meta, create),
              TableSpec(idempotency_table(events), statement(
                  "journal_idempotency_schema", idempotency=idempotency_table(events),
                  index=index_name(idempotency_table(events), "_by_age")))]
    columns = [
        ColumnSpec(events, "position", add_position),
        ColumnSpec(tags, "position", add_position),
        ColumnSpec(events, "metadata", statement("journal_add_metadata", events=events),
                   METADATA_MIGRATION),
    ]
    if log_conflicts:
        tables.append(TableSpec(f"{events}_conflicts", ConflictLog.schema(events)))
        columns.append(ColumnSpec(f"{events}_conflicts", "kind",
                                  ConflictLog.add_condition_columns(events), DCB_MIGRATION))
    return SchemaSpec(
        "PostgresJournal",
        tables=tables,
        columns=columns,
        indexes=[
            IndexSpec(tags, index_name(tags, "_by_event"), "journal_index_tags_by_event",
                      (("tags", tags),)),
            IndexSpec(events, index_name(events, "_by_position"),
                      "journal_index_events_by_position", (("events", events),)),
            IndexSpec(tags, index_name(tags, "_by_position"), "journal_index_tags_by_position",
                      (("tags", tags),)),
            IndexSpec(events, type_index_name(events), "journal_index_events_by_type",
                      (("events", events), ("function", type_function_name(events)))),
        ],
        manual_script=MANUAL_MIGRATION,
        function_script=DCB_MIGRATION,
        functions=[FunctionSpec(
            function_signature(type_function_name(events), ("text",)),
            statement("journal_type_function", function=type_function_name(events),
                      expression=type_expression(sql.SQL("payload"))),
        ), FunctionSpec(
            function_signature(append_if_function_name(events), APPEND_IF_ARGS),
            append_if_function(events, tags, meta), optional=True,
        ), FunctionSpec(
            function_signature(read_matching_function_name(events), READ_MATCHING_ARGS),
            read_matching_function(events, tags), optional=True,
        )],
    )
