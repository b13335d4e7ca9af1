"""The notebook workbench (synchronous): DataFrames, step-by-step replay, recorders.

>>> from actorpg_lab import lab
>>> wb = lab.connect()                 # embedded PostgreSQL under ./.actorpg/ by default
>>> wb.journal_frame(tags="account")   # a pandas DataFrame
>>> r = wb.replay(Account, "account-1")
>>> r.step(); r.state; r.history       # or just display ``r`` for the widget
"""

from . import demo
from ._conflicts import ConflictRecorder
from ._diff import ABSENT, Change, StateDiff, diff_states
from ._frames import expand_payloads
from ._pruning import PruningRecorder, plot_recovery_cost, recovery_cost, simulate_policies
from ._replayer import Replayer, ReplayProblem
from ._workbench import DEFAULT_DATA_DIR, Workbench, connect, find_data_dir

__all__ = [
    "ABSENT",
    "DEFAULT_DATA_DIR",
    "Change",
    "ConflictRecorder",
    "PruningRecorder",
    "ReplayProblem",
    "Replayer",
    "StateDiff",
    "Workbench",
    "connect",
    "demo",
    "diff_states",
    "expand_payloads",
    "find_data_dir",
    "plot_recovery_cost",
    "recovery_cost",
    "simulate_policies",
]
