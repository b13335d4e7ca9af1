"""``wb.charts``: the workbench's interactive charts, each point clickable to its stream.

Every method loads the same frame as its static twin (``wb.plot_conflicts()`` and
friends, matplotlib, for PDF and CI output) and returns an
:class:`~actorpg_lab.lab.charts.widget.InteractiveChart`; clicking a point opens that
stream in an explorer under the chart (events, then *Open in replayer*).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Unpack

from ..frames.filter import StreamKeywords, filter_signature
from ..history.workbench import EVERY_N, KEEP_N
from .widget import InteractiveChart

__all__ = ["WorkbenchCharts"]


class WorkbenchCharts:
    """The interactive charts of one workbench (``wb.charts``).

    :param workbench: the :class:`~actorpg_lab.lab.Workbench`.
    :param behaviour: what the explorer's replayer folds with (see ``wb.explore``).
    """

    def __init__(self, workbench: Any, behaviour: Any = None) -> None:
        self._wb = workbench
        self.behaviour = behaviour

    def __repr__(self) -> str:
        return f"<WorkbenchCharts of {self._wb!r}>"

    def open_stream(self, persistence_id: str) -> Any:
        """The explorer, its stream pane on ``persistence_id`` (what a click shows)."""
        app = self._wb.explore(self.behaviour, prefix=persistence_id, page_size=5)
        app.select(persistence_id)
        return app.widget

    def conflicts(self, persistence_id: str | None = None) -> InteractiveChart:
        """The rejected writes the stores logged (``wb.conflicts_frame()``), writers × time."""
        from .figures import conflict_timeline_figure

        return InteractiveChart(conflict_timeline_figure(
            self._wb.history.conflicts_frame(), persistence_id=persistence_id), self.open_stream)

    def pruning(self, persistence_id: str | None = None) -> InteractiveChart:
        """The pruned snapshots (``wb.pruned_frame()``): how long each was kept."""
        from .figures import pruning_history_figure

        return InteractiveChart(pruning_history_figure(
            self._wb.history.pruned_frame(), persistence_id=persistence_id), self.open_stream)

    @filter_signature(StreamKeywords)
    def recovery_cost(self, **where: Unpack[StreamKeywords]) -> InteractiveChart:
        """Journal length vs events replayed on recovery (``wb.recovery_cost()``)."""
        from .figures import recovery_cost_figure

        return InteractiveChart(recovery_cost_figure(
            self._wb.history.recovery_cost(**where)), self.open_stream)

    @filter_signature(StreamKeywords)
    def what_if(self, every_n: Iterable[int | None] = EVERY_N, keep_n: Iterable[int] = KEEP_N,
                **where: Unpack[StreamKeywords]) -> InteractiveChart:
        """Snapshot policies: write cost vs recovery cost (``wb.what_if()``; no streams
        to click: a point is a policy)."""
        from .figures import what_if_figure

        return InteractiveChart(what_if_figure(
            self._wb.history.what_if(every_n, keep_n, **where)), None, stream_points=False)

    def projection_lag(self) -> InteractiveChart:
        """Events waiting per projection (``wb.projections_frame()``); a failed
        projection's bar opens the stream of its failed event."""
        from .figures import projection_lag_figure

        return InteractiveChart(projection_lag_figure(self._wb.projections.projections_frame()),
                                self.open_stream)
