"""The code base stays clean: ruff and mypy --strict over the library, the tests and bench."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "ruff", "check", "actorpg_lab", "tests", "bench"],
        [sys.executable, "-m", "mypy"],  # files and strictness come from pyproject.toml
    ],
    ids=["ruff", "mypy-strict"],
)
def test_static_check_passes(command: list[str], tmp_path: Path) -> None:
    if command[2] == "mypy":
        command = [*command, "--cache-dir", str(tmp_path / "mypy-cache")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
