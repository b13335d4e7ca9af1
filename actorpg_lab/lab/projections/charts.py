"""The static (matplotlib) projection-lag chart: one bar per projection version."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["STATE_COLOURS", "plot_projection_lag"]

#: Bar colour per state: red for the states that need a person, amber for waiting.
STATE_COLOURS = {"failed": "#cf222e", "dead": "#cf222e", "stalled": "#cf222e",
                 "held_back": "#bf8700", "rebuilding": "#8250df", "paused": "#6e7781",
                 "stopped": "#6e7781"}
_DEFAULT_COLOUR = "#0969da"


def plot_projection_lag(frame: pd.DataFrame, ax: Any = None) -> Any:
    """Events waiting per projection version (``wb.projections_frame()``), each bar
    labelled with its state and the age of the oldest waiting event; returns the Axes."""
    import matplotlib.pyplot as plt

    missing = {"name", "version", "state", "lag_events", "lag_seconds"} - set(frame.columns)
    if missing:
        raise ValueError(f"plot_projection_lag needs a projections_frame(); missing columns "
                         f"{sorted(missing)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, max(2.2, 0.9 + 0.45 * len(frame))))
    labels = [f"{n} v{int(v)}" for n, v in zip(frame["name"], frame["version"], strict=True)]
    lag = frame["lag_events"].astype(int).tolist()
    states = frame["state"].astype(str).tolist()
    ax.barh(labels, lag, color=[STATE_COLOURS.get(s, _DEFAULT_COLOUR) for s in states])
    capped = frame["lag_capped"].tolist() if "lag_capped" in frame.columns else [False] * len(lag)
    for y, (n, state, seconds, cap) in enumerate(zip(lag, states, frame["lag_seconds"], capped,
                                                     strict=True)):
        text = f"{state} · {n}{'+' if cap else ''} events · oldest {float(seconds):.1f} s"
        ax.annotate(text, (n, y), xytext=(4, 0), textcoords="offset points", va="center",
                    fontsize=8)
    ax.set_xlabel("events waiting (matching, deliverable after the checkpoint)")
    ax.set_title("projection lag" if len(frame) else "no projections")
    ax.invert_yaxis()
    ax.set_xlim(0, max([2, *lag]) * 1.6)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.figure.tight_layout()
    return ax
