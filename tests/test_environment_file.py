"""environment.yml installs what `make` installs: the same extras at the constraints.txt versions."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pip_lines() -> list[str]:
    lines = (ROOT / "environment.yml").read_text("utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    return [line.strip()[2:].strip() for line in lines[start + 1:] if line.strip().startswith("- ")]


def test_environment_pins_the_tested_versions() -> None:
    pip = _pip_lines()
    assert pip[0] == "-c constraints.txt"
    assert (ROOT / "constraints.txt").is_file()
    makefile = (ROOT / "Makefile").read_text("utf-8")
    extras = re.search(r'-e\s+"?\.\[([a-z,]+)\]', makefile)
    assert extras is not None
    assert f'-e ".[{extras.group(1)}]"' in pip


def test_environment_python_is_the_tested_one() -> None:
    text = (ROOT / "environment.yml").read_text("utf-8")
    assert f"- python={sys.version_info.major}.{sys.version_info.minor}" in text
