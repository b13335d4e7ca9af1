"""Issue 20, point 7: the pinned set installs on every Python the project claims.

Every pin of ``constraints.txt`` must admit the floor of pyproject's ``requires-python``
(``>=3.11``: 3.11.0, e.g. Debian 12's system Python 3.11.2).  Where the newest release
needs more, the pin is split with ``python_full_version`` markers (what
``scripts/floor_pins.py`` writes during ``make constraints``).  This reads the installed
distributions' own ``Requires-Python`` (``importlib.metadata``): the pin active here must
be what is installed and must admit the lowest Python its marker lets it reach; and at
the floor exactly one pin of every distribution applies.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker, default_environment
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]

_PIN = re.compile(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!_-]+)\s*(?:;\s*(.+))?")


def floor() -> Version:
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    lows = [Version(s.version) for s in SpecifierSet(spec) if s.operator == ">="]
    assert len(lows) == 1, f"requires-python {spec!r}: expected one '>=' bound"
    return lows[0]


def pins() -> list[tuple[str, str, Marker | None]]:
    found = []
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN.fullmatch(line)
        assert match, f"constraints.txt: not a name==version[; marker] pin: {line!r}"
        marker = Marker(match.group(3)) if match.group(3) else None
        found.append((match.group(1), match.group(2), marker))
    return found


def _env(python: Version) -> dict[str, str]:
    release = [*python.release, 0, 0][:3]
    env = {key: str(value) for key, value in default_environment().items()}
    env.update(python_full_version=".".join(map(str, release)),
               python_version=f"{release[0]}.{release[1]}")
    return env


def _applies(marker: Marker | None, python: Version) -> bool:
    return marker is None or marker.evaluate(_env(python))


def _lowest_python(marker: Marker | None, low: Version) -> Version:
    """The lowest Python >= ``low`` (among ``low`` and the marker's own bounds) it admits."""
    candidates = {low} | {Version(v) for v in re.findall(r'"(\d+(?:\.\d+)*)"', str(marker or ""))}
    admitted = sorted(v for v in candidates if v >= low and _applies(marker, v))
    assert admitted, f"the marker {marker} admits no Python >= {low}"
    return admitted[0]


def test_the_floor_is_what_readme_and_makefile_say() -> None:
    low = floor()
    assert low == Version("3.11")
    assert f"Python {low.major}.{low.minor}+" in (ROOT / "README.md").read_text()
    assert f"sys.version_info >= ({low.major}, {low.minor})" in (ROOT / "Makefile").read_text()


def test_every_pinned_distribution_admits_the_floor() -> None:
    low = floor()
    by_name: dict[str, list[tuple[str, Marker | None]]] = {}
    for name, version, marker in pins():
        by_name.setdefault(canonicalize_name(name), []).append((version, marker))
    excluded = []
    for name, options in sorted(by_name.items()):
        at_floor = [v for v, m in options if _applies(m, low)]
        assert len(at_floor) == 1, f"{name}: {len(at_floor)} pins apply at Python {low}: {options}"
        here = [(v, m) for v, m in options if m is None or m.evaluate()]
        assert len(here) == 1, f"{name}: {len(here)} pins apply to this Python: {options}"
        version, marker = here[0]
        installed = metadata.distribution(name)
        assert installed.version == version, (
            f"{name}: constraints.txt pins {version} here but {installed.version} is installed "
            f"(reinstall .venv: make clean && make test)")
        requires = (installed.metadata.get_all("Requires-Python") or [None])[0]
        lowest = _lowest_python(marker, low)
        if requires and not SpecifierSet(requires).contains(lowest, prereleases=True):
            excluded.append(f"{name}=={version} requires Python {requires}, pinned for "
                            f"Python >= {lowest}" + (f" ({marker})" if marker else ""))
    assert not excluded, (
        f"pins that exclude the declared floor Python {low}: {excluded}; split them with "
        f"markers (make constraints does: scripts/floor_pins.py) or raise the floor")


def test_the_marker_split_pins_are_ordered_around_their_bound() -> None:
    """A split pin's older release is for Pythons below the newer one's Requires-Python."""
    low = floor()
    for name, version, marker in pins():
        if marker is None:
            continue
        assert re.fullmatch(r'python_full_version (>=|<) "\d+\.\d+\.\d+"', str(marker)), (
            f"{name}=={version}: only python_full_version bounds are written ({marker})")
        assert _applies(marker, low) == ("<" in str(marker)), f"{name}=={version}: {marker}"
