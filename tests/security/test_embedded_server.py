"""Issue 9, points 1, 2, 3 and 7: the embedded server on a machine shared with other users.

The hostile local user is ``nobody`` (see ``conftest.py``); tests that need it skip,
with the reason printed, when the suite does not run as root.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from actorpg_lab import EmbeddedPostgres, UnsafePathError, lab
from actorpg_lab import _embedded as embedded

from .conftest import as_hostile


def _server_uid() -> int:
    if os.geteuid() != 0:
        return os.geteuid()
    ids = embedded._server_ids()
    assert ids is not None
    return ids[0]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    project = tmp_path / "project"
    project.mkdir()
    srv = EmbeddedPostgres(project / ".actorpg", settings={"fsync": "off"})
    try:
        yield srv
    finally:
        srv.destroy()


def _old_predictable_socket_dir(root: Path) -> Path:
    digest = hashlib.sha1(str(root).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"actorpg-{os.geteuid()}-{digest}"


# -- 1: the socket directory ---------------------------------------------------------------
def test_socket_dir_is_private_unpredictable_and_closed_to_others(server: EmbeddedPostgres) -> None:
    server.start()
    sock = server.socket_dir
    assert sock != _old_predictable_socket_dir(server.root)
    assert str(sock) not in {str(_old_predictable_socket_dir(server.root))}
    st = os.lstat(sock)
    assert stat.S_ISDIR(st.st_mode) and not stat.S_ISLNK(st.st_mode)
    assert st.st_uid == _server_uid() and stat.S_IMODE(st.st_mode) == 0o700
    if os.geteuid() == 0:  # the hostile user can neither list it nor reach the socket
        listing = as_hostile(f"ls {sock}", check=False)
        assert listing.returncode != 0 and "Permission denied" in listing.stderr
        python = shutil.which("python3", path="/usr/bin:/bin")
        if python is not None:
            probe = as_hostile(
                f"{python} -c 'import socket; s = socket.socket(socket.AF_UNIX); "
                f"s.connect(\"{sock}/.s.PGSQL.5432\")'", check=False)
            assert probe.returncode != 0 and "PermissionError" in probe.stderr, probe.stderr


def test_a_socket_dir_planted_by_another_user_is_refused(
    server: EmbeddedPostgres, hostile: tuple[int, int]
) -> None:
    server.start()
    sock = server.socket_dir
    server.stop()
    shutil.rmtree(sock)  # e.g. /tmp was cleaned; the name was visible in `ps`
    as_hostile(f"mkdir {sock} && chmod 777 {sock}")
    try:
        with pytest.raises(UnsafePathError, match=f"{re.escape(str(sock))}.*owned by uid {hostile[0]}"):
            server.start()
        assert not server.is_running()
        assert os.lstat(sock).st_uid == hostile[0]  # left alone, not chown-ed
    finally:
        shutil.rmtree(sock, ignore_errors=True)


def test_a_symlink_planted_at_the_socket_dir_is_never_followed(
    server: EmbeddedPostgres, hostile: tuple[int, int], tmp_path: Path
) -> None:
    server.start()
    sock = server.socket_dir
    server.stop()
    shutil.rmtree(sock)
    target = Path(tempfile.mkdtemp(prefix="actorpg-sec-target-"))  # root's directory
    os.chmod(target, 0o755)
    as_hostile(f"ln -s {target} {sock}")
    try:
        with pytest.raises(UnsafePathError, match=f"{re.escape(str(sock))}.*symbolic link"):
            server.start()
        st = os.stat(target)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o755)  # not handed over
        assert not server.is_running()
    finally:
        os.unlink(sock)
        shutil.rmtree(target)


# -- 2: the data folder, its lock file and the /var/tmp location ----------------------------
def test_a_data_folder_planted_in_a_shared_parent_is_not_adopted(
    shared_dir: Path, hostile: tuple[int, int]
) -> None:
    victim = shared_dir / "precious.txt"
    victim.write_text("precious")
    os.chmod(victim, 0o644)
    planted = shared_dir / ".actorpg"
    as_hostile(f"mkdir -p {planted}/pgdata && chmod 777 {planted} && "
               f"ln -s {victim} {planted}/.lock")
    below = shared_dir / "project" / "notebooks"
    below.mkdir(parents=True)
    assert lab.find_data_dir(below) == below / ".actorpg"
    attempt = EmbeddedPostgres(planted)
    try:
        with pytest.raises(UnsafePathError,
                           match=f"{re.escape(str(planted))}.*owned by uid {hostile[0]}"):
            attempt.start()
    finally:
        if (planted / "pgdata" / "PG_VERSION").exists():
            attempt.destroy()  # only reached if the folder was (wrongly) adopted
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in planted.iterdir()) == [".lock", "pgdata"]


def test_a_world_writable_data_folder_of_ours_is_not_adopted(tmp_path: Path) -> None:
    folder = tmp_path / ".actorpg"
    (folder / "pgdata").mkdir(parents=True)
    os.chmod(folder, 0o777)
    assert lab.find_data_dir(tmp_path / "sub") == tmp_path / "sub" / ".actorpg"
    attempt = EmbeddedPostgres(folder)
    try:
        with pytest.raises(UnsafePathError, match="group/world-writable"):
            attempt.start()
    finally:
        attempt.destroy()


def test_the_lock_file_is_not_followed_nor_truncated(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    root = tmp_path / ".actorpg"
    root.mkdir(mode=0o700)
    (root / ".lock").symlink_to(victim)
    with pytest.raises(UnsafePathError, match=r"\.lock.*symbolic link"):
        EmbeddedPostgres(root).start()
    assert victim.read_text() == "precious"


def test_the_lock_file_keeps_its_content(tmp_path: Path) -> None:
    """Opened without O_TRUNC: the lock itself never empties a file."""
    root = tmp_path / ".actorpg"
    root.mkdir(mode=0o700)
    (root / ".lock").write_text("kept")
    server = EmbeddedPostgres(root)
    with server._locked():
        pass
    assert (root / ".lock").read_text() == "kept"


def test_the_upward_search_stops_at_the_repository_root_and_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".actorpg" / "pgdata").mkdir(parents=True)  # ours, above the boundaries
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "notebooks").mkdir()
    assert lab.find_data_dir(repo / "notebooks") == repo / "notebooks" / ".actorpg"
    home = tmp_path / "home"
    (home / "work").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    assert lab.find_data_dir(home / "work") == home / "work" / ".actorpg"
    # inside the boundary the parent's folder is still found
    (repo / ".actorpg" / "pgdata").mkdir(parents=True)
    assert lab.find_data_dir(repo / "notebooks") == repo / ".actorpg"


def test_a_fallback_location_pre_created_by_another_user_is_refused(
    shared_dir: Path, hostile: tuple[int, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fallback = shared_dir / "actorpg-root"
    as_hostile(f"mkdir {fallback} && chmod 777 {fallback}")
    monkeypatch.setattr(embedded, "FALLBACK_DATA_ROOT", fallback)
    os.chmod(tmp_path, 0o700)  # ./.actorpg below it is not reachable by the server user
    server = EmbeddedPostgres(tmp_path / "project" / ".actorpg")
    try:
        with pytest.raises(UnsafePathError, match=f"{re.escape(str(fallback))}.*owned by uid {hostile[0]}"):
            server.start()
        st = os.lstat(fallback)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (hostile[0], 0o777)  # not chmod-ed
        assert list(fallback.iterdir()) == []
    finally:
        server.destroy()


# -- 3: no password-less TCP, however the data directory is started -------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_another_way(server: EmbeddedPostgres, *options: str) -> int:
    """``pg_ctl start`` on the data directory without the library's command-line settings."""
    port = _free_port()
    opts = " ".join([f"-c port={port}", f"-c unix_socket_directories='{server.socket_dir}'",
                     *options])
    server._run("pg_ctl", "start", "-D", str(server.pgdata), "-w", "-t", "60",
                "-l", str(server.log_file), "-o", opts)
    return port


def test_tcp_takes_no_password_less_connection_when_started_another_way(
    server: EmbeddedPostgres,
) -> None:
    server.start()
    server.stop()
    port = _start_another_way(server)
    try:  # postgresql.conf says listen_addresses = ''
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                            connect_timeout=5)
    finally:
        server.stop()
    port = _start_another_way(server, "-c listen_addresses=127.0.0.1")
    try:  # and pg_hba.conf rejects every host line
        with pytest.raises(psycopg.OperationalError, match=r"pg_hba\.conf rejects"):
            psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                            connect_timeout=5)
    finally:
        server.stop()


def test_a_data_directory_made_by_an_older_version_is_fixed_up_on_start(
    server: EmbeddedPostgres,
) -> None:
    server.start()
    server.stop()
    hba = server.pgdata / "pg_hba.conf"
    conf = server.pgdata / "postgresql.conf"
    hba.write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n"
                   "host all all ::1/128   trust  # old default\n")
    conf.write_text(conf.read_text().split(embedded._MANAGED_MARKER)[0])
    server.start()
    lines = [line.split() for line in hba.read_text().splitlines()]
    assert lines[0] == ["local", "all", "all", "trust"]
    assert [line[4] for line in lines[1:]] == ["reject", "reject"]
    assert "\nlisten_addresses = ''\n" in conf.read_text()
    with psycopg.connect(server.dsn) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("",)


def test_a_server_running_without_a_private_socket_dir_is_moved_to_one(
    server: EmbeddedPostgres,
) -> None:
    """A server an older version started (no recorded private directory) is restarted."""
    server.start()
    old = server.socket_dir
    (server.root / "socket.location").unlink()
    try:
        dsn = server.start()
        assert server.socket_dir != old and str(server.socket_dir) in dsn
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        shutil.rmtree(old, ignore_errors=True)


# -- 7: the server's processes get a minimal environment -----------------------------------
def test_the_server_process_gets_a_minimal_environment(
    server: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sekrit-token-of-the-caller")
    monkeypatch.setenv("PGPASSWORD", "sekrit-pgpassword")
    server.start()
    pid = int((server.pgdata / "postmaster.pid").read_text().split()[0])
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    names = {item.split(b"=", 1)[0].decode() for item in environ if item}
    assert b"sekrit" not in b"\0".join(environ)
    assert names <= {"LC_ALL", "LANG", "PATH", "TZ", "PGDATA", "PG_GRANDPARENT_PID",
                     "PGLOCALEDIR", "PGSYSCONFDIR", "PG_OOM_ADJUST_FILE", "PG_OOM_ADJUST_VALUE",
                     "PWD"}
