"""Snapshot saves and ``keep_n`` pruning over time, recovery cost, and what-if policies.

:class:`PruningRecorder` subscribes to :func:`actorpg_lab.add_snapshot_listener`
while active and keeps every :class:`~actorpg_lab.SnapshotActivity` (a save and the
snapshots pruned right after it).  :func:`simulate_policies` answers "what if we
snapshotted every N events and kept K snapshots?" from the journal lengths alone.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..._write_attempts import SnapshotActivity, add_snapshot_listener
from ..notebook.display import to_html
from .charts import legend_outside, place_labels
from .recorder import Recorder

__all__ = ["PruningRecorder", "plot_recovery_cost", "plot_what_if", "recovery_cost",
           "simulate_policies"]


class PruningRecorder(Recorder[SnapshotActivity]):
    """Collects snapshot saves/prunes while active (a context manager; or start/stop).

    :param persistence_ids: only keep activity on these streams (default: all).
    """

    def __init__(self, persistence_ids: str | Iterable[str] | None = None) -> None:
        super().__init__(add_snapshot_listener, persistence_ids)

    @property
    def activity(self) -> list[SnapshotActivity]:
        """The saves recorded so far (the live list)."""
        return self._recorded

    # -- tables -----------------------------------------------------------------------
    def frame(self) -> pd.DataFrame:
        """One row per save: persistence_id, saved_seq, pruned_seqs (list), pruned,
        keep_n, at (UTC datetime), prune_failed."""
        items = self._items()
        frame = pd.DataFrame(
            {
                "persistence_id": pd.Categorical([a.persistence_id for a in items]),
                "saved_seq": pd.Series([a.saved_seq for a in items], dtype="int64"),
                "pruned_seqs": pd.Series([list(a.pruned_seqs) for a in items], dtype=object),
                "pruned": pd.Series([len(a.pruned_seqs) for a in items], dtype="int64"),
                "keep_n": pd.Series([a.keep_n for a in items], dtype="int64"),
                "at": pd.to_datetime(pd.Series([a.at for a in items], dtype=float), unit="s",
                                     utc=True),
                "prune_failed": pd.Series([a.prune_failed for a in items], dtype=bool),
            }
        )
        return frame

    def lifetimes(self) -> pd.DataFrame:
        """One row per snapshot seen: persistence_id, sequence_nr, saved_at, pruned_at
        (NaT while it is still kept) and alive."""
        saved: dict[tuple[str, int], Any] = {}
        pruned: dict[tuple[str, int], Any] = {}
        for a in self._items():
            saved.setdefault((a.persistence_id, a.saved_seq), a.at)
            for seq in a.pruned_seqs:
                pruned.setdefault((a.persistence_id, seq), a.at)
        keys = sorted(set(saved) | set(pruned))
        frame = pd.DataFrame({
            "persistence_id": pd.Categorical([k[0] for k in keys]),
            "sequence_nr": pd.Series([k[1] for k in keys], dtype="int64"),
            "saved_at": pd.to_datetime(pd.Series([saved.get(k) for k in keys], dtype=float),
                                       unit="s", utc=True),
            "pruned_at": pd.to_datetime(pd.Series([pruned.get(k) for k in keys], dtype=float),
                                        unit="s", utc=True),
        })
        frame["alive"] = frame["pruned_at"].isna()
        return frame

    def summary(self) -> pd.DataFrame:
        """Per stream: saves, pruned, kept (saved and not pruned), last saved seq."""
        life = self.lifetimes()
        if life.empty:
            return pd.DataFrame(columns=["persistence_id", "saved", "pruned", "kept",
                                         "latest_seq"])
        grouped = life.groupby("persistence_id", observed=True)
        return pd.DataFrame({
            "saved": grouped["saved_at"].count(),
            "pruned": grouped["pruned_at"].count(),
            "kept": grouped["alive"].sum(),
            "latest_seq": grouped["sequence_nr"].max(),
        }).reset_index()

    def plot(self, ax: Any = None, *, persistence_id: str | None = None) -> Any:
        """Snapshots along each stream's sequence numbers: a bar per snapshot from the
        position it was saved at to the position of the save that pruned it (open-ended,
        to the latest save, while kept); ● kept, ✕ pruned; a row per stream."""
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D

        items = self._items()
        if persistence_id is not None:
            items = [a for a in items if a.persistence_id == persistence_id]
        pruned_by: dict[tuple[str, int], int] = {}
        saved: dict[str, list[int]] = {}
        for a in items:
            saved.setdefault(a.persistence_id, []).append(a.saved_seq)
            for seq in a.pruned_seqs:
                pruned_by.setdefault((a.persistence_id, seq), a.saved_seq)
        pids = sorted(saved)
        if ax is None:
            _fig, ax = plt.subplots(figsize=(10, 1.0 + 0.45 * min(max(len(pids), 1), 30)))
        if not pids:
            ax.set_title("no snapshot activity recorded")
            return ax
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for row, pid in enumerate(pids):
            colour = colours[row % len(colours)]
            seqs = sorted(set(saved[pid]))
            last = max(seqs)
            for k, seq in enumerate(seqs):
                end = pruned_by.get((pid, seq))
                lane = row + (0.12 if k % 2 else -0.12)  # alternate: bars never overlap
                ax.hlines(lane, seq, last if end is None else end, colors=colour,
                          linewidth=3, alpha=0.35 if end is not None else 0.9)
                ax.scatter([seq], [lane], color=colour, s=22, zorder=3,
                           marker="x" if end is not None else "o")
        ax.set_yticks(range(len(pids)), pids)
        ax.set_ylim(-0.7, len(pids) - 0.3)
        ax.invert_yaxis()
        ax.set_xlabel("sequence_nr (a snapshot lives from its save to the save that "
                      "pruned it)")
        ax.set_title("snapshots per stream: kept (●) and pruned by keep_n (✕)")
        legend_outside(ax, handles=[
            Line2D([], [], marker="o", color="#555555", linestyle="", label="kept"),
            Line2D([], [], marker="x", color="#555555", linestyle="", label="pruned")])
        ax.grid(axis="x", alpha=0.3)
        ax.figure.tight_layout()
        return ax

    def __repr__(self) -> str:
        items = self._items()
        pruned = sum(len(a.pruned_seqs) for a in items)
        state = "recording" if self.active else "stopped"
        return f"<PruningRecorder {state}: {len(items)} saves, {pruned} pruned>"

    def _repr_html_(self) -> str:
        summary = self.summary()
        table = to_html(summary, max_rows=20) if len(summary) else ""  # like lab.show()
        return f"<div class='actorpg-pruning'><b>{html.escape(repr(self))}</b>{table}</div>"


def recovery_cost(streams: pd.DataFrame) -> pd.DataFrame:
    """From :meth:`Workbench.streams_frame`: per stream the journal length (``head``),
    the latest snapshot, ``events_to_replay`` and ``replay_fraction`` (events to replay
    / head), largest recovery first."""
    cols = ["persistence_id", "head", "events", "snapshots", "latest_snapshot_seq",
            "events_to_replay"]
    frame = streams[cols].copy()
    head = frame["head"].where(frame["head"] > 0)
    frame["replay_fraction"] = (frame["events_to_replay"] / head).fillna(0.0).astype(float)
    return frame.sort_values(["events_to_replay", "head"], ascending=False,
                             kind="stable").reset_index(drop=True)


def plot_recovery_cost(streams: pd.DataFrame, ax: Any = None) -> Any:
    """Scatter: journal length (head) vs events replayed on recovery, one dot per stream
    (streams on the same spot share one larger dot), each labelled, labels placed so
    they do not overlap; the diagonal is "no usable snapshot"."""
    import matplotlib.pyplot as plt

    cost = recovery_cost(streams)
    if ax is None:
        _fig, ax = plt.subplots(figsize=(8, 4.5))
    spots = (cost.assign(persistence_id=cost["persistence_id"].astype(str))
             .groupby(["head", "events_to_replay"], sort=True)["persistence_id"]
             .agg(list).reset_index())
    sizes = [18 + 14 * len(ids) for ids in spots["persistence_id"]]
    ax.scatter(spots["head"], spots["events_to_replay"], s=sizes, alpha=0.8, zorder=3,
               label="streams (a bigger dot: several)")
    top = int(cost["head"].max()) if len(cost) else 1
    ax.plot([0, top], [0, top], linestyle="--", color="grey", linewidth=1,
            label="no snapshot (replay everything)")
    ax.set_xlabel("journal length (head sequence_nr)")
    ax.set_ylabel("events replayed on recovery")
    ax.set_title("recovery cost per stream")
    legend_outside(ax)
    ax.figure.tight_layout()
    if len(spots) <= 40:
        labels = [", ".join(ids) if len(ids) <= 2 else f"{ids[0]} and {len(ids) - 1} more"
                  for ids in spots["persistence_id"]]
        place_labels(ax, list(spots["head"]), list(spots["events_to_replay"]), labels)
    return ax


def plot_what_if(frame: pd.DataFrame, ax: Any = None) -> Any:
    """A :func:`simulate_policies` frame as a chart: per policy, snapshots written (x)
    vs events replayed on recovery in total (y), each point labelled with its
    ``every_n`` (``keep_n`` changes neither: it only decides how many are kept)."""
    import matplotlib.pyplot as plt

    missing = {"every_n", "keep_n", "snapshots_written", "events_to_replay_total"} - set(
        frame.columns)
    if missing:
        raise ValueError(f"expected a what_if() frame, missing columns {sorted(missing)}")
    if ax is None:
        _fig, ax = plt.subplots(figsize=(8, 4.5))
    if frame.empty:
        ax.set_title("no policies simulated")
        return ax
    # keep_n changes neither axis (only what is kept): one point per every_n.
    first = frame.drop_duplicates("every_n").sort_values("snapshots_written")
    ax.plot(first["snapshots_written"], first["events_to_replay_total"], marker="o",
            label="snapshot every N events")
    ax.set_xlabel("snapshots written (all streams)")
    ax.set_ylabel("events replayed on recovery (all streams)")
    ax.set_title("snapshot policies: write cost vs recovery cost")
    legend_outside(ax)
    ax.grid(alpha=0.3)
    ax.figure.tight_layout()
    labels = ["never" if pd.isna(n) else f"every {int(n)}" for n in first["every_n"]]
    place_labels(ax, list(first["snapshots_written"]), list(first["events_to_replay_total"]),
                 labels)
    return ax


def simulate_policies(heads: Iterable[int] | pd.Series,
                      every_n: Iterable[int | None] = (None, 10, 50, 100, 500),
                      keep_n: Iterable[int] = (1, 2, 3, 5)) -> pd.DataFrame:
    """What-if for snapshot policies, from journal lengths only.

    For each ``every_n`` (snapshot every N events; ``None``/0 = never) and ``keep_n``
    (snapshots kept per stream; ``<= 0`` keeps all), over streams of lengths ``heads``:
    ``snapshots_written`` (total saves), ``snapshots_kept`` (rows left), ``pruned``,
    ``events_to_replay_mean``/``_max``/``_total`` (events after the latest snapshot) and
    ``fallback_depth`` (events to replay from the OLDEST kept snapshot, i.e. if the
    newer ones were unusable).
    """
    lengths = [int(h) for h in heads]
    every = list(every_n)
    keeps = list(keep_n)
    for n in every:
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
            raise ValueError(f"every_n values must be None or non-negative ints, got {n!r}")
    for k in keeps:
        if isinstance(k, bool) or not isinstance(k, int):
            raise ValueError(f"keep_n values must be ints, got {k!r}")
    rows = []
    for n in every:
        for k in keeps:
            written = kept = 0
            replay: list[int] = []
            fallback: list[int] = []
            for head in lengths:
                count = head // n if n else 0
                keep = count if k <= 0 else min(k, count)
                written += count
                kept += keep
                latest = count * n if n else 0
                replay.append(head - latest)
                oldest = (count - keep + 1) * n if (n and keep) else 0
                fallback.append(head - oldest if keep else head)
            rows.append({  # the policy first, then what it costs on recovery and on disk
                "every_n": n if n else None,
                "keep_n": k,
                "events_to_replay_total": sum(replay),
                "events_to_replay_mean": (sum(replay) / len(replay)) if replay else 0.0,
                "events_to_replay_max": max(replay, default=0),
                "snapshots_written": written,
                "snapshots_kept": kept,
                "pruned": written - kept,
                "fallback_depth_max": max(fallback, default=0),
            })
    frame = pd.DataFrame(rows)
    frame["every_n"] = frame["every_n"].astype("Int64")
    return frame
