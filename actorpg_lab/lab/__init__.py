"""The notebook workbench (synchronous): DataFrames, step-by-step replay, recorders.

>>> from actorpg_lab import lab
>>> wb = lab.connect()                 # embedded PostgreSQL under ./.actorpg/ by default
>>> wb.journal_frame(tags="account")   # a pandas DataFrame
>>> lab.show(wb.journal_frame())       # the same, formatted for reading (ms times, tags, JSON)
>>> r = wb.replay(Account, "account-1")
>>> r.step(); r.state; r.history       # or just display ``r`` for the widget

The workbench needs the ``lab`` extra (``pip install 'actorpg_lab[lab]'``); the core
install (stores and actors only) leaves pandas, pyarrow, ADBC, ipywidgets,
matplotlib and tqdm out, and importing this package there says so.
"""

# ruff: noqa: E402  (the extra is checked before the workbench modules import pandas)
import importlib.util as _importlib_util

#: import name -> distribution of what the ``lab`` extra brings and the workbench uses
_LAB_EXTRA = {
    "pandas": "pandas",
    "pyarrow": "pyarrow",
    "adbc_driver_postgresql": "adbc-driver-postgresql",
    "ipywidgets": "ipywidgets",
    "matplotlib": "matplotlib",
    "tqdm": "tqdm",
}
_missing = [dist for mod, dist in _LAB_EXTRA.items() if _importlib_util.find_spec(mod) is None]
if _missing:
    raise ImportError(
        f"actorpg_lab.lab (the notebook workbench) needs the 'lab' extra; missing: "
        f"{', '.join(_missing)}. Install it with: pip install 'actorpg_lab[lab]'",
        name="actorpg_lab.lab",
    )

from . import demo
from ._connect import DEFAULT_DATA_DIR, connect, find_data_dir
from ._workbench import Workbench
from .frames.partitions import pid_bucket
from .frames.payloads import expand_payloads
from .frames.trace import causation_tree
from .history.conflicts import ConflictRecorder
from .history.pruning import (
    PruningRecorder,
    plot_recovery_cost,
    plot_what_if,
    recovery_cost,
    simulate_policies,
)
from .history.stored import plot_conflict_timeline, plot_pruning_history
from .notebook.display import Table, show
from .replay.diff import ABSENT, Change, StateDiff, diff_states
from .replay.problems import ReplayProblem
from .replay.replayer import Replayer

__all__ = [
    "ABSENT",
    "DEFAULT_DATA_DIR",
    "Change",
    "ConflictRecorder",
    "PruningRecorder",
    "ReplayProblem",
    "Replayer",
    "StateDiff",
    "Table",
    "Workbench",
    "causation_tree",
    "connect",
    "demo",
    "diff_states",
    "expand_payloads",
    "find_data_dir",
    "pid_bucket",
    "plot_conflict_timeline",
    "plot_pruning_history",
    "plot_recovery_cost",
    "plot_what_if",
    "recovery_cost",
    "show",
    "simulate_policies",
]
