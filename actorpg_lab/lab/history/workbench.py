"""``wb.history``: write and snapshot history -- what the stores logged (conflicts,
pruning, from any process), recorders of this process's writes, recovery cost and
what-if snapshot policies, and their charts.  The workbench keeps every verb under its
old name too (``wb.conflicts_frame()`` is ``wb.history.conflicts_frame()``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Unpack

import pandas as pd

from ..frames.filter import StreamKeywords, filter_signature, parse_where
from .conflicts import ConflictRecorder
from .pruning import (
    PruningRecorder,
    plot_recovery_cost,
    plot_what_if,
    recovery_cost,
    simulate_policies,
)

if TYPE_CHECKING:
    from .._workbench import Workbench

__all__ = ["History"]

#: The snapshot policies :meth:`History.what_if` compares by default.
EVERY_N: tuple[int | None, ...] = (None, 10, 50, 100, 500)
KEEP_N: tuple[int, ...] = (1, 2, 3, 5)


class History:
    """The history verbs of one :class:`~actorpg_lab.lab.Workbench` (``wb.history``)."""

    def __init__(self, wb: Workbench) -> None:
        self._wb = wb

    def __repr__(self) -> str:
        return f"<History of {self._wb!r}>"

    # -- what the stores logged (any process) -------------------------------------------
    @filter_signature(StreamKeywords)
    def conflicts_frame(self, **where: Unpack[StreamKeywords]) -> pd.DataFrame:
        """The rejected writes the stores recorded with ``log_conflicts=True`` — in any
        process (``<events>_conflicts`` and ``<durable_state>_conflicts``): ``store``
        (``journal``/``durable_state``), ``persistence_id``, ``expected``, ``actual``,
        ``writer`` (``<host>:<pid>`` or the store's ``writer=``) and ``timestamp`` (UTC),
        oldest first.  Empty when no store logged any.  Draw it with
        :meth:`plot_conflicts`."""
        from .stored import load_conflicts

        ids = parse_where("conflicts_frame", StreamKeywords, where).persistence_ids
        tables = self._wb.tables
        return load_conflicts(self._wb.frames, [
            ("journal", f"{tables.events}_conflicts"),
            ("durable_state", f"{tables.durable_state}_conflicts"),
        ], ids)

    @filter_signature(StreamKeywords)
    def pruned_frame(self, **where: Unpack[StreamKeywords]) -> pd.DataFrame:
        """The snapshots the snapshot store pruned with ``log_pruning=True`` — in any
        process (``<snapshots>_pruned``): ``persistence_id``, ``sequence_nr``,
        ``saved_at``, ``pruned_at`` (UTC), ``lifetime`` and ``writer``.  Draw it with
        :meth:`plot_pruning`."""
        from .stored import load_pruned

        ids = parse_where("pruned_frame", StreamKeywords, where).persistence_ids
        return load_pruned(self._wb.frames, f"{self._wb.tables.snapshots}_pruned", ids)

    def plot_conflicts(self, persistence_id: str | None = None, ax: Any = None) -> Any:
        """:func:`~actorpg_lab.lab.plot_conflict_timeline` of :meth:`conflicts_frame`."""
        from .stored import plot_conflict_timeline

        return plot_conflict_timeline(self.conflicts_frame(), ax, persistence_id=persistence_id)

    def plot_pruning(self, persistence_id: str | None = None, ax: Any = None) -> Any:
        """:func:`~actorpg_lab.lab.plot_pruning_history` of :meth:`pruned_frame`."""
        from .stored import plot_pruning_history

        return plot_pruning_history(self.pruned_frame(), ax, persistence_id=persistence_id)

    # -- recorders (this process) --------------------------------------------------------
    @filter_signature(StreamKeywords)
    def record_conflicts(self, *, stores: str | Iterable[str] | None = None,
                         **where: Unpack[StreamKeywords]) -> ConflictRecorder:
        """A :class:`~actorpg_lab.lab.ConflictRecorder` (``with wb.record_conflicts() as
        rec:``) of the attempts on ``persistence_ids`` (one id or several; default: all)
        in ``stores`` (``"journal"`` and/or ``"durable_state"``; default: both)."""
        ids = parse_where("record_conflicts", StreamKeywords, where).persistence_ids
        return ConflictRecorder(ids, stores)

    @filter_signature(StreamKeywords)
    def record_snapshots(self, **where: Unpack[StreamKeywords]) -> PruningRecorder:
        """A :class:`~actorpg_lab.lab.PruningRecorder` (``with wb.record_snapshots() as
        rec:``) of the saves on ``persistence_ids`` (one id or several; default: all)."""
        ids = parse_where("record_snapshots", StreamKeywords, where).persistence_ids
        return PruningRecorder(ids)

    # -- recovery cost and what-ifs ------------------------------------------------------
    @filter_signature(StreamKeywords)
    def recovery_cost(self, **where: Unpack[StreamKeywords]) -> pd.DataFrame:
        """Per stream: journal length, latest snapshot, events replayed on recovery."""
        return recovery_cost(self._streams("recovery_cost", where))

    def plot_recovery_cost(self, ax: Any = None) -> Any:
        """Scatter of journal length vs events replayed on recovery (matplotlib Axes)."""
        return plot_recovery_cost(self._wb.streams_frame(), ax)

    @filter_signature(StreamKeywords)
    def what_if(self, every_n: Iterable[int | None] = EVERY_N, keep_n: Iterable[int] = KEEP_N,
                **where: Unpack[StreamKeywords]) -> pd.DataFrame:
        """Simulate other snapshot policies on the current journal lengths
        (see :func:`~actorpg_lab.lab.simulate_policies`)."""
        heads = self._streams("what_if", where)["head"]
        return simulate_policies(heads, every_n, keep_n)

    @filter_signature(StreamKeywords)
    def plot_what_if(self, every_n: Iterable[int | None] = EVERY_N,
                     keep_n: Iterable[int] = KEEP_N, *, ax: Any = None,
                     **where: Unpack[StreamKeywords]) -> Any:
        """:meth:`what_if` as a chart (:func:`~actorpg_lab.lab.plot_what_if`)."""
        return plot_what_if(self.what_if(every_n, keep_n, **where), ax)

    def _streams(self, method: str, where: StreamKeywords) -> pd.DataFrame:
        ids = parse_where(method, StreamKeywords, where).persistence_ids
        return self._wb.streams_frame(persistence_ids=ids)
