"""An interactive chart in the notebook: hover, zoom, pan, click a point to open its stream.

:class:`InteractiveChart` holds a Plotly figure (from :mod:`.figures`).  Displayed in
JupyterLab it is a live ``plotly.graph_objects.FigureWidget`` (Plotly's own anywidget;
its JavaScript ships inside the Python package, so it works offline) above a pane where
a click on a point opens that stream in the explorer (``wb.explore()``'s stream pane,
with its *Open in replayer* button).  Its display data also carries the figure as
``text/html``, which is what an exported notebook (``jupyter nbconvert --to html``)
shows, still with hover, zoom and pan: the first chart of a kernel session embeds
plotly.js (about 4.6 MB) once, later ones reuse it (:data:`PLOTLYJS`).
:meth:`InteractiveChart.write_html` writes one self-contained file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["PLOTLYJS", "InteractiveChart"]

#: How the ``text/html`` of a chart gets plotly.js: ``"once"`` (embedded in the first
#: chart shown by this kernel, reused by the later ones of the same page), ``True``
#: (embedded in every chart), or ``"cdn"`` (loaded from the network).
PLOTLYJS: Any = "once"
_embedded = False


class InteractiveChart:
    """A Plotly figure with click-through (see the module).

    :param figure: a ``plotly.graph_objects.Figure``.
    :param open_stream: ``persistence_id -> widget`` shown under the chart when a point
        is clicked (the workbench passes one that opens its explorer at the stream);
        ``None``: clicks do nothing.
    :param stream_points: the points' ``customdata[0]`` is a stream id.
    """

    def __init__(self, figure: Any, open_stream: Callable[[str], Any] | None = None, *,
                 stream_points: bool = True) -> None:
        self.figure = figure
        self.open_stream = open_stream if stream_points else None
        self._widget: Any = None
        self._detail: Any = None
        #: The stream the last click opened.
        self.clicked: str | None = None

    @property
    def title(self) -> str:
        """The figure's title."""
        return str(self.figure.layout.title.text or "")

    def click(self, persistence_id: str) -> Any:
        """What clicking a point of ``persistence_id`` does: open it under the chart
        (returns the widget shown, or ``None`` without ``open_stream``)."""
        self.clicked = persistence_id
        if self.open_stream is None or not persistence_id:
            return None
        shown = self.open_stream(persistence_id)
        if self._detail is not None:
            self._detail.children = (shown,)
        return shown

    def figure_widget(self) -> Any:
        """The live ``FigureWidget`` (created once), its points wired to :meth:`click`."""
        if self._widget is None:
            import plotly.graph_objects as go

            self._widget = go.FigureWidget(self.figure)
            for trace in self._widget.data:
                if getattr(trace, "customdata", None) is None:
                    continue
                trace.on_click(self._on_click)
        return self._widget

    def _on_click(self, trace: Any, points: Any, _state: Any) -> None:
        if not points.point_inds:
            return
        row = trace.customdata[points.point_inds[0]]
        self.click(str(row[0]))

    def widget(self) -> Any:
        """The chart and, under it, the pane a click fills (an ipywidgets ``VBox``)."""
        import ipywidgets as w

        if self._detail is None:
            self._detail = w.VBox()
            self._detail.add_class("actorpg-chart-detail")
        box = w.VBox([self.figure_widget(), self._detail])
        box.add_class("actorpg-chart")
        return box

    def to_html(self, *, include_plotlyjs: Any = True, full_html: bool = True) -> str:
        """The figure as HTML (self-contained by default)."""
        html: str = self.figure.to_html(include_plotlyjs=include_plotlyjs, full_html=full_html)
        return html

    def write_html(self, path: str | os.PathLike[str]) -> None:
        """Write a self-contained HTML file of the figure (hover, zoom and pan work)."""
        with open(path, "w", encoding="utf-8") as out:
            out.write(self.to_html())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        global _embedded
        bundle: dict[str, Any] = dict(self.widget()._repr_mimebundle_() or {})
        js: Any = PLOTLYJS
        if js == "once":
            js = not _embedded
            _embedded = True
        bundle["text/html"] = self.to_html(include_plotlyjs=js, full_html=False)
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        traces = len(self.figure.data)
        return f"<InteractiveChart {self.title!r} traces={traces}>"
