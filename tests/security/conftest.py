"""Fixtures for the security suite (issue 9): a hostile second local user.

The hostile local user is ``nobody``.  Tests that need it run only as root (CI and the
development sessions run as root); elsewhere they are skipped and the reason is
printed at the end of the run.  A world-traversable scratch folder (``shared_dir``)
plays the part of a directory other users can write to, e.g. ``/tmp`` or ``/shared``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security._hung_server import silent_listener

HOSTILE_USER = "nobody"


def hostile_ids() -> tuple[int, int] | None:
    """``(uid, gid)`` of the hostile user, or ``None`` when tests cannot act as it."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(HOSTILE_USER)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def need_hostile_user() -> tuple[int, int]:
    ids = hostile_ids()
    if ids is None:
        reason = (f"needs root and a second local user {HOSTILE_USER!r} to act as the hostile "
                  f"user (running as uid {os.geteuid()})")
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return ids


def as_hostile(script: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a shell ``script`` as the hostile user (``su -s /bin/sh nobody -c ...``)."""
    need_hostile_user()
    result = subprocess.run(["su", "-s", "/bin/sh", HOSTILE_USER, "-c", script],
                            capture_output=True, text=True, check=False, cwd="/", timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"as {HOSTILE_USER}: {script!r} failed: {result.stdout}{result.stderr}")
    return result


@pytest.fixture
def hostile() -> tuple[int, int]:
    """``(uid, gid)`` of the hostile user; skips (with the reason printed) when unavailable."""
    return need_hostile_user()


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A fresh world-writable sticky folder under the system temp dir (like ``/tmp``)."""
    path = Path(tempfile.mkdtemp(prefix="actorpg-sec-"))
    os.chmod(path, 0o1777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """The port of a TCP listener that accepts connections and never answers."""
    with silent_listener() as port:
        yield port


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print why security tests were skipped (a skip is never silent)."""
    for report in terminalreporter.stats.get("skipped", []):
        if "tests/security" in str(getattr(report, "nodeid", "")) or "security" in str(
                getattr(report, "location", ("",))[0]):
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            terminalreporter.write_line(f"security test skipped: {report.nodeid}: {reason}")
