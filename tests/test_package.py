"""Package-level promises: lazy driver import, public surface, typing marker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import actorpg_lab


def test_import_does_not_import_psycopg() -> None:
    code = "import sys, actorpg_lab; print('psycopg' in sys.modules, 'psycopg_pool' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_public_names_are_exported() -> None:
    for name in actorpg_lab.__all__:
        assert hasattr(actorpg_lab, name), name


def test_py_typed_marker_is_shipped() -> None:
    assert (Path(actorpg_lab.__file__).parent / "py.typed").exists()
