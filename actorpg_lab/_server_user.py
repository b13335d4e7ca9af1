"""The system user the embedded server runs as when the caller is root.

Its name is ``ACTORPG_SERVER_USER`` (default ``actorpg``), read on every use: the start,
the stop, the ownership checks of the data folders and the fallback data location all
ask :func:`server_user` / :func:`server_ids`.  When the user is missing it is created
with the system's own tool, found by absolute path (``/usr/sbin``, ``/sbin``, ``/usr/bin``,
``/bin``), never through the caller's ``PATH``: shadow's ``useradd``, else busybox's
``adduser -S`` (Alpine and other busybox images).  Where neither exists, or creation
fails, a :class:`RuntimeError` says the exact command to run by hand.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path

__all__ = ["DEFAULT_SERVER_USER", "SERVER_USER_ENV", "create_command", "server_ids", "server_user"]

#: The environment variable naming the server's system user (as root).
SERVER_USER_ENV = "ACTORPG_SERVER_USER"
DEFAULT_SERVER_USER = "actorpg"

#: Where the user-management tools are looked for, in this order (never ``PATH``).
TOOL_DIRS: tuple[Path, ...] = (Path("/usr/sbin"), Path("/sbin"), Path("/usr/bin"), Path("/bin"))

#: A portable system user name (what ``useradd`` accepts with its default NAME_REGEX).
_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")

#: The environment the tools run with (nothing of the caller's).
_TOOL_ENV = {"LC_ALL": "C", "LANG": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def server_user() -> str:
    """The server user's name: ``$ACTORPG_SERVER_USER`` or ``actorpg``.

    :raises ValueError: when the variable holds something that is not a plain system user
        name, or names ``root``."""
    name = os.environ.get(SERVER_USER_ENV, "")
    if name == "":
        return DEFAULT_SERVER_USER
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{SERVER_USER_ENV}={name!r} is not a usable system user name (lower-case letters, "
            f"digits, '_' and '-', starting with a letter or '_', at most 32 characters)"
        )
    if name == "root":
        raise ValueError(f"{SERVER_USER_ENV}={name!r}: the embedded server never runs as root; "
                         f"name an unprivileged user (default {DEFAULT_SERVER_USER!r})")
    return name


def _executable(path: Path) -> bool:
    """A regular file (symlinks resolved) owned by root, executable, not writable by others."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return (stat.S_ISREG(st.st_mode) and st.st_uid == 0 and bool(st.st_mode & stat.S_IXUSR)
            and not st.st_mode & 0o022)


def _nologin_shell() -> str:
    for shell in ("/usr/sbin/nologin", "/sbin/nologin", "/usr/bin/false", "/bin/false"):
        if _executable(Path(shell)):
            return shell
    return "/bin/false"


def create_command(name: str, tool_dirs: Sequence[Path] | None = None) -> list[str] | None:
    """The command that creates system user ``name`` here, or ``None`` when no tool exists."""
    dirs = TOOL_DIRS if tool_dirs is None else tuple(tool_dirs)
    shell = _nologin_shell()
    for folder in dirs:
        useradd = folder / "useradd"
        if _executable(useradd):
            return [str(useradd), "--system", "--no-create-home", "--shell", shell,
                    "--user-group", name]
    for folder in dirs:
        adduser = folder / "adduser"
        if _executable(adduser) and os.path.realpath(adduser).endswith("/busybox"):
            return [str(adduser), "-S", "-D", "-H", "-s", shell, name]
    for folder in dirs:
        busybox = folder / "busybox"
        if _executable(busybox):
            return [str(busybox), "adduser", "-S", "-D", "-H", "-s", shell, name]
    return None


def _manual(name: str) -> str:
    return (f"useradd --system --no-create-home --shell /usr/sbin/nologin --user-group {name}"
            f"  (busybox: adduser -S -D -H -s /sbin/nologin {name})")


def _create(name: str, tool_dirs: Sequence[Path] | None) -> None:
    command = create_command(name, tool_dirs)
    where = ", ".join(str(d) for d in (TOOL_DIRS if tool_dirs is None else tool_dirs))
    if command is None:
        raise RuntimeError(
            f"running as root, the embedded PostgreSQL runs as the unprivileged system user "
            f"{name!r} ({SERVER_USER_ENV}), which does not exist, and neither useradd nor "
            f"busybox adduser was found in {where} to create it. Create it by hand: "
            f"{_manual(name)}; or run as a normal user (the server then runs as you)"
        )
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd="/",
                                env=dict(_TOOL_ENV), timeout=60)
    except OSError as exc:
        raise RuntimeError(
            f"could not create the server user {name!r} ({SERVER_USER_ENV}): "
            f"{' '.join(command)} failed to run ({exc}). Create it by hand: {' '.join(command)}; "
            f"or run as a normal user (the server then runs as you)"
        ) from exc
    if result.returncode != 0 and _lookup(name) is None:  # (not: another process won the race)
        raise RuntimeError(
            f"could not create the server user {name!r} ({SERVER_USER_ENV}): "
            f"{' '.join(command)} exited with {result.returncode}: "
            f"{(result.stderr or result.stdout).strip()}. Create it by hand: {' '.join(command)}; "
            f"or run as a normal user (the server then runs as you)"
        )


def _lookup(name: str) -> tuple[int, int] | None:
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def server_ids(*, tool_dirs: Sequence[Path] | None = None) -> tuple[int, int] | None:
    """``(uid, gid)`` of the server user when running as root (created when missing), else
    ``None`` (a normal user's server runs as that user).

    :raises RuntimeError: when the user is missing and cannot be created (the message has
        the command to run by hand), or when it has uid 0."""
    if os.geteuid() != 0:
        return None
    name = server_user()
    ids = _lookup(name)
    if ids is None:
        _create(name, tool_dirs)
        ids = _lookup(name)
        if ids is None:
            raise RuntimeError(f"created the server user {name!r} ({SERVER_USER_ENV}) but it "
                               f"cannot be looked up afterwards (check /etc/nsswitch.conf)")
    if ids[0] == 0:
        raise RuntimeError(f"the server user {name!r} ({SERVER_USER_ENV}) has uid 0; the "
                           f"embedded server never runs as root: name an unprivileged user")
    return ids
