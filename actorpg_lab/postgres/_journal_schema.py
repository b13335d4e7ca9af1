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

from psycopg import sql

from ._schema import ColumnSpec, FunctionSpec, IndexSpec, SchemaSpec, TableSpec, index_name
from ._sql import statement
from ._write_history import ConflictLog

__all__ = ["DCB_MIGRATION", "MANUAL_MIGRATION", "METADATA_MIGRATION", "idempotency_table",
           "journal_schema", "type_expression", "type_function_name",
           "type_index_name"]

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
            sql.SQL("{}(text)").format(sql.Identifier(type_function_name(events))).as_string(None),
            statement("journal_type_function", function=type_function_name(events),
                      expression=type_expression(sql.SQL("payload"))),
        )],
    )
