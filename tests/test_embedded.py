"""The embedded PostgreSQL server: start, reuse, restart on the same DSN, no chmod of parents."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from actorpg_lab import EmbeddedPostgres


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    parent = tmp_path / "project"
    parent.mkdir()
    srv = EmbeddedPostgres(parent / ".actorpg", settings={"fsync": "off"})
    yield srv
    srv.destroy()


def test_start_reuse_restart_keep_data_and_dsn(server: EmbeddedPostgres) -> None:
    dsn = server.start()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    again = EmbeddedPostgres(server.root)  # e.g. a restarted Jupyter kernel
    assert again.is_running() and again.start() == dsn
    assert server.restart() == dsn
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT x FROM kept").fetchone() == (42,)
    server.stop()
    assert not server.is_running()
    assert "stopped" in repr(server)


def test_parent_permissions_are_left_alone(server: EmbeddedPostgres, tmp_path: Path) -> None:
    parent = server.root.parent
    os.chmod(parent, 0o700)  # not reachable by other users
    before = {p: stat.S_IMODE(os.stat(p).st_mode) for p in [parent, *parent.parents]}
    server.start()
    after = {p: stat.S_IMODE(os.stat(p).st_mode) for p in [parent, *parent.parents]}
    assert before == after
    with psycopg.connect(server.dsn) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_dsn_uses_a_private_socket_directory(server: EmbeddedPostgres) -> None:
    server.start()
    assert server.dsn.startswith("postgresql://postgres@/postgres?host=")
    mode = stat.S_IMODE(os.stat(server.socket_dir).st_mode)
    assert mode == 0o700
