"""Interactive chart builders: a workbench frame in, a Plotly figure out.

The same five pictures as the static matplotlib charts (which stay for PDF and CI
output): the conflict timeline, the pruning history, the recovery cost, the snapshot
what-if and the projection lag.  Each point's hover shows its row (stream, writer,
expected/actual, times in UTC) and carries its stream id in ``customdata[0]``, which
:class:`~actorpg_lab.lab.charts.widget.InteractiveChart` turns into "click a point to
open the stream".  Zoom and pan are Plotly's own.  Needs the ``[lab]`` extra (plotly).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..history.stored import CONDITION_COLOUR, is_condition

__all__ = ["conflict_timeline_figure", "projection_lag_figure", "pruning_history_figure",
           "recovery_cost_figure", "what_if_figure"]

#: Colours shared with the static charts.
_STORE_COLOURS = {"journal": "#cf222e", "durable_state": "#8250df"}
_TIME = "%Y-%m-%d %H:%M:%S.%L UTC"


def _need(frame: pd.DataFrame, columns: set[str], what: str) -> None:
    missing = columns - set(frame.columns)
    if missing:
        raise ValueError(f"expected {what}, missing columns {sorted(missing)}")


def _figure(title: str, x: str, y: str, **layout: Any) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, template="plotly_white",
                      hovermode="closest", margin={"l": 60, "r": 20, "t": 50, "b": 50},
                      height=layout.pop("height", 380), clickmode="event", **layout)
    return fig


def conflict_timeline_figure(frame: pd.DataFrame, *, persistence_id: str | None = None) -> Any:
    """Writers × time, one ✖ per rejected write (``Workbench.conflicts_frame()`` or a
    recorder's frame); hover: stream, store, writer, expected, actual, time."""
    import plotly.graph_objects as go

    if "outcome" in frame.columns:  # a recorder's attempts
        frame = frame[frame["outcome"] == "conflict"].rename(columns={"finished": "timestamp"})
    _need(frame, {"persistence_id", "writer", "expected", "actual", "timestamp"},
          "a conflicts_frame() (or a recorder frame)")
    if persistence_id is not None:
        frame = frame[frame["persistence_id"] == persistence_id]
    keys = frame["persistence_id"].astype(str).unique()
    title = "rejected writes (expected≠found)" + (
        f" on {keys[0]}" if len(keys) == 1 else f" on {len(keys)} keys")
    writers = sorted(frame["writer"].astype(str).unique())
    fig = _figure(title if len(frame) else "no conflicts recorded", "time (UTC)", "writer",
                  height=160 + 28 * min(max(len(writers), 1), 30))
    stores = frame["store"].astype(str) if "store" in frame.columns else pd.Series(
        "conflict", index=frame.index)
    condition = is_condition(frame)
    for store in sorted(stores[~condition].unique()):
        part = frame[(stores == store) & ~condition]
        fig.add_trace(go.Scatter(
            x=part["timestamp"], y=part["writer"].astype(str), mode="markers",
            name=f"{store} ({len(part)})",
            marker={"symbol": "x", "size": 11, "color": _STORE_COLOURS.get(store, "#cf222e")},
            customdata=list(zip(part["persistence_id"].astype(str), [store] * len(part),
                                part["expected"].astype(int), part["actual"].astype(int),
                                strict=True)),
            hovertemplate=("<b>%{customdata[0]}</b> (%{customdata[1]})<br>writer %{y}<br>"
                           "expected %{customdata[2]}, found %{customdata[3]}<br>"
                           f"%{{x|{_TIME}}}<extra></extra>")))
    if condition.any():  # failed conditions: the event found and the query
        part = frame[condition]
        fig.add_trace(go.Scatter(
            x=part["timestamp"], y=part["writer"].astype(str), mode="markers",
            name=f"condition ({len(part)})",
            marker={"symbol": "diamond", "size": 10, "color": CONDITION_COLOUR},
            customdata=list(zip(part["persistence_id"].astype(str),
                                part["conflict_persistence_id"].astype(str),
                                part["conflict_sequence_nr"].astype("Int64").astype(str),
                                part["conflict_position"].astype("Int64").astype(str),
                                part["query"].astype(str), strict=True)),
            hovertemplate=("<b>%{customdata[0]}</b>: condition failed<br>writer %{y}<br>"
                           "found %{customdata[1]} #%{customdata[2]} (position "
                           "%{customdata[3]})<br>query %{customdata[4]}<br>"
                           f"%{{x|{_TIME}}}<extra></extra>")))
    fig.update_yaxes(categoryorder="array", categoryarray=writers, type="category")
    return fig


def pruning_history_figure(frame: pd.DataFrame, *, persistence_id: str | None = None) -> Any:
    """Per pruned snapshot: its sequence number (x) and how long it was kept (y, ms), a
    line per stream (``Workbench.pruned_frame()`` or recorder lifetimes); hover: stream,
    sequence number, saved/pruned times, lifetime, writer."""
    import plotly.graph_objects as go

    _need(frame, {"persistence_id", "sequence_nr", "saved_at", "pruned_at"},
          "a pruned_frame() (or recorder lifetimes)")
    if persistence_id is not None:
        frame = frame[frame["persistence_id"] == persistence_id]
    fig = _figure("pruned snapshots: how long each was kept" if len(frame)
                  else "no pruned snapshots recorded", "snapshot sequence_nr", "kept (ms)")
    kept = (frame["pruned_at"] - frame["saved_at"]).dt.total_seconds() * 1000.0
    writer = frame["writer"].astype(str) if "writer" in frame.columns else pd.Series(
        "", index=frame.index)
    for pid in sorted(frame["persistence_id"].astype(str).unique()):
        mask = frame["persistence_id"].astype(str) == pid
        part = frame[mask].sort_values("sequence_nr")
        fig.add_trace(go.Scatter(
            x=part["sequence_nr"], y=kept[part.index], mode="lines+markers", name=pid,
            customdata=list(zip([pid] * len(part),
                                part["saved_at"].dt.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3],
                                part["pruned_at"].dt.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3],
                                writer[part.index], strict=True)),
            hovertemplate=("<b>%{customdata[0]}</b> snapshot @%{x}<br>kept %{y:.0f} ms<br>"
                           "saved %{customdata[1]} UTC<br>pruned %{customdata[2]} UTC<br>"
                           "writer %{customdata[3]}<extra></extra>")))
    return fig


def recovery_cost_figure(cost: pd.DataFrame) -> Any:
    """Journal length (head) vs events replayed on recovery, a dot per stream
    (``Workbench.recovery_cost()``); the diagonal is "no usable snapshot"."""
    import plotly.graph_objects as go

    _need(cost, {"persistence_id", "head", "events_to_replay"}, "a recovery_cost() frame")
    fig = _figure("recovery cost per stream", "journal length (head sequence_nr)",
                  "events replayed on recovery")
    snap = cost["latest_snapshot_seq"] if "latest_snapshot_seq" in cost.columns else pd.Series(
        None, index=cost.index, dtype="object")
    fig.add_trace(go.Scatter(
        x=cost["head"], y=cost["events_to_replay"], mode="markers", name="streams",
        marker={"size": 9, "opacity": 0.8},
        customdata=list(zip(cost["persistence_id"].astype(str),
                            ["none" if pd.isna(s) else int(s) for s in snap], strict=True)),
        hovertemplate=("<b>%{customdata[0]}</b><br>head %{x}<br>latest snapshot "
                       "%{customdata[1]}<br>replays %{y} events<extra></extra>")))
    top = int(cost["head"].max()) if len(cost) else 1
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", hoverinfo="skip",
                             name="no snapshot (replay everything)",
                             line={"dash": "dash", "color": "grey", "width": 1}))
    return fig


def what_if_figure(frame: pd.DataFrame) -> Any:
    """A ``Workbench.what_if()`` frame: per policy, snapshots written (x) against events
    replayed on recovery (y), all streams together; hover: the policy and both totals."""
    import plotly.graph_objects as go

    _need(frame, {"every_n", "keep_n", "snapshots_written", "events_to_replay_total"},
          "a what_if() frame")
    fig = _figure("snapshot policies: write cost vs recovery cost" if len(frame)
                  else "no policies simulated", "snapshots written (all streams)",
                  "events replayed on recovery (all streams)")
    first = frame.drop_duplicates("every_n").sort_values("snapshots_written")
    labels = ["never" if pd.isna(n) else f"every {int(n)}" for n in first["every_n"]]
    fig.add_trace(go.Scatter(
        x=first["snapshots_written"], y=first["events_to_replay_total"],
        mode="lines+markers+text", text=labels, textposition="top right",
        name="snapshot every N events", customdata=[[label] for label in labels],
        hovertemplate=("<b>%{customdata[0]}</b><br>%{x} snapshots written<br>"
                       "%{y} events replayed<extra></extra>")))
    return fig


def projection_lag_figure(frame: pd.DataFrame) -> Any:
    """One bar per projection version (``Workbench.projections_frame()``: ``name``,
    ``version``, ``state``, ``lag_events``, ``lag_seconds``; ``failed_event`` when
    present): how many events wait; hover: state, lag in events and seconds, the failed
    event.  A bar's ``customdata[0]`` is the failed event's stream (``""`` when none)."""
    import plotly.graph_objects as go

    _need(frame, {"name", "version", "state", "lag_events", "lag_seconds"},
          "a projections_frame()")
    fig = _figure("projection lag" if len(frame) else "no projections",
                  "projection (version)", "events waiting")
    labels = [f"{n} v{int(v)}" for n, v in zip(frame["name"], frame["version"], strict=True)]
    failed = frame["failed_event"] if "failed_event" in frame.columns else pd.Series(
        None, index=frame.index, dtype="object")
    streams = [f[0] if isinstance(f, (tuple, list)) and f else "" for f in failed]
    where = [f"{f[0]} #{f[1]}" if isinstance(f, (tuple, list)) and len(f) == 2 else "none"
             for f in failed]
    colours = ["#cf222e" if s in ("failed", "dead", "stalled") else "#0969da"
               for s in frame["state"].astype(str)]
    fig.add_trace(go.Bar(
        x=labels, y=frame["lag_events"], marker={"color": colours}, name="events waiting",
        customdata=list(zip(streams, frame["state"].astype(str),
                            frame["lag_seconds"].astype(float), where, strict=True)),
        hovertemplate=("<b>%{x}</b>: %{customdata[1]}<br>%{y} events waiting<br>"
                       "oldest %{customdata[2]:.1f} s<br>failed event %{customdata[3]}"
                       "<extra></extra>")))
    return fig
