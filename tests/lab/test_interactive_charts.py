"""Interactive charts (issue 25): Plotly figures whose hover shows the row and whose
points open their stream; the display data works in JupyterLab and in exported HTML."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from actorpg_lab import JournalEntry
from actorpg_lab.lab import Workbench
from actorpg_lab.lab.charts import widget as chart_widget
from actorpg_lab.lab.charts.figures import (
    conflict_timeline_figure,
    projection_lag_figure,
    pruning_history_figure,
    recovery_cost_figure,
    what_if_figure,
)
from actorpg_lab.lab.charts.widget import InteractiveChart

T0 = pd.Timestamp("2026-12-07 08:00:00", tz="UTC")


def _conflicts() -> pd.DataFrame:
    return pd.DataFrame({
        "store": ["journal", "durable_state"], "persistence_id": ["acc-1", "cfg"],
        "expected": [3, 1], "actual": [4, 2], "writer": ["host:1/alice", "host:1/bob"],
        "timestamp": [T0, T0 + pd.Timedelta(milliseconds=5)]})


def test_conflict_timeline_hover_names_the_row() -> None:
    fig = conflict_timeline_figure(_conflicts())
    assert [t.name for t in fig.data] == ["durable_state (1)", "journal (1)"]
    journal = fig.data[1]
    assert list(journal.customdata[0]) == ["acc-1", "journal", 3, 4]
    assert "expected %{customdata[2]}, found %{customdata[3]}" in journal.hovertemplate
    assert "UTC" in journal.hovertemplate and "writer %{y}" in journal.hovertemplate
    assert conflict_timeline_figure(_conflicts(), persistence_id="cfg").layout.title.text == (
        "rejected writes (expected≠found) on cfg")
    with pytest.raises(ValueError, match="missing columns"):
        conflict_timeline_figure(pd.DataFrame({"x": [1]}))


def test_the_other_builders() -> None:
    pruned = pd.DataFrame({"persistence_id": ["a", "a"], "sequence_nr": [10, 20],
                           "saved_at": [T0, T0], "pruned_at": [T0 + pd.Timedelta(seconds=1),
                                                               T0 + pd.Timedelta(seconds=3)],
                           "writer": ["w", "w"]})
    fig = pruning_history_figure(pruned)
    assert list(fig.data[0].y) == [1000.0, 3000.0] and fig.data[0].customdata[0][0] == "a"
    cost = pd.DataFrame({"persistence_id": ["a", "b"], "head": [100, 10],
                         "events_to_replay": [5, 10], "latest_snapshot_seq": [95, None]})
    fig = recovery_cost_figure(cost)
    assert [list(c) for c in fig.data[0].customdata] == [["a", 95], ["b", "none"]]
    whatif = pd.DataFrame({"every_n": [None, 10], "keep_n": [1, 1], "snapshots_written": [0, 9],
                           "events_to_replay_total": [110, 10]})
    assert list(what_if_figure(whatif).data[0].text) == ["never", "every 10"]
    lag = pd.DataFrame({"name": ["balances"], "version": [1], "state": ["failed"],
                        "lag_events": [7], "lag_seconds": [2.5],
                        "failed_event": [("acc-9", 4)]})
    bar = projection_lag_figure(lag).data[0]
    assert list(bar.customdata[0]) == ["acc-9", "failed", 2.5, "acc-9 #4"]


def test_click_opens_the_stream_and_the_bundle_exports(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []

    def open_stream(pid: str) -> Any:
        import ipywidgets

        opened.append(pid)
        return ipywidgets.HTML(pid)

    chart = InteractiveChart(conflict_timeline_figure(_conflicts()), open_stream)
    box = chart.widget()
    fw = chart.figure_widget()
    assert type(fw).__name__ == "FigureWidget" and box.children[0] is fw
    chart.click("acc-1")
    assert opened == ["acc-1"] and box.children[1].children[0].value == "acc-1"
    monkeypatch.setattr(chart_widget, "_embedded", False)
    first = chart._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in first
    assert "plotly" in first["text/html"] and len(first["text/html"]) > 1_000_000  # plotly.js
    second = chart._repr_mimebundle_()
    assert len(second["text/html"]) < 100_000  # plotly.js only once per page
    assert "InteractiveChart" in first["text/plain"]


def test_workbench_charts_from_the_stores(wb: Workbench) -> None:
    wb.run(wb.journal.append("acc-1", [JournalEntry({"n": i}) for i in range(3)], 0))
    wb.run(wb.snapshot_store.save("acc-1", 2, {"n": 2}))
    chart = wb.charts.recovery_cost()
    assert [c[0] for c in chart.figure.data[0].customdata] == ["acc-1"]
    shown = chart.click("acc-1")
    assert shown is not None and "acc-1" in repr(chart.clicked)
    assert wb.charts.what_if().open_stream is None
    assert wb.charts.conflicts().title == "no conflicts recorded"
    assert wb.charts.pruning().title == "no pruned snapshots recorded"
    assert wb.charts.projection_lag().title == "no projections"
    wb.run(wb.journal.append("acc-2", [JournalEntry({"n": 0})], 0))
    only = wb.charts.recovery_cost(persistence_ids="acc-2")  # the one filter declaration
    assert [c[0] for c in only.figure.data[0].customdata] == ["acc-2"]
    assert len(wb.charts.what_if(persistence_ids=["acc-1"]).figure.data) >= 1
    with pytest.raises(TypeError):  # persistence_ids is keyword-only
        wb.charts.recovery_cost("acc-2")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'since'"):
        wb.charts.recovery_cost(since=0)  # type: ignore[call-arg]


def test_exported_html_keeps_the_interactive_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    """``jupyter nbconvert --to html`` of a cell that showed a chart: the page holds the
    Plotly figure (plotly.js embedded, the hover template included), not a dead widget."""
    import nbformat
    from nbconvert import HTMLExporter

    monkeypatch.setattr(chart_widget, "_embedded", False)
    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    cell = nbformat.v4.new_code_cell("wb.charts.conflicts()")  # type: ignore[no-untyped-call]
    bundle = InteractiveChart(conflict_timeline_figure(_conflicts()))._repr_mimebundle_()
    cell.outputs = [nbformat.v4.new_output("display_data", data=bundle)]  # type: ignore[no-untyped-call]
    nb.cells.append(cell)
    body, _resources = HTMLExporter().from_notebook_node(nb)  # type: ignore[no-untyped-call]
    assert "plotly-graph-div" in body and "Plotly.newPlot" in body
    assert "window.Plotly = Plotly" in body  # offline: plotly.js is in the page
    assert "expected %{customdata[2]}, found %{customdata[3]}" in body
