"""What the journal's tables look like and how an older journal is brought up to date.

Three tables (``sql/journal_schema.sql``); the ``position`` column of the events and
tag tables (added to journals created before positions by
``sql/journal_add_position.sql``, or by a DBA with ``sql/migrate_positions.sql``), and
three indexes: the tag rows of an event (for ``delete``) and the two ordering indexes
of tag queries.
"""

from __future__ import annotations

from ._schema import ColumnSpec, IndexSpec, SchemaSpec, TableSpec, index_name
from ._sql import statement
from ._write_history import ConflictLog

__all__ = ["MANUAL_MIGRATION", "journal_schema"]

#: The script a DBA runs when the store may not migrate (``auto_create_tables=False``).
MANUAL_MIGRATION = "actorpg_lab/postgres/sql/migrate_positions.sql"


def journal_schema(events: str, tags: str, meta: str, *,
                   log_conflicts: bool = False) -> SchemaSpec:
    """The journal's :class:`SchemaSpec` for these table names (with the conflict log
    table ``<events>_conflicts`` when ``log_conflicts``)."""
    names = {"events": events, "tags": tags, "meta": meta}
    create = statement("journal_schema", **names)  # one script for all three tables
    add_position = statement("journal_add_position", **names)  # one for both columns
    tables = [TableSpec(events, create), TableSpec(tags, create), TableSpec(meta, create)]
    if log_conflicts:
        tables.append(TableSpec(f"{events}_conflicts", ConflictLog.schema(events)))
    return SchemaSpec(
        "PostgresJournal",
        tables=tables,
        columns=[
            ColumnSpec(events, "position", add_position),
            ColumnSpec(tags, "position", add_position),
        ],
        indexes=[
            IndexSpec(tags, index_name(tags, "_by_event"), "journal_index_tags_by_event",
                      (("tags", tags),)),
            IndexSpec(events, index_name(events, "_by_position"),
                      "journal_index_events_by_position", (("events", events),)),
            IndexSpec(tags, index_name(tags, "_by_position"), "journal_index_tags_by_position",
                      (("tags", tags),)),
        ],
        manual_script=MANUAL_MIGRATION,
    )
