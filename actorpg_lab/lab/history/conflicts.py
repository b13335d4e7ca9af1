"""Record compare-and-set write attempts (journal appends, durable-state upserts).

:class:`ConflictRecorder` subscribes to :func:`actorpg_lab.add_write_listener` while
it is active (``with wb.record_conflicts() as rec: ...``) and keeps every
:class:`~actorpg_lab.WriteAttempt`: who (writer = ``"<os pid>/<task name>"``)
expected which sequence number / revision, what the store held, what was written and
the outcome (``ok``, ``conflict``, ``error``).  :meth:`ConflictRecorder.frame` turns
them into a DataFrame, :meth:`~ConflictRecorder.conflict_rates` aggregates per key
and :meth:`~ConflictRecorder.plot_timeline` draws writers × time.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..._write_attempts import WriteAttempt, add_write_listener
from ..frames.filter import as_names
from ..notebook.display import to_html
from .charts import fit_rows, legend_outside, place_labels, relative_ms, time_label, writer_labels
from .recorder import Recorder
from .stored import CONDITION_COLOUR, conflict_label, is_condition

__all__ = ["ConflictRecorder"]

#: Keys first, then what happened (outcome, revisions, duration), then the times.
_COLUMNS = ["store", "persistence_id", "writer", "outcome", "expected", "actual", "written",
            "duration_ms", "events", "started", "finished", "kind", "conflict_persistence_id",
            "conflict_sequence_nr", "conflict_position", "query"]
#: "condition": a conflict whose kind is "condition" (a conditional append's failure).
_MARKERS = {"ok": ("o", "#1a7f37"), "conflict": ("X", "#cf222e"), "error": ("s", "#333333"),
            "condition": ("D", CONDITION_COLOUR)}


class ConflictRecorder(Recorder[WriteAttempt]):
    """Collects write attempts while active (a context manager; also :meth:`start`/:meth:`stop`).

    :param persistence_ids: only keep attempts on these keys (one id or several; default: all).
    :param stores: only keep ``"journal"`` and/or ``"durable_state"`` attempts (one name or
        several; default: both).
    """

    def __init__(self, persistence_ids: str | Iterable[str] | None = None,
                 stores: str | Iterable[str] | None = None) -> None:
        super().__init__(add_write_listener, persistence_ids)
        names = as_names(stores, "stores")
        self.stores = None if names is None else frozenset(names)
        unknown = (self.stores or frozenset()) - {"journal", "durable_state"}
        if unknown:
            raise ValueError(f"stores must be 'journal' and/or 'durable_state', got {unknown!r}")

    @property
    def attempts(self) -> list[WriteAttempt]:
        """The attempts recorded so far (the live list)."""
        return self._recorded

    def keeps(self, item: WriteAttempt) -> bool:
        return super().keeps(item) and (self.stores is None or item.store in self.stores)

    # -- tables -----------------------------------------------------------------------
    def frame(self) -> pd.DataFrame:
        """One row per attempt, ordered by start time (``started``/``finished`` UTC datetimes)."""
        attempts = self._items()
        frame = pd.DataFrame(
            [
                {
                    "store": a.store, "persistence_id": a.persistence_id, "writer": a.writer,
                    "expected": a.expected, "actual": a.actual, "written": a.written,
                    "outcome": a.outcome, "events": a.events, "started": a.started,
                    "finished": a.finished,
                    # a failed condition: the event it found (what a moved head lacks)
                    "kind": a.kind if a.outcome == "conflict" else None,
                    "conflict_persistence_id": a.conflict[1] if a.conflict else None,
                    "conflict_sequence_nr": a.conflict[2] if a.conflict else None,
                    "conflict_position": a.conflict[0] if a.conflict else None,
                    "query": a.query,
                }
                for a in attempts
            ],
            columns=[c for c in _COLUMNS if c != "duration_ms"],
        )
        for column in ("written", "conflict_sequence_nr", "conflict_position"):
            frame[column] = frame[column].astype("Int64")
        for column in ("expected", "actual", "events"):
            frame[column] = frame[column].astype("int64")
        for column in ("store", "persistence_id", "writer", "outcome", "kind"):
            frame[column] = frame[column].astype("category")
        frame["duration_ms"] = (frame["finished"] - frame["started"]).astype(float) * 1000.0
        for column in ("started", "finished"):
            frame[column] = pd.to_datetime(frame[column].astype(float), unit="s", utc=True)
        return frame.sort_values("started", kind="stable").reset_index(drop=True)[_COLUMNS]

    def conflict_rates(self) -> pd.DataFrame:
        """Per ``(store, persistence_id)``: attempts, ok, conflicts, errors, writers and
        ``conflict_rate`` (conflicts / attempts), highest rate first."""
        frame = self.frame()
        if frame.empty:
            return pd.DataFrame(
                columns=["store", "persistence_id", "attempts", "ok", "conflicts", "errors",
                         "writers", "conflict_rate"]
            )
        grouped = frame.groupby(["store", "persistence_id"], observed=True)
        rates = pd.DataFrame({
            "attempts": grouped.size(),
            "ok": grouped["outcome"].apply(lambda s: int((s == "ok").sum())),
            "conflicts": grouped["outcome"].apply(lambda s: int((s == "conflict").sum())),
            "errors": grouped["outcome"].apply(lambda s: int((s == "error").sum())),
            "writers": grouped["writer"].nunique(),
        })
        rates["conflict_rate"] = rates["conflicts"] / rates["attempts"]
        return rates.reset_index().sort_values(
            ["conflict_rate", "attempts"], ascending=False, kind="stable"
        ).reset_index(drop=True)

    # -- plotting ---------------------------------------------------------------------
    def plot_timeline(self, ax: Any = None, *, persistence_id: str | None = None,
                      annotate: bool | None = None) -> Any:
        """Writers × time: a line per attempt (start → finish) ending in a marker
        (● ok, ✖ conflict, ■ error, ◆ failed condition), labelled with the revision/sequence
        number written (``→r3``), expected vs found (``3≠4``) or, for a failed condition,
        the event it found (``⊘course-1#4``), labels placed so they do not overlap;
        x is milliseconds since the first attempt, writers are named as the code named
        their tasks.  Returns the matplotlib Axes."""
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D

        frame = self.frame()
        if persistence_id is not None:
            frame = frame[frame["persistence_id"] == persistence_id]
        own_figure = ax is None  # only then may the chart pick its height
        if ax is None:
            n_writers = max(1, frame["writer"].nunique()) if not frame.empty else 1
            _fig, ax = plt.subplots(figsize=(10, 1.2 + 0.35 * min(n_writers, 40)))
        if frame.empty:
            ax.set_title("no write attempts recorded")
            return ax
        writers = sorted(frame["writer"].astype(str).unique())
        names, dropped = writer_labels(writers)
        row = {w: i for i, w in enumerate(writers)}
        y = frame["writer"].astype(str).map(row)
        start, t0 = relative_ms(frame["started"])
        finish, _ = relative_ms(frame["finished"], t0)
        annotate = len(frame) <= 80 if annotate is None else annotate
        notes: tuple[list[float], list[float], list[str], list[str]] = ([], [], [], [])
        condition = is_condition(frame)
        for outcome, (marker, colour) in _MARKERS.items():
            part = frame[(frame["outcome"] == outcome) & ~condition]
            if outcome == "condition":
                part = frame[condition]
            if part.empty:
                continue
            py = y[part.index]
            ax.hlines(py, start[part.index], finish[part.index], colors=colour, linewidth=2,
                      alpha=0.6)
            ax.scatter(finish[part.index], py, marker=marker, color=colour, s=36, zorder=3)
            if annotate:
                labels = [(f"→{_rev(rec)}{int(rec['written'])}" if outcome == "ok"
                           else conflict_label(rec))
                          for _, rec in part.iterrows()]
                notes[0].extend(finish[part.index])
                notes[1].extend(py)
                notes[2].extend(labels)
                notes[3].extend([colour] * len(labels))
        ax.set_yticks(range(len(writers)), [names[w] for w in writers])
        ax.set_ylim(-0.7, len(writers) - 0.3)
        ax.set_xlabel(time_label(t0))
        ax.set_ylabel("writer" + (f" ({dropped})" if dropped else ""))
        keys = frame["persistence_id"].astype(str).unique()
        ax.set_title("write attempts" + (f" on {keys[0]}" if len(keys) == 1 else
                                         f" on {len(keys)} keys"))
        shown = {o: int(((frame["outcome"] == o) & ~condition).sum()) for o in _MARKERS}
        shown["condition"] = int(condition.sum())
        handles = [Line2D([], [], marker=m, color=c, linestyle="", label=f"{o} ({shown[o]})")
                   for o, (m, c) in _MARKERS.items() if shown[o]]
        legend_outside(ax, handles=handles)
        ax.grid(axis="x", alpha=0.3)
        ax.figure.tight_layout()
        band = (fit_rows(ax, notes[0], notes[1], notes[2], len(writers)) if own_figure
                else None)
        place_labels(ax, notes[0], notes[1], notes[2], color=notes[3], band=band)
        return ax

    # -- display ----------------------------------------------------------------------
    def _counts(self) -> dict[str, int]:
        attempts = self._items()
        counts = {"ok": 0, "conflict": 0, "error": 0}
        for a in attempts:
            counts[a.outcome] = counts.get(a.outcome, 0) + 1
        return counts

    def __repr__(self) -> str:
        c = self._counts()
        state = "recording" if self.active else "stopped"
        return (f"<ConflictRecorder {state}: {sum(c.values())} attempts, ok={c['ok']} "
                f"conflict={c['conflict']} error={c['error']}>")

    def _repr_html_(self) -> str:
        head = html.escape(repr(self))
        rates = self.conflict_rates().head(10)
        table = to_html(rates) if len(rates) else ""  # formatted like lab.show()
        return f"<div class='actorpg-conflicts'><b>{head}</b>{table}</div>"


def _rev(record: Any) -> str:
    return "r" if record["store"] == "durable_state" else "#"
