"""A schema per notebook: :func:`use_schema` creates it (or drops and recreates one it made).

Only a schema carrying :data:`SCHEMA_MARKER` (put there by :func:`use_schema`) is ever
dropped, never one the workbench did not create.
"""

from __future__ import annotations

from typing import Any

from ..._dsn import describe_target, with_connect_timeout
from ..._validation import check_table_name
from .errors import connection_failed, statement_failed
from .session import timeout_params
from .statements import bound

__all__ = ["SCHEMA_MARKER", "use_schema"]

#: The comment :func:`use_schema` puts on a schema it creates; ``fresh=True`` drops only
#: schemas that carry it, never one the workbench did not create.
SCHEMA_MARKER = "actorpg_lab workbench schema: connect(fresh_schema=True) may drop and recreate it"


def use_schema(url: str, schema: str, *, fresh: bool = False,
               connect_timeout: float | None = None) -> str:
    """Create ``schema`` if it is missing (drop it first when ``fresh``) and return ``url``
    with ``search_path`` set to it.

    ``fresh`` drops only a schema this function created (marked with
    :data:`SCHEMA_MARKER`); any other existing schema is refused with ``ValueError``.
    A server that cannot be reached (or fails a statement) is a
    :class:`~actorpg_lab.JournalError` naming it, with the driver error as ``__cause__``."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    check_table_name("schema", schema)
    timeout = timeout_params(connect_timeout)
    try:
        conn = psycopg.connect(url, autocommit=True, **with_connect_timeout(url, timeout))
    except psycopg.Error as exc:
        raise connection_failed(url, exc) from exc
    try:
        with conn:
            _prepare(conn, url, schema, fresh)
    except psycopg.Error as exc:
        raise statement_failed(url, exc) from exc
    params = conninfo_to_dict(url)
    options = str(params.get("options") or "")
    params["options"] = f"{options} -c search_path={schema}".strip()
    return make_conninfo(**params)  # type: ignore[arg-type]


def _prepare(conn: Any, url: str, schema: str, fresh: bool) -> None:
    from psycopg import sql

    # Only a schema this function created (it carries SCHEMA_MARKER) is ever dropped.
    row = conn.execute(bound("schema_marker", {"name": schema})).fetchone()
    exists = row is not None
    if fresh and exists:
        if row is None or row[0] != SCHEMA_MARKER:
            raise ValueError(
                f"fresh_schema=True would drop schema {schema!r} on {describe_target(url)}, "
                f"but the workbench did not create it (it has no actorpg_lab marker "
                f"comment), so it is left alone; use another schema name, or drop it "
                f"yourself if it is disposable"
            )
        conn.execute(bound("schema_drop", schema=schema))
        exists = False
    if not exists:
        conn.execute(bound("schema_create", schema=schema))
        conn.execute(bound("schema_mark", schema=schema, marker=sql.Literal(SCHEMA_MARKER)))
