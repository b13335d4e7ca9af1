"""Helpers for tests that need what a fresh machine has: a server user that does not exist
yet (a unique ``ACTORPG_SERVER_USER``), and folders nobody else can enter.

Users are only ever *created* by the product (``actorpg_lab._server_user``); these helpers
pick unused names and remove the users (and their groups) afterwards, also on failure.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

from actorpg_lab import _embedded, _server_user

#: Every user these tests make starts with this (so a leftover is easy to recognise).
USER_PREFIX = "apgt"


def unused_user_name() -> str:
    """A system user name that exists neither as a user nor as a group."""
    while True:
        name = f"{USER_PREFIX}{uuid.uuid4().hex[:10]}"
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            continue
        with contextlib.suppress(KeyError):
            grp.getgrnam(name)
            continue
        return name


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def remove_user(name: str) -> None:
    """Delete user ``name`` and its group (as root; nothing to do otherwise or if absent)."""
    if os.geteuid() != 0 or not name.startswith(USER_PREFIX):
        return
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
    if user_exists(name):
        userdel = next((d / "userdel" for d in _server_user.TOOL_DIRS if (d / "userdel").exists()),
                       None)
        command = [str(userdel), name] if userdel else ["deluser", name]
        subprocess.run(command, capture_output=True, check=False, env=env, timeout=60)
    with contextlib.suppress(KeyError):
        grp.getgrnam(name)
        groupdel = next((d / "groupdel" for d in _server_user.TOOL_DIRS
                         if (d / "groupdel").exists()), None)
        command = [str(groupdel), name] if groupdel else ["delgroup", name]
        subprocess.run(command, capture_output=True, check=False, env=env, timeout=60)
    assert not user_exists(name), f"could not remove the test user {name!r}"


def remove_data_folder(folder: Path) -> None:
    """Stop a server left running on ``folder`` and delete it with its fallback location."""
    if not folder.exists():
        return
    server = _embedded.EmbeddedPostgres(folder)
    with contextlib.suppress(Exception):
        server.stop(mode="immediate")
    with contextlib.suppress(Exception):
        server.destroy()
    shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def fresh_server_user() -> Iterator[str]:
    """A unique ``ACTORPG_SERVER_USER`` name that does not exist yet; removed afterwards."""
    name = unused_user_name()
    try:
        yield name
    finally:
        remove_user(name)
