"""The database under benchmark: an embedded server (default durability) or ``ACTORPG_DSN``.

Every scenario group works in its own fresh schema (created here, dropped at the end
of the run), so the suite can also run against a shared server such as the one the
tests use.  Helpers turn the server DSN into what each client wants: a conninfo with
``search_path`` for psycopg/actorpg_lab, ``POSTGRES_*`` settings for eventsourcing
(``POSTGRES_HOST`` may be the Unix socket directory: it is passed to libpq as
``host``, which treats an absolute path as a socket directory), and a URI for ADBC.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from urllib.parse import quote, urlencode

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ._harness import Context, log

__all__ = ["adbc_uri", "eventsourcing_env", "new_schema", "provide_server", "schema_url"]


@contextlib.contextmanager
def provide_server() -> Iterator[str]:
    """``ACTORPG_DSN`` if set, else a throw-away embedded PostgreSQL with default settings."""
    dsn = os.environ.get("ACTORPG_DSN")
    if dsn:
        log("using ACTORPG_DSN")
        yield dsn
        return
    from actorpg_lab import EmbeddedPostgres

    tmp = tempfile.mkdtemp(prefix="actorpg-bench-")
    os.chmod(tmp, 0o755)  # reachable by the unprivileged server user when run as root
    # Default durability (fsync, synchronous_commit, full_page_writes all on): this is a
    # benchmark of what users get.  Only the connection limit is raised for the pools.
    server = EmbeddedPostgres(tmp, settings={"max_connections": "200"})
    log(f"starting an embedded PostgreSQL in {tmp}")
    try:
        yield server.start()
    finally:
        server.destroy()
        shutil.rmtree(tmp, ignore_errors=True)


def schema_url(dsn: str, schema: str) -> str:
    """``dsn`` with ``search_path`` pinned to ``schema``."""
    return make_conninfo(dsn, options=f"-c search_path={schema}")


def new_schema(ctx: Context, label: str) -> str:
    """Create a fresh schema for one scenario group; it is dropped when the run ends."""
    import psycopg
    from psycopg import sql

    name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ctx.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    ctx.schemas.append(name)
    return name


def drop_schemas(ctx: Context) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(ctx.dsn, autocommit=True) as conn:
        for name in ctx.schemas:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    ctx.schemas.clear()


def eventsourcing_env(dsn: str, schema: str) -> dict[str, str]:
    """``POSTGRES_*`` settings for eventsourcing's PostgreSQL persistence module."""
    params = conninfo_to_dict(dsn)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(params.get("host") or "localhost"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        "POSTGRES_SCHEMA": schema,
        "CREATE_TABLE": "y",
    }


def adbc_uri(dsn: str, schema: str) -> str:
    """A ``postgresql://`` URI (what ADBC takes) for ``dsn`` inside ``schema``."""
    params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    user = quote(params.pop("user", "postgres"), safe="")
    password = params.pop("password", None)
    dbname = quote(params.pop("dbname", "postgres"), safe="")
    auth = f"{user}:{quote(password, safe='')}@" if password else f"{user}@"
    params["options"] = f"-c search_path={schema}"
    return f"postgresql://{auth}/{dbname}?{urlencode(params, quote_via=quote)}"
