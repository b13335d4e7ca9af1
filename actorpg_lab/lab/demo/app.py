"""The demo application in another process (what ``make demo`` runs)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._workbench import Workbench


_log = logging.getLogger("actorpg_lab.lab.demo")

__all__ = ["run_demo_app"]
def run_demo_app(wb: Workbench, *, timeout: float = 300.0) -> str:
    """Run the demo application — the main command ``make demo`` runs (``python -m
    actorpg_lab.lab --no-browser --summary``) — in ANOTHER process against this
    workbench's database and schema; returns what it printed.

    It seeds the demo data once (:func:`ensure_demo`) with its writers logging their
    conflicts and pruning, so :meth:`Workbench.conflicts_frame` and
    :meth:`Workbench.pruned_frame` then show history another process wrote.  The URL
    travels in the environment (``ACTORPG_DSN``), never in the process arguments."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "ACTORPG_DSN": wb.url}
    done = subprocess.run([sys.executable, "-m", "actorpg_lab.lab", "--no-browser", "--summary"],
                          env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the demo application failed (exit {done.returncode}): "
                           f"{done.stderr.strip()[-1500:]}")
    return done.stdout
