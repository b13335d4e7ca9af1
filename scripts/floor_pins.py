"""Keep constraints.txt installable on the lowest Python the project claims.

    usage: PYTHON scripts/floor_pins.py FROZEN > constraints-body

Run with the interpreter of the environment ``FROZEN`` (``pip freeze`` output) was taken
from.  Every pin whose installed distribution's ``Requires-Python`` excludes the floor
(pyproject's ``requires-python``, e.g. ``>=3.11`` -> 3.11.0) is split with environment
markers: the frozen version where its ``Requires-Python`` holds, and the newest version
that admits the floor (asked of the index with ``pip index versions --python-version``)
below it, e.g.::

    soupsieve==4.1.3; python_full_version >= "3.11.5"
    soupsieve==2.10; python_full_version < "3.11.5"

Exits non-zero (naming the distribution) when no split is possible: a ``Requires-Python``
that is not a plain lower bound, or no release that admits the floor.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def floor() -> Version:
    """The lowest Python pyproject's ``requires-python`` admits (a ``>=`` bound)."""
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    lows = [Version(s.version) for s in SpecifierSet(spec) if s.operator == ">="]
    if len(lows) != 1:
        sys.exit(f"pyproject.toml: requires-python {spec!r} needs exactly one '>=' bound")
    return lows[0]


def full(version: Version) -> str:
    parts = [*version.release, 0, 0][:3]
    return ".".join(str(p) for p in parts)


def newest_admitting(name: str, python: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", name, "--python-version", python,
         "--disable-pip-version-check"],
        capture_output=True, text=True, check=False,
    )
    match = re.search(rf"^{re.escape(name)} \(([^)]+)\)", out.stdout, re.MULTILINE | re.IGNORECASE)
    if out.returncode != 0 or match is None:
        sys.exit(f"{name}: no release admits Python {python} ({out.stderr.strip()[-300:]}); "
                 f"raise the floor in pyproject.toml/README/Makefile or drop the dependency")
    return match.group(1)


def main(frozen: str) -> None:
    low = floor()
    python = full(low)
    for line in Path(frozen).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if "==" not in line or ";" in line:
            sys.exit(f"not a plain name==version pin: {line!r}")
        name, version = line.split("==", 1)
        requires = metadata.metadata(name).get("Requires-Python")
        if not requires or SpecifierSet(requires).contains(python, prereleases=True):
            print(line)
            continue
        bounds = [s for s in SpecifierSet(requires) if s.operator in (">=", ">")]
        if len(bounds) != 1 or len(SpecifierSet(requires)) != 1 or bounds[0].operator != ">=":
            sys.exit(f"{name}=={version} requires Python {requires!r}, which excludes the floor "
                     f"{python}; not a plain '>=' bound, so split this pin by hand")
        cut = full(Version(bounds[0].version))
        older = newest_admitting(name, python)
        print(f'{line}; python_full_version >= "{cut}"')
        print(f'{name}=={older}; python_full_version < "{cut}"')
        print(f"{name}=={version} needs Python {requires}: pinned {older} below {cut}",
              file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
