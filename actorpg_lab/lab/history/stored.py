"""The persisted write history, read back: conflicts and pruned snapshots from any process.

The stores write it when asked to (``log_conflicts=True`` / ``log_pruning=True``, see
:mod:`actorpg_lab.postgres._write_history`); :meth:`Workbench.conflicts_frame
<actorpg_lab.lab.Workbench.conflicts_frame>` and :meth:`~actorpg_lab.lab.Workbench.pruned_frame`
load it, :func:`plot_conflict_timeline` and :func:`plot_pruning_history` draw it (they
also accept the frames of the in-process recorders).  A history table that does not
exist (logging never switched on) reads as an empty frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from ..db.statements import render
from ..frames.filter import ids_json
from ..notebook.display import format_duration
from .charts import fit_rows, legend_outside, place_labels, relative_ms, time_label, writer_labels

if TYPE_CHECKING:
    from ..frames.loader import FrameLoader

__all__ = ["CONDITION_COLOUR", "CONFLICT_COLUMNS", "PRUNED_COLUMNS", "conflict_label",
           "is_condition", "load_conflicts", "load_pruned", "plot_conflict_timeline",
           "plot_pruning_history"]

CONFLICT_COLUMNS = ["store", "persistence_id", "expected", "actual", "writer", "timestamp",
                    "kind", "conflict_persistence_id", "conflict_sequence_nr",
                    "conflict_position", "query"]
#: What a conflict row says about the event a failed condition found (NA otherwise).
CONDITION_COLUMNS = ("conflict_persistence_id", "conflict_sequence_nr", "conflict_position",
                     "query")
_INTS = ("expected", "actual")
_NULLABLE_INTS = ("conflict_sequence_nr", "conflict_position")
PRUNED_COLUMNS = ["persistence_id", "sequence_nr", "saved_at", "pruned_at", "lifetime", "writer"]


def _ms(column: pa.ChunkedArray | pa.Array) -> pd.Series:
    values = pd.Series(column.to_numpy(zero_copy_only=False), dtype="int64")
    return pd.to_datetime(values, unit="ms", utc=True).astype("datetime64[ms, UTC]")


def load_conflicts(frames: FrameLoader, sources: Iterable[tuple[str, str]],
                   persistence_ids: str | Iterable[str] | None = None) -> pd.DataFrame:
    """``sources``: ``(store name, conflicts table)`` pairs, e.g. ``("journal", "events_conflicts")``."""
    ids, _ = ids_json(persistence_ids)
    parts = []
    for store, table in sources:
        if not frames.table_exists(table):
            continue
        data = frames.query(render("history_conflicts", conflicts=table), [ids])
        part = pd.DataFrame({
            "store": store,
            "persistence_id": data.column("persistence_id").to_pylist(),
            "expected": pd.Series(data.column("expected").to_pylist(), dtype="int64"),
            "actual": pd.Series(data.column("actual").to_pylist(), dtype="int64"),
            "writer": data.column("writer").to_pylist(),
            "timestamp": _ms(data.column("timestamp")),
            "kind": data.column("kind").to_pylist(),
            "conflict_persistence_id": data.column("conflict_pid").to_pylist(),
            "conflict_sequence_nr": pd.Series(data.column("conflict_seq").to_pylist(),
                                              dtype="Int64"),
            "conflict_position": pd.Series(data.column("conflict_position").to_pylist(),
                                           dtype="Int64"),
            "query": data.column("query").to_pylist(),
        }, columns=CONFLICT_COLUMNS)
        parts.append(part)
    if not parts:
        frame = pd.DataFrame({c: pd.Series(dtype="int64" if c in _INTS else "Int64"
                                           if c in _NULLABLE_INTS else "object")
                              for c in CONFLICT_COLUMNS})
        frame["timestamp"] = pd.Series(dtype="datetime64[ms, UTC]")
    else:
        frame = pd.concat(parts, ignore_index=True).sort_values(
            ["timestamp", "store", "persistence_id"], kind="stable").reset_index(drop=True)
    for column in ("store", "persistence_id", "writer", "kind"):
        frame[column] = frame[column].astype("category")
    return frame


def load_pruned(frames: FrameLoader, table: str,
                persistence_ids: str | Iterable[str] | None = None) -> pd.DataFrame:
    """The pruning history of the snapshot table whose log is ``table``."""
    ids, _ = ids_json(persistence_ids)
    if frames.table_exists(table):
        data = frames.query(render("history_pruned", pruned=table), [ids])
        frame = pd.DataFrame({
            "persistence_id": data.column("persistence_id").to_pylist(),
            "sequence_nr": pd.Series(data.column("sequence_nr").to_pylist(), dtype="int64"),
            "saved_at": _ms(data.column("saved_at")),
            "pruned_at": _ms(data.column("pruned_at")),
            "writer": data.column("writer").to_pylist(),
        })
    else:
        frame = pd.DataFrame({
            "persistence_id": pd.Series(dtype="object"),
            "sequence_nr": pd.Series(dtype="int64"),
            "saved_at": pd.Series(dtype="datetime64[ms, UTC]"),
            "pruned_at": pd.Series(dtype="datetime64[ms, UTC]"),
            "writer": pd.Series(dtype="object"),
        })
    frame["lifetime"] = frame["pruned_at"] - frame["saved_at"]
    for column in ("persistence_id", "writer"):
        frame[column] = frame[column].astype("category")
    return frame[PRUNED_COLUMNS]


def plot_conflict_timeline(frame: pd.DataFrame, ax: Any = None, *,
                           persistence_id: str | None = None, annotate: bool | None = None
                           ) -> Any:
    """Writers × time, one ✖ per rejected write labelled ``expected≠actual``.

    ``frame`` is :meth:`Workbench.conflicts_frame` (the persisted history, any process)
    or a :class:`ConflictRecorder` frame (its ``conflict`` attempts are drawn).
    Returns the matplotlib Axes."""
    import matplotlib.pyplot as plt

    if "outcome" in frame.columns:  # a recorder's attempts
        frame = frame[frame["outcome"] == "conflict"].rename(columns={"finished": "timestamp"})
    missing = {"persistence_id", "writer", "expected", "actual", "timestamp"} - set(frame.columns)
    if missing:
        raise ValueError(f"expected a conflicts_frame() (or a recorder frame), missing "
                         f"columns {sorted(missing)}")
    if persistence_id is not None:
        frame = frame[frame["persistence_id"] == persistence_id]
    writers = sorted(frame["writer"].astype(str).unique())
    own_figure = ax is None  # only then may the chart pick its height
    if ax is None:
        _fig, ax = plt.subplots(figsize=(10, 1.2 + 0.35 * min(max(len(writers), 1), 40)))
    if frame.empty:
        ax.set_title("no conflicts recorded")
        return ax
    names, dropped = writer_labels(writers)
    row = {w: i for i, w in enumerate(writers)}
    y = frame["writer"].astype(str).map(row)
    x, t0 = relative_ms(frame["timestamp"])
    stores = frame["store"].astype(str) if "store" in frame.columns else None
    condition = is_condition(frame)
    colours = {"journal": "#cf222e", "durable_state": "#8250df"}
    for store in (sorted(stores.unique()) if stores is not None else [None]):
        part = frame if store is None else frame[stores == store]
        part = part[~condition[part.index]]
        if part.empty:
            continue
        ax.scatter(x[part.index], y[part.index], marker="X", s=40, zorder=3,
                   color=colours.get(str(store), "#cf222e"),
                   label=f"{store or 'conflict'} ({len(part)})")
    if condition.any():
        part = frame[condition]
        ax.scatter(x[part.index], y[part.index], marker="D", s=36, zorder=3,
                   color=CONDITION_COLOUR, label=f"condition ({len(part)})")
    ax.set_yticks(range(len(writers)), [names[w] for w in writers])
    ax.set_ylim(-0.7, len(writers) - 0.3)
    ax.set_xlabel(time_label(t0))
    ax.set_ylabel("writer" + (f" ({dropped})" if dropped else ""))
    keys = frame["persistence_id"].astype(str).unique()
    ax.set_title("rejected writes (expected≠found)" + (f" on {keys[0]}" if len(keys) == 1
                                                       else f" on {len(keys)} keys"))
    legend_outside(ax)
    ax.grid(axis="x", alpha=0.3)
    ax.figure.tight_layout()
    if annotate if annotate is not None else len(frame) <= 80:
        labels = [conflict_label(r) for _, r in frame.iterrows()]
        colour = [CONDITION_COLOUR if c else "#cf222e" for c in condition]
        band = fit_rows(ax, list(x), list(y), labels, len(writers)) if own_figure else None
        place_labels(ax, list(x), list(y), labels, color=colour, band=band)
    return ax


#: The colour of a failed condition in the conflict timelines.
CONDITION_COLOUR = "#bf8700"


def is_condition(frame: pd.DataFrame) -> pd.Series:
    """Which rows are failed conditions (``kind == "condition"``; none without ``kind``)."""
    if "kind" not in frame.columns:
        return pd.Series(False, index=frame.index)
    return (frame["kind"].astype(object) == "condition").fillna(False).astype(bool)


def conflict_label(row: Any) -> str:
    """``3≠4`` for a moved head, ``⊘pid#seq`` (the event found) for a failed condition."""
    if row.get("kind") == "condition" and not pd.isna(row.get("conflict_persistence_id")):
        return f"⊘{row['conflict_persistence_id']}#{int(row['conflict_sequence_nr'])}"
    return f"{int(row['expected'])}≠{int(row['actual'])}"


def plot_pruning_history(frame: pd.DataFrame, ax: Any = None, *,
                         persistence_id: str | None = None) -> Any:
    """Per pruned snapshot: its sequence number (x) and how long it was kept (y, ms from
    its save to its pruning), a line per stream.  ``frame`` is :meth:`Workbench.pruned_frame` or a
    :meth:`PruningRecorder.lifetimes` frame.  Returns the matplotlib Axes."""
    import matplotlib.pyplot as plt

    missing = {"persistence_id", "sequence_nr", "saved_at", "pruned_at"} - set(frame.columns)
    if missing:
        raise ValueError(f"expected a pruned_frame() (or recorder lifetimes), missing "
                         f"columns {sorted(missing)}")
    frame = frame[frame["pruned_at"].notna()]
    if persistence_id is not None:
        frame = frame[frame["persistence_id"] == persistence_id]
    if ax is None:
        _fig, ax = plt.subplots(figsize=(10, 4))
    if frame.empty:
        ax.set_title("no pruned snapshots recorded")
        return ax
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    life_ms = (frame["pruned_at"] - frame["saved_at"]).dt.total_seconds() * 1000.0
    for i, (pid, part) in enumerate(frame.groupby("persistence_id", observed=True)):
        colour = colours[i % len(colours)]
        ax.plot(part["sequence_nr"], life_ms[part.index], marker="o", markersize=4,
                color=colour, linewidth=1, label=str(pid))
    from matplotlib.ticker import MaxNLocator

    seqs = sorted(set(frame["sequence_nr"].astype(int)))
    if len(seqs) <= 20:  # the snapshots' own sequence numbers as ticks
        ax.set_xticks(seqs)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # sequence numbers: no 12.5
    ax.set_xlabel("snapshot sequence_nr (position in the stream)")
    ax.set_ylabel("kept for (ms, save → pruned)")
    ax.set_title("pruned snapshots: how long each was kept")
    if frame["persistence_id"].nunique() <= 12:
        legend_outside(ax)
    ax.grid(alpha=0.3)
    ax.figure.tight_layout()
    if len(frame) <= 40:  # few points: each says how long it lived, in its line's colour
        ax.margins(x=0.06, y=0.15)  # room for the outermost labels, inside the axes
        order = {pid: i for i, pid in enumerate(
            frame.groupby("persistence_id", observed=True).groups)}
        place_labels(ax, list(frame["sequence_nr"].astype(float)), list(life_ms),
                     [format_duration(pd.Timedelta(milliseconds=v)) for v in life_ms],
                     color=[colours[order[p] % len(colours)] for p in frame["persistence_id"]])
    return ax
