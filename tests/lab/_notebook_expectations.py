"""What each notebook in notebooks/ shows when it runs top to bottom, shared by the
headless run (test_notebooks) and the JupyterLab run (test_browser)."""

from __future__ import annotations

#: Charts (matplotlib images) each notebook draws.
CHARTS = {"01_explore_journal.ipynb": 1, "02_replay_debugging.ipynb": 0,
          "03_revision_conflicts.ipynb": 3, "04_snapshot_pruning.ipynb": 4,
          "05_schema_evolution.ipynb": 0, "06_beyond_one_machine.ipynb": 0,
          "07_projections.ipynb": 2, "08_consistency_boundaries.ipynb": 2}
#: Failures the notebooks provoke on purpose: how many one-line messages each prints
#: (``actorpg_lab ✖ ...`` on stdout, from the actor system's logger).
EXPECTED_FAILURES = {"02_replay_debugging.ipynb": 1, "05_schema_evolution.ipynb": 2}
#: The mark of such a line.
FAILURE_MARK = "actorpg_lab ✖"
