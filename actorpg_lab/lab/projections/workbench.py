"""``wb.projections``: the projections of the workbench's journal, seen from outside --
no runner of its own, only the checkpoint table (any process's runners write it).

``projections_frame()`` (one row per projection version), ``plot_projection_lag()``,
``watch_projections()`` (the live widget) and ``replay_failed_event()`` (the stream
replayer opened at the event a projection failed on).  The workbench has the first
three under the same names too (``wb.projections_frame()``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from ..._validation import check_table_name
from ...projections import ProjectionStatus
from .charts import plot_projection_lag
from .frame import statuses_frame
from .watch import ProjectionsWatch

if TYPE_CHECKING:
    from ...projections._checkpoint import CheckpointStore
    from .._workbench import Workbench
    from ..replay.replayer import Replayer

__all__ = ["DEFAULT_CHECKPOINTS_TABLE", "Projections"]

#: The runners' default ``checkpoints_table``.
DEFAULT_CHECKPOINTS_TABLE = "projection_checkpoints"


class Projections:
    """The projection verbs of one :class:`~actorpg_lab.lab.Workbench` (``wb.projections``).

    :ivar checkpoints_table: the table read (the runners' ``checkpoints_table``).
    :ivar stall_after_s: events waiting and no commit for this long count as ``stalled``
        (the runners' ``stall_after_s``; the workbench cannot know theirs).
    """

    def __init__(self, wb: Workbench, checkpoints_table: str = DEFAULT_CHECKPOINTS_TABLE,
                 stall_after_s: float = 30.0) -> None:
        self._wb = wb
        self.checkpoints_table = check_table_name("checkpoints_table", checkpoints_table)
        self.stall_after_s = stall_after_s
        self._stores: dict[str, CheckpointStore] = {}
        self._watches: list[ProjectionsWatch] = []

    def __repr__(self) -> str:
        return f"<Projections {self.checkpoints_table!r} of {self._wb!r}>"

    # -- reading ------------------------------------------------------------------------
    async def _store(self, table: str) -> CheckpointStore | None:
        if table not in self._stores:
            from ...postgres._database import translate

            try:
                async with self._wb.pool.connection() as conn:
                    cur = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
                    row = await cur.fetchone()
            except Exception as exc:
                raise translate(exc, f"find the checkpoint table {table!r}") from exc
            if not row or not row[0]:
                return None  # no runner has created it yet: no projections
            from ...projections._postgres_store import PostgresCheckpointStore

            self._stores[table] = PostgresCheckpointStore(self._wb.journal, table,
                                                          auto_create_tables=False)
        return self._stores[table]

    async def _statuses_async(self, checkpoints_table: str | None = None
                             ) -> list[ProjectionStatus]:
        from ...projections._health import read_statuses

        table = check_table_name("checkpoints_table", checkpoints_table or self.checkpoints_table)
        store = await self._store(table)
        if store is None:
            return []
        return await read_statuses(self._wb.journal, store, stall_after_s=self.stall_after_s)

    def statuses(self, checkpoints_table: str | None = None) -> list[ProjectionStatus]:
        """The :class:`~actorpg_lab.projections.ProjectionStatus` of every projection
        version in the checkpoint table (empty when there is no table yet)."""
        return self._wb.run(self._statuses_async(checkpoints_table))

    def projections_frame(self, checkpoints_table: str | None = None) -> pd.DataFrame:
        """One row per projection version: ``name``, ``version``, ``state`` (see
        :data:`actorpg_lab.projections.STATES`), ``position`` (the checkpoint),
        ``handled``, ``lag_events`` (capped: ``lag_capped``), ``lag_seconds`` (age of the
        oldest waiting event), ``owner``, ``heartbeat_age_s``, ``commit_age_s``,
        ``failed_event`` (``(persistence_id, sequence_nr)`` or None) and ``error``,
        ``held_back_pid`` / ``held_back_age_s`` (the open transaction holding the horizon
        back, when ``held_back``), ``rebuild_progress`` (0..1 while rebuilding) and
        ``updated_at``.

        >>> wb.projections_frame()
        """
        return statuses_frame(self.statuses(checkpoints_table))

    def plot_projection_lag(self, ax: Any = None, *, checkpoints_table: str | None = None,
                            interactive: bool = False) -> Any:
        """Events waiting per projection version, labelled with state and lag in
        seconds (matplotlib Axes); ``interactive=True``: the Plotly version
        (``wb.charts.projection_lag()``: hover a bar for its row; a failed projection's
        bar opens the stream of its failed event in the explorer).

        >>> wb.plot_projection_lag()
        """
        if interactive:
            if ax is not None or checkpoints_table is not None:
                raise ValueError("interactive=True draws wb.charts.projection_lag() of the "
                                 "default checkpoint table, on no given axes")
            return self._wb.charts.projection_lag()
        return plot_projection_lag(self.projections_frame(checkpoints_table), ax)

    def watch_projections(self, every: float = 2.0, *, checkpoints_table: str | None = None
                          ) -> ProjectionsWatch:
        """A live status widget (display it): the projections table, re-read every
        ``every`` seconds and redrawn in place until ``.stop()`` or the workbench closes."""
        table = checkpoints_table or self.checkpoints_table

        async def read() -> list[ProjectionStatus]:
            return await self._statuses_async(table)

        first = self.statuses(table)  # a dead server raises here; later, the widget says so
        watch = ProjectionsWatch(read, self._wb._loop.loop, every=every, first=first)
        self._watches.append(watch)
        return watch.start()

    # -- the failed event -----------------------------------------------------------------
    def replay_failed_event(self, behaviour: Any, name: str, *, version: int | None = None,
                            checkpoints_table: str | None = None) -> Replayer:
        """The stream replayer (:meth:`~actorpg_lab.lab.Workbench.replay`) of the stream
        whose event projection ``name`` failed on, opened at that event (``version``:
        the newest that failed, unless given).  ValueError when it has no failed event."""
        found = [s for s in self.statuses(checkpoints_table) if s.name == name
                 and (version is None or s.version == version)]
        if not found:
            raise ValueError(f"no projection {name!r}"
                             f"{'' if version is None else f' v{version}'} in "
                             f"{checkpoints_table or self.checkpoints_table!r}")
        failed = [s for s in found if s.failed_event is not None]
        if not failed:
            states = ", ".join(f"v{s.version} {s.state}" for s in found)
            raise ValueError(f"projection {name!r} has no failed event ({states})")
        pid, seq = max(failed, key=lambda s: s.version).failed_event  # type: ignore[misc]
        replayer = self._wb.replay(behaviour, pid, snapshot="none")
        replayer.seek(min(seq, replayer.last_position))
        return replayer

    # -- lifecycle --------------------------------------------------------------------------
    async def _aclose(self) -> None:
        """Stop the watches and close the checkpoint stores (the workbench closes)."""
        for watch in self._watches:
            watch.stop()
        self._watches.clear()
        for store in self._stores.values():
            await store.close()
        self._stores.clear()
