"""The columns an event SELECT fills from the database: the commit-ordered ``position``
and the ``correlation_id`` / ``causation_id`` of the ``metadata`` column, each read the
way the events table allows (a journal created before positions or metadata reads ``0``
/ ``NULL``).  The event type is not among them: the builder computes it from the
payload (:func:`.event_type.event_types`)."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from ..db.session import AdbcSession
from ..db.statements import metadata_columns, metadata_ids, position_column

__all__ = ["event_columns", "event_position"]


def event_position(session: AdbcSession, events: str, alias: str) -> Any:
    """The ``{position}`` of an event SELECT: the stored ``xid8`` itself (the builder
    converts it in Arrow, :func:`.columns.xid8_to_int64`: the server-side
    ``::text::bigint`` round trip cost ~15 % of a 30k-row load), or ``0`` on a table
    without the column (see :func:`..db.statements.position_column`); whether the events
    table has it is asked once per session."""
    if session.has_column(events, "position"):
        return sql.SQL("{}.position").format(sql.Identifier(alias))
    return position_column(alias, False)


def event_columns(session: AdbcSession, events: str, alias: str, *,
                  ids_as_list: bool = False) -> dict[str, Any]:
    """``{position}``, ``{correlation_id}`` and ``{causation_id}`` of an event SELECT over
    ``events`` aliased ``alias``, and ``{metadata_ids}``: both ids' select-list entries,
    as two columns or (``ids_as_list``) one (:func:`..db.statements.metadata_ids`)."""
    present = session.has_column(events, "metadata")
    return {"position": event_position(session, events, alias),
            **metadata_columns(alias, present),
            "metadata_ids": metadata_ids(alias, present, ids_as_list or not present)}
