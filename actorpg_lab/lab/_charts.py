"""Shared care for the workbench's matplotlib charts.

* :func:`relative_ms` — a time axis in milliseconds since the first point (readable
  ticks instead of ``32:00.260000``), the start named in the axis label;
* :func:`legend_outside` — the legend right of the axes, never over the data;
* :func:`place_labels` — point labels that do not overlap (each label moves to the
  next free row of offsets when the previous one at its height would collide);
* :func:`writer_labels` — writer names as the code gave them (``writer-4``,
  ``alice``), without the ``<pid>/`` prefix they all share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["legend_outside", "place_labels", "relative_ms", "writer_labels"]

#: Vertical offsets (points) tried in turn for a label that would overlap another.
_LEVELS = (6, -6, 15, -15, 24, -24, 33, -33)


def relative_ms(times: pd.Series, start: pd.Timestamp | None = None
                ) -> tuple[pd.Series, pd.Timestamp]:
    """``times`` as float milliseconds since ``start`` (default: the earliest)."""
    t0 = pd.Timestamp(times.min()) if start is None else start
    return (times - t0).dt.total_seconds() * 1000.0, t0


def time_label(t0: pd.Timestamp) -> str:
    """The x-axis label of a :func:`relative_ms` axis."""
    stamp = t0.strftime("%Y-%m-%d %H:%M:%S") + f".{t0.microsecond // 1000:03d}"
    zone = " UTC" if t0.tzinfo is not None else ""
    return f"ms since {stamp}{zone}"


def legend_outside(ax: Any, **kwargs: Any) -> Any:
    """The legend right of ``ax`` (outside the data); returns it (``None`` when there is
    nothing to label)."""
    handles, labels = ax.get_legend_handles_labels()
    if "handles" in kwargs:
        handles = kwargs.pop("handles")
        labels = [h.get_label() for h in handles]
    pairs = [(h, lab) for h, lab in zip(handles, labels, strict=True)
             if lab and not lab.startswith("_")]
    if not pairs:
        return None
    return ax.legend([h for h, _ in pairs], [lab for _, lab in pairs], loc="upper left",
                     bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8,
                     frameon=False, **kwargs)


def place_labels(ax: Any, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str],
                 *, color: str | Sequence[str] = "#333333", fontsize: float = 7) -> list[Any]:
    """Annotate points ``(xs[i], ys[i])`` with ``labels[i]`` so that no two labels
    overlap: each takes the first vertical offset whose (estimated) box is free.  Call
    it last, once the data, limits, legend and layout are final.  Returns the
    annotations."""
    fig = ax.figure
    ax.get_xlim(), ax.get_ylim()  # brings pending autoscaling into transData
    to_points = 72.0 / fig.dpi
    colors = [color] * len(labels) if isinstance(color, str) else list(color)
    order = sorted(range(len(labels)), key=lambda i: (xs[i], ys[i]))
    placed: list[tuple[float, float, float, float]] = []  # x0, x1, y0, y1 in points
    height = fontsize * 1.25

    def free(box: tuple[float, float, float, float]) -> bool:
        return all(box[1] <= b[0] or b[1] <= box[0] or box[3] <= b[2] or b[3] <= box[2]
                   for b in placed)

    out = []
    for i in order:
        px, py = ax.transData.transform((xs[i], ys[i]))
        left, mid = px * to_points + 3, py * to_points
        width = 0.62 * fontsize * len(labels[i]) + 2
        boxes = [(lv, (left, left + width, mid + lv - height / 2, mid + lv + height / 2))
                 for lv in _LEVELS]
        level, box = next(((lv, b) for lv, b in boxes if free(b)), boxes[0])
        placed.append(box)
        out.append(ax.annotate(labels[i], (xs[i], ys[i]), textcoords="offset points",
                               xytext=(3, level), fontsize=fontsize, color=colors[i],
                               va="center"))
    return out


def writer_labels(writers: Sequence[str]) -> tuple[dict[str, str], str]:
    """Short names for ``writers`` (``<prefix>/<name>``): the part after the last ``/``
    when that is unique, plus a note on what was dropped (``"process 20256"``)."""
    names = {w: w.rsplit("/", 1)[-1] for w in writers}
    prefixes = {w.rsplit("/", 1)[0] for w in writers if "/" in w}
    if len(set(names.values())) != len(names) or len(prefixes) > 1 or not prefixes:
        return {w: w for w in writers}, ""
    return names, f"process {next(iter(prefixes))}"
