"""Issue 20, point 6: the README's main command on a fresh clone, on every full test run.

``git clone`` of the checkout under test (its ``HEAD``) into a fresh 0700 folder, then
``make demo`` there exactly as the README says: a fresh ``.venv`` installed from
``constraints.txt``, a fresh ``ACTORPG_SERVER_USER`` (as root: created by the product), the
demo seeded.  It fails if ``make demo`` fails; the server, the user and the folders it
made are removed afterwards, also on failure.  (~35-50 s: mostly pip.)
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from actorpg_lab import EmbeddedPostgres, _embedded

from ._fresh import fresh_server_user, remove_data_folder, user_exists

ROOT = Path(__file__).resolve().parents[2]
AS_ROOT = os.geteuid() == 0

#: What the caller's environment must not lend the clone (it gets its own of each).
_NOT_INHERITED = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "ACTORPG_DSN", "ACTORPG_TEST_DSN",
                  "ACTORPG_SERVER_USER", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTEST_ADDOPTS")


@pytest.fixture
def private_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="apgt-clone-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    # the venv running these tests must not be what the clone's `python3` finds first
    venv_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep)
                                  if p != venv_bin)
    env.update(extra)
    return env


def test_make_demo_passes_on_a_fresh_clone(private_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert (ROOT / ".git").exists(), f"{ROOT} is not a git checkout: cannot clone it"
    clone = private_dir / "actorpg_lab"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)],
                   check=True, capture_output=True, timeout=300)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    cloned = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    assert cloned == head
    assert not (clone / ".venv").exists() and not (clone / ".actorpg").exists()
    with fresh_server_user() as name:
        monkeypatch.setenv("ACTORPG_SERVER_USER", name)  # (for the clean-up below)
        env = _clean_env(ACTORPG_SERVER_USER=name)
        try:
            started = time.monotonic()
            demo = subprocess.run(["make", "demo"], cwd=clone, env=env, capture_output=True,
                                  text=True, timeout=1200, check=False)
            took = time.monotonic() - started
            assert demo.returncode == 0, (
                f"`make demo` failed on a fresh clone (exit {demo.returncode}):\n"
                f"{demo.stdout[-4000:]}\n{demo.stderr[-4000:]}")
            assert "seeded the demo data" in demo.stdout, demo.stdout[-2000:]
            with capsys.disabled():
                print(f"\n[make demo on a fresh clone: {took:.1f} s]", end=" ")

            server = EmbeddedPostgres(clone / ".actorpg")
            assert server.is_running()
            pid = int((server.pgdata / "postmaster.pid").read_text().split()[0])
            uid = os.stat(f"/proc/{pid}").st_uid
            if AS_ROOT:
                assert user_exists(name) and uid == pwd.getpwnam(name).pw_uid
                assert server.pgdata.is_relative_to(_embedded.FALLBACK_DATA_ROOT)
            else:
                assert uid == os.geteuid() and not user_exists(name)
            assert os.stat(private_dir).st_mode & 0o777 == 0o700  # not opened up

            stop = subprocess.run(["make", "stop"], cwd=clone, env=env, capture_output=True,
                                  text=True, timeout=300, check=False)
            assert stop.returncode == 0, stop.stdout + stop.stderr
            assert not server.is_running()
        finally:
            remove_data_folder(clone / ".actorpg")
