"""Issue 20, points 1 and 3: the server's system user (``ACTORPG_SERVER_USER``).

As root the product creates it with the system's tool found by absolute path, whatever
the caller's ``PATH``; where no tool exists or creation fails, the error says the exact
command to run by hand.  As a normal user no user is created (the server runs as you).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from actorpg_lab import _embedded, _server_user

from ._fresh import fresh_server_user, user_exists

AS_ROOT = os.geteuid() == 0


@pytest.mark.parametrize("path", ["/nonexistent", "/usr/bin:/bin"])
def test_the_server_user_is_created_whatever_the_callers_path(
    monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    with fresh_server_user() as name:
        monkeypatch.setenv("ACTORPG_SERVER_USER", name)
        monkeypatch.setenv("PATH", path)  # useradd lives in /usr/sbin, not on this PATH
        ids = _embedded._server_ids()
        if AS_ROOT:
            assert ids is not None and ids[0] != 0
            assert user_exists(name)
            import pwd

            entry = pwd.getpwnam(name)
            assert (entry.pw_uid, entry.pw_gid) == ids
            assert entry.pw_shell.endswith(("nologin", "false"))
            assert not os.path.exists(entry.pw_dir) or entry.pw_dir in ("/", "/nonexistent")
            assert _embedded._server_ids() == ids  # found, not created twice
        else:  # a normal user's server runs as that user: nothing is created
            assert ids is None
            assert not user_exists(name)


def test_without_a_user_tool_the_error_says_what_to_run(tmp_path: Path) -> None:
    name = "apgt-missing"
    assert _server_user.create_command(name, [tmp_path]) is None
    with pytest.raises(RuntimeError) as raised:
        _server_user._create(name, [tmp_path])
    message = str(raised.value)
    assert f"'{name}' (ACTORPG_SERVER_USER)" in message
    assert str(tmp_path) in message
    assert (f"useradd --system --no-create-home --shell /usr/sbin/nologin --user-group {name}"
            in message)
    assert "run as a normal user" in message
    assert not user_exists(name)


def test_a_failing_user_tool_gives_the_command_and_its_error(tmp_path: Path) -> None:
    with fresh_server_user() as name:
        if AS_ROOT:  # a useradd that refuses, like one on a read-only /etc
            tool = tmp_path / "useradd"
            tool.write_text("#!/bin/sh\necho 'useradd: cannot lock /etc/passwd' >&2\nexit 1\n")
            os.chmod(tool, 0o755)
            dirs: list[Path] | None = [tmp_path]
            expected = f"{tool} --system"
        else:  # the real useradd, which a normal user may not run
            dirs = None
            command = _server_user.create_command(name)
            assert command is not None
            expected = command[0]
        with pytest.raises(RuntimeError) as raised:
            _server_user._create(name, dirs)
        message = str(raised.value)
        assert f"could not create the server user '{name}' (ACTORPG_SERVER_USER)" in message
        assert f"Create it by hand: {expected}" in message and name in message
        if AS_ROOT:
            assert "exited with 1: useradd: cannot lock /etc/passwd" in message
        assert not user_exists(name)


def test_busybox_adduser_is_used_where_there_is_no_useradd(tmp_path: Path) -> None:
    busybox = tmp_path / "busybox"
    shutil.copy2("/bin/true", busybox)
    os.chmod(busybox, 0o755)
    (tmp_path / "adduser").symlink_to(busybox)
    command = _server_user.create_command("apgt-bb", [tmp_path])
    if AS_ROOT:
        assert command == [str(tmp_path / "adduser"), "-S", "-D", "-H", "-s",
                           _server_user._nologin_shell(), "apgt-bb"]
        (tmp_path / "adduser").unlink()  # only busybox itself: its applet
        assert _server_user.create_command("apgt-bb", [tmp_path]) == [
            str(busybox), "adduser", "-S", "-D", "-H", "-s", _server_user._nologin_shell(),
            "apgt-bb"]
    else:  # a tool not owned by root is never run
        assert command is None


def test_a_group_or_world_writable_tool_is_never_run(tmp_path: Path) -> None:
    tool = tmp_path / "useradd"
    shutil.copy2("/bin/true", tool)
    os.chmod(tool, 0o777)
    assert _server_user.create_command("apgt-x", [tmp_path]) is None


@pytest.mark.parametrize("value", ["Bad Name", "x;rm -rf /", "-leading", "a" * 33, "root"])
def test_an_unusable_server_user_name_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("ACTORPG_SERVER_USER", value)
    with pytest.raises(ValueError, match=re.escape(f"ACTORPG_SERVER_USER={value!r}")):
        _server_user.server_user()


def test_the_default_server_user_is_actorpg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACTORPG_SERVER_USER", raising=False)
    assert _server_user.server_user() == "actorpg"
    monkeypatch.setenv("ACTORPG_SERVER_USER", "")
    assert _server_user.server_user() == "actorpg"
