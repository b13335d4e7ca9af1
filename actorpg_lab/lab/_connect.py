"""Opening a workbench: :func:`connect` (URL, ``$ACTORPG_DSN`` or the embedded server; a
schema per notebook through :func:`.db.schema.use_schema`)."""

from __future__ import annotations

import os

from .._dsn import describe_target
from .._embedded import EmbeddedPostgres, bin_dir, find_data_dir
from ._workbench import Workbench
from .db.schema import SCHEMA_MARKER, use_schema
from .frames.loader import DEFAULT_MAX_LOAD_BYTES, DEFAULT_MAX_LOAD_ROWS
from .notebook.kernel import in_notebook, install_notebook_logging

__all__ = ["DEFAULT_DATA_DIR", "SCHEMA_MARKER", "connect", "find_data_dir", "use_schema"]

#: Where :func:`connect` keeps the embedded server when no URL is given.
DEFAULT_DATA_DIR = ".actorpg"


def connect(url: str | None = None, *, events_table: str = "events",
            tags_table: str | None = None, snapshots_table: str = "snapshots",
            durable_state_table: str = "durable_state", keep_n: int = 3,
            schema: str | None = None, fresh_schema: bool = False,
            data_dir: str | os.PathLike[str] | None = None, quiet: bool = False,
            connect_timeout: float | None = None,
            max_load_rows: int | None = DEFAULT_MAX_LOAD_ROWS,
            max_load_bytes: int | None = DEFAULT_MAX_LOAD_BYTES) -> Workbench:
    """Open a :class:`Workbench`.

    :param url: a libpq URL (``postgresql://user@host/db``) or ``key=value`` conninfo.
        Without it, ``$ACTORPG_DSN`` is used; without that, an embedded PostgreSQL is
        started (or reused across kernel restarts) with its data under ``./.actorpg/``
        — or the ``.actorpg/`` of the nearest parent folder that has one
        (:func:`find_data_dir`), or ``data_dir`` — and where it lives plus a ``psql``
        command are printed.
    :param events_table: the journal table (tags default to ``<events_table>_tags``).
    :param keep_n: ``keep_n`` of the workbench's snapshot store (used when you save).
    :param schema: work inside this schema (created if missing; ``search_path`` is set
        on every connection) — e.g. one schema per notebook so their tables never clash.
    :param fresh_schema: drop and recreate ``schema`` first (a clean, repeatable run); only
        a schema the workbench created is ever dropped.
    :param quiet: do not print where the embedded server is.
    :param connect_timeout: seconds a connection may take (libpq ``connect_timeout``);
        ``None``: the library's default, 10 s unless the URL or ``$PGCONNECT_TIMEOUT``
        sets one.
    :param max_load_rows: / :param max_load_bytes: the frames' size guard: a load the
        planner estimates above either cap (default 5M rows / 2 GiB) is refused with a
        message on how to narrow it (``allow_large=True`` on the call loads it anyway;
        ``None`` turns a cap off).

    It also turns pandas' ``display.html.use_mathjax`` option off, so JupyterLab never
    typesets a payload's ``$type ... $value`` as maths in a displayed frame (set it back
    with ``pd.set_option("display.html.use_mathjax", True)``).  For formatted tables
    (millisecond times, ``account, deposit`` tags, shortened JSON, percentages), display
    a frame with :func:`~actorpg_lab.lab.show`.  In a Jupyter kernel the library's
    warnings and errors print as one line each, without a traceback, unless logging is
    configured (:mod:`actorpg_lab.lab.notebook.kernel`).
    """
    import pandas as pd

    pd.set_option("display.html.use_mathjax", False)
    if in_notebook():  # expected failures print one line, not a pink traceback
        install_notebook_logging()
    embedded: EmbeddedPostgres | None = None
    if url is None:
        url = os.environ.get("ACTORPG_DSN") or None
    if url is None:
        embedded = EmbeddedPostgres(data_dir if data_dir is not None else find_data_dir())
        url = embedded.start()
        if not quiet:
            psql = bin_dir() / "psql"
            print(f"actorpg_lab: embedded PostgreSQL running, data in {embedded.pgdata}")
            print(f"  connect with: {psql} '{url}'")
    if schema is not None:
        if not quiet:  # say which database a notebook writes to (and what it resets)
            print(f"actorpg_lab: writing to schema {schema!r} in {describe_target(url)}"
                  + (" (dropped and recreated: fresh_schema=True)" if fresh_schema else ""))
        url = use_schema(url, schema, fresh=fresh_schema, connect_timeout=connect_timeout)
    elif fresh_schema:
        raise ValueError("fresh_schema=True needs schema=<name>")
    return Workbench(url, events_table=events_table, tags_table=tags_table,
                     snapshots_table=snapshots_table, durable_state_table=durable_state_table,
                     keep_n=keep_n, embedded=embedded, connect_timeout=connect_timeout,
                     max_load_rows=max_load_rows, max_load_bytes=max_load_bytes)
