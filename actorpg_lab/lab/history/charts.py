"""Shared care for the workbench's matplotlib charts.

* :func:`relative_ms` — a time axis in milliseconds since the first point (readable
  ticks instead of ``32:00.260000``), the start named in the axis label;
* :func:`legend_outside` — the legend right of the axes, never over the data;
* :func:`place_labels` — point labels that do not overlap (each label moves to the
  next free row of offsets when the previous one at its height would collide), and
  :func:`fit_rows`, which makes a writers × time chart tall enough that every label
  stays in its writer's row;
* :func:`writer_labels` — writer names as the code gave them (``writer-4``,
  ``alice``), without the ``<pid>/`` prefix they all share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["fit_rows", "legend_outside", "place_labels", "relative_ms", "writer_labels"]

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


def _label_levels(ax: Any, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str],
                  fontsize: float, band: float | None) -> list[float | None]:
    """For each label, the first vertical offset (points) whose estimated box is free
    and, with ``band``, stays within ``band`` points of its point; ``None`` when no
    offset is free."""
    fig = ax.figure
    ax.get_xlim(), ax.get_ylim()  # brings pending autoscaling into transData
    to_points = 72.0 / fig.dpi
    height = fontsize * 1.25
    levels = [lv for lv in _LEVELS if band is None or abs(lv) + height / 2 <= band]
    placed: list[tuple[float, float, float, float]] = []  # x0, x1, y0, y1 in points

    def free(box: tuple[float, float, float, float]) -> bool:
        return all(box[1] <= b[0] or b[1] <= box[0] or box[3] <= b[2] or b[3] <= box[2]
                   for b in placed)

    chosen: list[float | None] = [None] * len(labels)
    for i in sorted(range(len(labels)), key=lambda i: (xs[i], ys[i])):
        px, py = ax.transData.transform((xs[i], ys[i]))
        left, mid = px * to_points + 3, py * to_points
        width = 0.62 * fontsize * len(labels[i]) + 2
        for lv in levels:
            box = (left, left + width, mid + lv - height / 2, mid + lv + height / 2)
            if free(box):
                placed.append(box)
                chosen[i] = lv
                break
    return chosen


def _room_on_the_right(ax: Any, xs: Sequence[float], labels: Sequence[str],
                       fontsize: float) -> None:
    """Widen the x-axis (to the right only, never narrower) so that every label, set
    right of its point, ends inside the axes instead of running into the frame or the
    legend."""
    if not labels:
        return
    fig = ax.figure
    left, right = ax.get_xlim()
    if right <= left:
        return
    width = ax.get_window_extent().width * 72.0 / fig.dpi  # the axes, in points
    needed = right
    for x, label in zip(xs, labels, strict=True):
        room = width - 3 - (0.62 * fontsize * len(label) + 2) - 2
        if room <= width * 0.2:  # a label longer than the axes: nothing sensible to do
            continue
        needed = max(needed, left + (x - left) * width / room)
    if needed > right:
        ax.set_xlim(left, needed)


def place_labels(ax: Any, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str],
                 *, color: str | Sequence[str] = "#333333", fontsize: float = 7,
                 band: float | None = None) -> list[Any]:
    """Annotate points ``(xs[i], ys[i])`` with ``labels[i]`` so that no two labels
    overlap: each takes the first vertical offset whose (estimated) box is free — with
    ``band``, only offsets within ``band`` points of the point (a label never drifts
    into a neighbouring row; see :func:`fit_rows`).  A label with no free offset is set
    at the first one (this should not happen once :func:`fit_rows` sized the figure).
    Call it last, once the data, limits, legend and layout are final.  Returns the
    annotations."""
    colors = [color] * len(labels) if isinstance(color, str) else list(color)
    _room_on_the_right(ax, xs, labels, fontsize)
    levels = _label_levels(ax, xs, ys, labels, fontsize, band)
    return [ax.annotate(labels[i], (xs[i], ys[i]), textcoords="offset points",
                        xytext=(3, _LEVELS[0] if levels[i] is None else levels[i]),
                        fontsize=fontsize, color=colors[i], va="center")
            for i in sorted(range(len(labels)), key=lambda i: (xs[i], ys[i]))]


#: Heights (inches) tried in turn for one row of a rows chart (writers × time).
_ROW_INCHES = (0.35, 0.5, 0.7, 0.95, 1.25)


def fit_rows(ax: Any, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str],
             n_rows: int, *, fontsize: float = 7, base_inches: float = 1.2) -> float:
    """Make a rows chart (one row per writer, rows at y = 0, 1, …) tall enough that
    every label fits next to its point without overlapping another or leaving its
    row: tries taller rows in turn, laying the figure out each time.  Returns the
    ``band`` (points) to pass to :func:`place_labels`."""
    fig = ax.figure
    band = 0.0
    for inches in _ROW_INCHES:
        fig.set_size_inches(fig.get_size_inches()[0], base_inches + inches * max(n_rows, 1))
        fig.tight_layout()
        _room_on_the_right(ax, xs, labels, fontsize)
        (_x0, y0), (_x1, y1) = ax.transData.transform([(0, 0), (0, 1)])
        band = abs(y1 - y0) * 72.0 / fig.dpi / 2 - 1
        if all(lv is not None for lv in _label_levels(ax, xs, ys, labels, fontsize, band)):
            break
    return band


def writer_labels(writers: Sequence[str]) -> tuple[dict[str, str], str]:
    """Short names for ``writers`` (``<prefix>/<name>``): the part after the last ``/``
    when that is unique, plus a note on what was dropped (``"process 20256"``)."""
    names = {w: w.rsplit("/", 1)[-1] for w in writers}
    prefixes = {w.rsplit("/", 1)[0] for w in writers if "/" in w}
    if len(set(names.values())) != len(names) or len(prefixes) > 1 or not prefixes:
        return {w: w for w in writers}, ""
    return names, f"process {next(iter(prefixes))}"
