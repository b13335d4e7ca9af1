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

from .._write_attempts import SnapshotActivity, add_snapshot_listener
from ._recorder import Recorder

__all__ = ["PruningRecorder", "plot_recovery_cost", "recovery_cost", "simulate_policies"]


class PruningRecorder(Recorder[SnapshotActivity]):
    """Collects snapshot saves/prunes while active (a context manager; or start/stop).

    :param persistence_ids: only keep activity on these streams (default: all).
    """

    def __init__(self, persistence_ids: Iterable[str] | None = None) -> None:
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
        """Snapshot lifetimes: one horizontal bar per snapshot (y = its sequence number)
        from its save to its pruning (open-ended while kept), a colour per stream."""
        import matplotlib.pyplot as plt

        life = self.lifetimes()
        if persistence_id is not None:
            life = life[life["persistence_id"] == persistence_id]
        if ax is None:
            _fig, ax = plt.subplots(figsize=(10, 4))
        if life.empty:
            ax.set_title("no snapshot activity recorded")
            return ax
        end = max(life["saved_at"].max(), life["pruned_at"].max(skipna=True)
                  if life["pruned_at"].notna().any() else life["saved_at"].max())
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, (pid, part) in enumerate(life.groupby("persistence_id", observed=True)):
            colour = colours[i % len(colours)]
            stop = part["pruned_at"].fillna(end)
            ax.hlines(part["sequence_nr"], part["saved_at"], stop, colors=colour, linewidth=3,
                      label=str(pid))
            alive = part[part["alive"]]
            ax.scatter(alive["saved_at"], alive["sequence_nr"], color=colour, marker="o", s=20)
            dead = part[~part["alive"]]
            ax.scatter(dead["pruned_at"], dead["sequence_nr"], color=colour, marker="x", s=20)
        ax.set_xlabel("time (UTC)")
        ax.set_ylabel("snapshot sequence_nr")
        ax.set_title("snapshots saved (●) and pruned (✕) by keep_n")
        if life["persistence_id"].nunique() <= 12:
            ax.legend(fontsize=8, loc="upper left")
        return ax

    def __repr__(self) -> str:
        items = self._items()
        pruned = sum(len(a.pruned_seqs) for a in items)
        state = "recording" if self.active else "stopped"
        return f"<PruningRecorder {state}: {len(items)} saves, {pruned} pruned>"

    def _repr_html_(self) -> str:
        summary = self.summary()
        table = summary.head(20).to_html(index=False) if len(summary) else ""
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
    """Scatter: journal length (head) vs events replayed on recovery, one dot per stream;
    the diagonal is "no usable snapshot"."""
    import matplotlib.pyplot as plt

    cost = recovery_cost(streams)
    if ax is None:
        _fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(cost["head"], cost["events_to_replay"], s=24, alpha=0.8)
    top = int(cost["head"].max()) if len(cost) else 1
    ax.plot([0, top], [0, top], linestyle="--", color="grey", linewidth=1,
            label="no snapshot (replay everything)")
    ax.set_xlabel("journal length (head sequence_nr)")
    ax.set_ylabel("events replayed on recovery")
    ax.set_title("recovery cost per stream")
    ax.legend(fontsize=8)
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
