"""The synchronous notebook workbench: :class:`Workbench` (made by :func:`._connect.connect`).

A :class:`Workbench` holds

* the async stores (journal, snapshot store, durable-state store) on one shared
  pool, driven from a private event loop in a background thread — so every method
  is a plain synchronous call, even inside Jupyter whose own loop is already
  running (no ``nest_asyncio``).  :meth:`Workbench.run` runs any coroutine there,
  e.g. ``wb.run(wb.journal.append(...))``;
* a columnar reader (ADBC) for the DataFrame loaders.  Loading only needs SELECT.
"""

from __future__ import annotations

import asyncio
import atexit
import html
import logging
import os
import weakref
from collections.abc import Coroutine, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import pandas as pd

from .._codec import JsonCodec
from .._dsn import redact_dsn, with_connect_timeout
from .._embedded import EmbeddedPostgres
from .._errors import PersistenceError
from .._tag_filter import TagFilter
from .._validation import check_table_name
from .db.errors import connection_failed, is_driver_error, with_target
from .db.loop import LoopThread
from .db.session import timeout_params
from .frames.filter import EventFilter, TimeLike
from .frames.loader import DEFAULT_MAX_LOAD_BYTES, DEFAULT_MAX_LOAD_ROWS, FrameLoader, Tables
from .frames.payloads import PayloadErrors
from .history.conflicts import ConflictRecorder
from .history.pruning import (
    PruningRecorder,
    plot_recovery_cost,
    plot_what_if,
    recovery_cost,
    simulate_policies,
)
from .notebook.display import Table, show
from .notebook.tracebacks import hide_from_tracebacks
from .replay.behaviour import resolve_behaviour
from .replay.replayer import Replayer, SnapshotChoice

__all__ = ["Workbench"]

_log = logging.getLogger("actorpg_lab.lab")

hide_from_tracebacks(__name__)  # wb.run is plumbing in a short traceback

T = TypeVar("T")

class Workbench:
    """DataFrames, step-by-step replay and write/snapshot recorders over one database.

    Use :func:`connect` to make one; close it with :meth:`close` (or ``with``).
    Attributes ``journal``, ``snapshot_store`` and ``durable_state_store`` are the
    async Postgres stores (run their coroutines with :meth:`run`).
    """

    def __init__(self, url: str, *, events_table: str = "events", tags_table: str | None = None,
                 snapshots_table: str = "snapshots", durable_state_table: str = "durable_state",
                 keep_n: int = 3, embedded: EmbeddedPostgres | None = None,
                 pool_max_size: int = 8,
                 connect_timeout: float | None = None,
                 max_load_rows: int | None = DEFAULT_MAX_LOAD_ROWS,
                 max_load_bytes: int | None = DEFAULT_MAX_LOAD_BYTES) -> None:
        if not isinstance(url, str) or not url:
            raise TypeError(f"url must be a non-empty str, got {url!r}")
        tags = tags_table if tags_table is not None else f"{events_table}_tags"
        self.tables = Tables(
            events=check_table_name("events_table", events_table),
            tags=check_table_name("tags_table", tags),
            meta=check_table_name("meta table", f"{events_table}_meta"),
            snapshots=check_table_name("snapshots_table", snapshots_table),
            durable_state=check_table_name("durable_state_table", durable_state_table),
        )
        self.url = url
        self.embedded = embedded
        self.frames = FrameLoader(url, self.tables, connect_timeout=connect_timeout,
                                  max_load_rows=max_load_rows, max_load_bytes=max_load_bytes)
        self._loop = LoopThread()
        self._closed = False
        try:
            # Read-only roles cannot run CREATE TABLE IF NOT EXISTS even for existing tables,
            # so the stores only create what is missing.
            present = all(self.frames.table_exists(t) for t in (
                self.tables.events, self.tables.tags, self.tables.meta,
                self.tables.snapshots, self.tables.durable_state))
            self._pool: Any = self._loop.run(_open_pool(url, pool_max_size,
                                                        timeout_params(connect_timeout)))
        except BaseException:
            self.frames.close()
            self._loop.stop()
            raise
        from ..postgres import PostgresDurableStateStore, PostgresJournal, PostgresSnapshotStore

        create = not present
        self.journal = PostgresJournal(pool=self._pool, events_table=self.tables.events,
                                       tags_table=self.tables.tags, auto_create_tables=create)
        self.snapshot_store = PostgresSnapshotStore(pool=self._pool,
                                                    snapshots_table=self.tables.snapshots,
                                                    keep_n=keep_n, auto_create_tables=create)
        self.durable_state_store = PostgresDurableStateStore(
            pool=self._pool, table=self.tables.durable_state, auto_create_tables=create)
        _OPEN.add(self)

    # -- lifecycle ----------------------------------------------------------------------
    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None, *,
            writer: str | None = None) -> T:
        """Run a coroutine (e.g. a store call) on the workbench loop and return its result.

        :param writer: name the task (write recorders and conflict charts show a writer
            by its task name, e.g. ``"alice"`` instead of ``"Task-12"``)."""
        if writer is not None:
            if not isinstance(writer, str) or not writer.strip() or "/" in writer:
                coro.close()
                raise ValueError(f"writer must be a non-empty name without '/', got {writer!r}")
            coro = _as_writer(writer, coro)
        try:
            return self._loop.run(coro, timeout)
        except PersistenceError as exc:
            failure = with_target(exc, self.url)
            if failure is exc:
                raise
            raise failure from exc.__cause__

    @property
    def pool(self) -> Any:
        """The shared :class:`psycopg_pool.AsyncConnectionPool` of the stores (use it from
        coroutines passed to :meth:`run`)."""
        return self._pool

    def close(self) -> None:
        """Close the stores, the pool and the reader and stop the loop (idempotent).
        The embedded server keeps running (it is reused by the next :func:`connect`)."""
        if self._closed:
            return
        self._closed = True
        _OPEN.discard(self)
        try:
            self._loop.run(self._aclose(), timeout=30)
        finally:
            self.frames.close()
            self._loop.stop()

    async def _aclose(self) -> None:
        for store in (self.journal, self.snapshot_store, self.durable_state_store):
            await store.close()
        await self._pool.close()

    def __enter__(self) -> Workbench:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- frames -------------------------------------------------------------------------
    def journal_frame(self, *, persistence_ids: str | Iterable[str] | None = None,
                      tags: str | TagFilter | None = None, from_seq: int | None = None,
                      to_seq: int | None = None, since: TimeLike | None = None,
                      until: TimeLike | None = None, limit: int | None = None,
                      expand: bool = False, progress: bool | None = None,
                      errors: PayloadErrors = "raise",
                      allow_large: bool = False) -> pd.DataFrame:
        """Events as a DataFrame, in (persistence_id, sequence_nr) order.

        Columns: ``persistence_id`` (categorical), ``sequence_nr``, ``position``
        (``int64``: the event's commit-ordered position, ``PersistentEvent.position``;
        ``0`` for events stored before positions existed, and for every event of a
        journal table without the ``position`` column, i.e. not yet migrated),
        ``timestamp`` (``datetime64[ms, UTC]``), ``tags`` (list of str), ``payload``
        (raw JSON text) —
        or, with ``expand=True``, the payload fields as columns (``event_type`` for
        codec-encoded dataclasses, nested objects as ``a.b``).  A payload that is not
        JSON stops an expanded load with a :class:`~actorpg_lab.JournalIntegrityError`
        naming its persistence id and sequence number; ``errors="mark"`` loads the rest
        and adds a ``payload_error`` column instead.

        Filters (all optional, combined with AND): ``persistence_ids`` (one or many),
        ``tags`` (a tag or a :class:`~actorpg_lab.TagFilter`), ``from_seq``/``to_seq``
        (inclusive), ``since`` (inclusive)/``until`` (exclusive) as epoch ms, datetime or
        ISO string, and ``limit``.  Every load is one streamed query (two halves at once
        when large); it shows a progress bar when the planner estimates it above 100k
        rows (``progress=True``: always, ``False``: never), corrected to the real count.
        A load the planner estimates above the workbench's caps (5M rows / 2 GiB by
        default) is refused unless ``allow_large=True``.
        """
        where = EventFilter.parse(persistence_ids=persistence_ids, from_seq=from_seq,
                                  to_seq=to_seq, since=since, until=until, tags=tags)
        return self.frames.journal(where, limit=limit, expand=expand, progress=progress,
                                   errors=errors, allow_large=allow_large)

    def tag_frame(self, tag_filter: str | TagFilter, *,
                  persistence_ids: str | Iterable[str] | None = None,
                  from_seq: int | None = None, to_seq: int | None = None,
                  since: TimeLike | None = None, until: TimeLike | None = None,
                  limit: int | None = None, expand: bool = False,
                  progress: bool | None = None, errors: PayloadErrors = "raise",
                  allow_large: bool = False) -> pd.DataFrame:
        """Events matching a tag or :class:`~actorpg_lab.TagFilter`, in (timestamp,
        persistence_id, sequence_nr) order; same columns (``position`` included), filters
        and options as :meth:`journal_frame`.  ``TagFilter()`` loads every event,
        ``TagFilter(not_=[...])`` every event without those tags, ``TagFilter(any=[])``
        nothing."""
        where = EventFilter.parse(persistence_ids=persistence_ids, from_seq=from_seq,
                                  to_seq=to_seq, since=since, until=until)
        return self.frames.tagged(tag_filter, where, limit=limit, expand=expand,
                                  progress=progress, errors=errors, allow_large=allow_large)

    def snapshots_frame(self, *, persistence_ids: str | Iterable[str] | None = None,
                        from_seq: int | None = None, to_seq: int | None = None,
                        since: TimeLike | None = None, until: TimeLike | None = None,
                        limit: int | None = None, expand: bool = False,
                        errors: PayloadErrors = "raise",
                        allow_large: bool = False) -> pd.DataFrame:
        """Stored snapshots: persistence_id, sequence_nr, timestamp, payload (or expanded)."""
        where = EventFilter.parse(persistence_ids=persistence_ids, from_seq=from_seq,
                                  to_seq=to_seq, since=since, until=until)
        return self.frames.snapshots(where, limit=limit, expand=expand, errors=errors,
                                     allow_large=allow_large)

    def durable_state_frame(self, *, persistence_ids: str | Iterable[str] | None = None,
                            since: TimeLike | None = None, until: TimeLike | None = None,
                            limit: int | None = None, expand: bool = False,
                            errors: PayloadErrors = "raise",
                            allow_large: bool = False) -> pd.DataFrame:
        """Durable-state records: persistence_id, revision, timestamp, payload (or expanded)."""
        where = EventFilter.parse(persistence_ids=persistence_ids, since=since, until=until)
        return self.frames.durable_state(where, limit=limit, expand=expand, errors=errors,
                                         allow_large=allow_large)

    def streams_frame(self, *, persistence_ids: str | Iterable[str] | None = None,
                      stats: bool = False, health: bool | None = None) -> pd.DataFrame:
        """One row per stream: ``events``, ``first_seq``, ``head`` (highest sequence
        number ever written), ``deleted_to``, ``snapshots``, ``latest_snapshot_seq``,
        ``events_to_replay`` (what recovery folds after the latest snapshot),
        ``last_write`` (UTC) and ``event_types``.

        **Cost.** By default the overview costs O(streams), not O(events), so it stays
        instant on a journal of 100M events: the streams come from a loose index scan of
        the primary key, and per stream a few index probes read the first and the last
        event (``head``, ``last_write`` = the head event's time), the deletion mark and
        the snapshots.  ``events`` is then ``head - first_seq + 1`` and
        ``events_to_replay`` ``head - max(latest_snapshot_seq, first_seq - 1)``: exact
        for every stream the journal wrote (1-based, contiguous, deletes remove a
        prefix); a stream that lost a row in the middle is what ``health=True`` reports.
        ``event_types`` is ``None``: it needs every payload.

        ``stats=True`` reads every event instead (O(events); seconds per million):
        ``events`` counts the stored rows and ``event_types`` lists the payloads' types.
        Computed on request rather than kept in a per-stream table because keeping it
        would add a write to every append — a cost on the happy path for a figure only
        the overview needs.

        ``health`` (default: the value of ``stats``) adds the structure checks of
        :meth:`check_streams`: ``ok``, ``problem``, ``problem_seq`` and
        ``problem_message`` (one more scan of the journal)."""
        if health is None:
            health = stats
        frame = self.frames.streams(persistence_ids=persistence_ids, stats=stats)
        if not health:
            return frame
        checked = self.check_streams(persistence_ids=persistence_ids).rename(
            columns={"sequence_nr": "problem_seq", "message": "problem_message"})
        checked["persistence_id"] = checked["persistence_id"].astype(object)
        frame = frame.assign(persistence_id=frame["persistence_id"].astype(object)).merge(
            checked, on="persistence_id", how="left")
        frame["ok"] = frame["ok"].fillna(True).astype(bool)
        frame["problem"] = frame["problem"].astype(object).where(frame["problem"].notna(), None)
        frame["problem_message"] = frame["problem_message"].fillna("").astype(object)
        frame["persistence_id"] = frame["persistence_id"].astype("category")
        return frame

    # -- diagnosis ----------------------------------------------------------------------
    def check_streams(self, behaviour: Any = None,
                      persistence_ids: str | Iterable[str] | None = None, *,
                      only_problems: bool = False) -> pd.DataFrame:
        """Find the streams whose recovery would fail: one row per stream with
        ``persistence_id``, ``ok``, ``problem`` (``None``, ``"gap"``,
        ``"snapshot_ahead"``, ``"undecodable"`` or ``"on_event_failed"``),
        ``sequence_nr`` (where the first problem is) and ``message``.

        Without ``behaviour`` the structure is checked in SQL at the speed of a scan: a
        missing event above the compaction mark, a deleted prefix no snapshot covers, a
        latest snapshot beyond the journal head, payloads the current code cannot decode
        (one sample per envelope type/version, plus any payload that is not JSON).  With
        ``behaviour`` (an actor class or instance, or ``(on_event, initial_state)``, as
        for :meth:`replay`) every stream is also folded like recovery (latest snapshot,
        then the events after it), which finds ``on_event_failed`` and decodes every
        event.  ``only_problems=True`` keeps the broken streams only.

        >>> wb.check_streams(Account, only_problems=True)
        >>> wb.replay(Account, "account-07")   # opens at its first problem
        """
        from .diagnose.streams import check_streams_frame, fold_checker

        fold = None
        if behaviour is not None:
            resolve_behaviour(behaviour, "check-streams")  # bad behaviours fail up front

            def make(pid: str) -> tuple[Any, Any]:
                on_event, initial, _label = resolve_behaviour(behaviour, pid)
                return on_event, initial

            fold = fold_checker(self.run, self.journal, self.snapshot_store, make)
        frame = check_streams_frame(self.frames, persistence_ids,
                                    codec=getattr(self.journal, "codec", None), fold=fold)
        if only_problems:
            frame = frame[~frame["ok"]].reset_index(drop=True)
        return frame

    # -- persisted write history ----------------------------------------------------------
    def conflicts_frame(self, persistence_ids: str | Iterable[str] | None = None
                        ) -> pd.DataFrame:
        """The rejected writes the stores recorded with ``log_conflicts=True`` — in any
        process (``<events>_conflicts`` and ``<durable_state>_conflicts``): ``store``
        (``journal``/``durable_state``), ``persistence_id``, ``expected``, ``actual``,
        ``writer`` (``<host>:<pid>`` or the store's ``writer=``) and ``timestamp`` (UTC),
        oldest first.  Empty when no store logged any.  Draw it with
        :meth:`plot_conflicts`."""
        from .history.stored import load_conflicts

        return load_conflicts(self.frames, [
            ("journal", f"{self.tables.events}_conflicts"),
            ("durable_state", f"{self.tables.durable_state}_conflicts"),
        ], persistence_ids)

    def pruned_frame(self, persistence_ids: str | Iterable[str] | None = None) -> pd.DataFrame:
        """The snapshots the snapshot store pruned with ``log_pruning=True`` — in any
        process (``<snapshots>_pruned``): ``persistence_id``, ``sequence_nr``,
        ``saved_at``, ``pruned_at`` (UTC), ``lifetime`` and ``writer``.  Draw it with
        :meth:`plot_pruning`."""
        from .history.stored import load_pruned

        return load_pruned(self.frames, f"{self.tables.snapshots}_pruned", persistence_ids)

    def plot_conflicts(self, persistence_id: str | None = None, ax: Any = None) -> Any:
        """:func:`~actorpg_lab.lab.plot_conflict_timeline` of :meth:`conflicts_frame`."""
        from .history.stored import plot_conflict_timeline

        return plot_conflict_timeline(self.conflicts_frame(), ax, persistence_id=persistence_id)

    def plot_pruning(self, persistence_id: str | None = None, ax: Any = None) -> Any:
        """:func:`~actorpg_lab.lab.plot_pruning_history` of :meth:`pruned_frame`."""
        from .history.stored import plot_pruning_history

        return plot_pruning_history(self.pruned_frame(), ax, persistence_id=persistence_id)

    # -- beyond one machine: streaming, Parquet, Dask ---------------------------------------
    def iter_journal(self, *, batch_rows: int = 100_000,
                     persistence_ids: str | Iterable[str] | None = None,
                     tags: str | TagFilter | None = None, from_seq: int | None = None,
                     to_seq: int | None = None, since: TimeLike | None = None,
                     until: TimeLike | None = None) -> Iterator[pd.DataFrame]:
        """The journal as DataFrames of at most ``batch_rows`` events each, in
        (persistence_id, sequence_nr) order, at constant memory (one streamed query on a
        connection of its own; memory is bounded by one batch, not by the journal).
        Same columns, dtypes and filters as :meth:`journal_frame`::

            for batch in wb.iter_journal(batch_rows=200_000, since="2026-01-01"):
                totals = totals.add(batch.groupby("persistence_id").size(), fill_value=0)
        """
        from .frames.iteration import check_batch_rows, iter_journal

        rows = check_batch_rows(batch_rows)
        where = EventFilter.parse(persistence_ids=persistence_ids, from_seq=from_seq,
                                  to_seq=to_seq, since=since, until=until, tags=tags)
        return iter_journal(self.url, self.tables.events, where, rows,
                            connect_timeout=self.frames.session.connect_timeout)

    def export_parquet(self, path: str | os.PathLike[str], *,
                       persistence_ids: str | Iterable[str] | None = None,
                       since: TimeLike | None = None, until: TimeLike | None = None,
                       overwrite: bool = False, buckets: int = 16) -> list[Path]:
        """Write the journal (or the events of ``persistence_ids`` / ``[since, until)``)
        as a Hive-partitioned Parquet dataset under ``path`` and return the files
        written.  Readable as-is by pyarrow, pandas, DuckDB, Polars, Spark and Dask.

        * Partitioned by a hash of the persistence id (``pid_bucket=0..buckets-1``, see
          :func:`actorpg_lab.lab.pid_bucket`): a stream lives in one bucket, in sequence
          order; ids never become paths.
        * Same columns and dtypes as :meth:`journal_frame` (plus ``pid_bucket``).
        * Streamed: each bucket is one index-ordered query written a row group at a time
          (memory bounded by a few 4 MiB row groups, not by the journal; two buckets at
          once over two connections; zstd-compressed).
        * ``path`` that already holds files: refused (``FileExistsError``) unless
          ``overwrite=True``, which replaces the whole dataset only once the new one is
          complete (a failed export leaves the old one in place).
        """
        from .frames.parquet import export_parquet

        where = EventFilter.parse(persistence_ids=persistence_ids, since=since, until=until)
        return export_parquet(self.url, self.tables.events, path, where, overwrite=overwrite,
                              buckets=buckets,
                              connect_timeout=self.frames.session.connect_timeout,
                              session=self.frames.session)

    def journal_dask(self, *, npartitions: int | None = None,
                     persistence_ids: str | Iterable[str] | None = None,
                     since: TimeLike | None = None, until: TimeLike | None = None) -> Any:
        """The journal as a lazy ``dask.dataframe.DataFrame`` (needs the ``[scale]``
        extra).  Each partition is a persistence_id key range (balanced by event counts;
        ``npartitions=None``: about one per million events), loaded by the worker that
        computes it straight from PostgreSQL with the SELECT of :meth:`journal_frame`
        (same filters; ``meta`` and dtypes identical).  Works with the threaded,
        process and ``dask.distributed`` schedulers; the connection settings the
        workers receive show the password as ``***`` in every repr and log::

            ddf = wb.journal_dask(since="2026-01-01")
            ddf.groupby("persistence_id", observed=True).size().compute()
        """
        from .frames.to_dask import journal_dask

        where = EventFilter.parse(persistence_ids=persistence_ids, since=since, until=until)
        return journal_dask(self.url, self.tables.events, where, npartitions,
                            connect_timeout=self.frames.session.connect_timeout)

    # -- schema evolution ---------------------------------------------------------------
    @property
    def codec(self) -> JsonCodec:
        """The codec the journal decodes with (``actorpg_lab.default_codec`` unless set)."""
        codec: JsonCodec = self.journal.codec
        return codec

    def event_types_frame(self, persistence_ids: str | Iterable[str] | None = None, *,
                          codec: JsonCodec | None = None) -> pd.DataFrame:
        """The event types in the journal: one row per type, version and set of field
        names with ``event_type``, ``version``, ``events``, ``streams``, ``first_seen``,
        ``last_seen``, ``fields`` (sorted tuple), ``undecodable`` (events the current
        code cannot decode), ``registration`` (``"registered"``, ``"alias"``,
        ``"implicit"`` -- an unregistered dataclass stored under its module path --,
        ``"unregistered"``), ``current_version`` and ``error`` (why a sample does not
        decode).  Computed in SQL over the JSON text; see
        :mod:`actorpg_lab.lab.diagnose.event_types`.  ``codec`` checks another codec (e.g. the
        upcasters about to be deployed) instead of :attr:`codec`.

        >>> wb.event_types_frame().query("undecodable > 0")
        """
        from .diagnose.event_types import event_types_frame

        return event_types_frame(self.frames, codec or self.codec, persistence_ids)

    def decode_check(self, persistence_ids: str | Iterable[str] | None = None, *,
                     codec: JsonCodec | None = None) -> pd.DataFrame:
        """Every event that does not decode with the current code (or ``codec``):
        ``persistence_id``, ``sequence_nr``, ``event_type``, ``version``, ``error``;
        empty when all decode.  Decodes every event: the list to fix upcasters against.

        >>> wb.decode_check()            # after changing a class: what no longer reads
        """
        from .diagnose.event_types import decode_check_frame

        return decode_check_frame(self.frames, codec or self.codec, persistence_ids)

    def compare_replays(self, before: Any, after: Any,
                        persistence_ids: str | Iterable[str] | None = None, *,
                        before_codec: JsonCodec | None = None,
                        after_codec: JsonCodec | None = None) -> pd.DataFrame:
        """Replay every selected stream from scratch with two behaviours (what
        :meth:`replay` accepts: the old and the new actor, or ``(on_event, initial)``)
        and, optionally, two codecs (old and new upcasters; default :attr:`codec`).

        One row per stream: ``persistence_id``, ``events``, ``diverged_at`` (first
        sequence number where the states differ or only one side fails, ``<NA>`` if
        none), ``before_state``, ``after_state``, ``diff`` (``None`` when the final
        states are equal), ``before_error``, ``after_error``.  "What will my fix change?"

        >>> wb.compare_replays(BuggyAccount, FixedAccount).dropna(subset=["diverged_at"])
        """
        from .diagnose.compare import Side, compare_replays_frame

        sides = []
        for name, behaviour, codec in (("before", before, before_codec),
                                       ("after", after, after_codec)):
            resolve_behaviour(behaviour, f"compare-replays-{name}")  # fail up front
            if codec is not None and not isinstance(codec, JsonCodec):
                raise TypeError(f"{name}_codec must be a JsonCodec or None, got {codec!r}")

            def make(pid: str, behaviour: Any = behaviour) -> tuple[Any, Any]:
                on_event, initial, _label = resolve_behaviour(behaviour, pid)
                return on_event, initial

            sides.append(Side(make, codec or self.codec))
        return compare_replays_frame(self.frames, sides[0], sides[1], persistence_ids)

    # -- replay -------------------------------------------------------------------------
    def replay(self, behaviour: Any, persistence_id: str, *,
               snapshot: SnapshotChoice = "latest", to_seq: int | None = None) -> Replayer:
        """Replay ``persistence_id`` step by step (see :class:`Replayer`).

        :param behaviour: an actor class or instance (``initial_state()``,
            ``on_event(state, event)``), or a pair ``(on_event, initial_state)``.
        :param snapshot: ``"latest"`` (like recovery), ``"none"`` (from the initial
            state) or a sequence number (the newest snapshot at or below it).
        :param to_seq: stop there (default: the head).
        """
        from .replay.versions import stored_versions

        on_event, initial, _label = resolve_behaviour(behaviour, persistence_id)
        return Replayer(self.run, self.journal, self.snapshot_store, persistence_id, on_event,
                        initial, snapshot=snapshot, to_seq=to_seq,
                        stored_heads=lambda pid: stored_versions(self.frames, pid))

    # -- recorders and what-ifs ---------------------------------------------------------
    def record_conflicts(self, persistence_ids: str | Iterable[str] | None = None,
                         stores: str | Iterable[str] | None = None) -> ConflictRecorder:
        """A :class:`ConflictRecorder` (use it as ``with wb.record_conflicts() as rec:``)."""
        return ConflictRecorder(persistence_ids, stores)

    def record_snapshots(self, persistence_ids: str | Iterable[str] | None = None
                         ) -> PruningRecorder:
        """A :class:`PruningRecorder` (use it as ``with wb.record_snapshots() as rec:``)."""
        return PruningRecorder(persistence_ids)

    def recovery_cost(self, persistence_ids: str | Iterable[str] | None = None) -> pd.DataFrame:
        """Per stream: journal length, latest snapshot, events replayed on recovery."""
        return recovery_cost(self.streams_frame(persistence_ids=persistence_ids))

    def plot_recovery_cost(self, ax: Any = None) -> Any:
        """Scatter of journal length vs events replayed on recovery (matplotlib Axes)."""
        return plot_recovery_cost(self.streams_frame(), ax)

    def what_if(self, every_n: Iterable[int | None] = (None, 10, 50, 100, 500),
                keep_n: Iterable[int] = (1, 2, 3, 5),
                persistence_ids: str | Iterable[str] | None = None) -> pd.DataFrame:
        """Simulate other snapshot policies on the current journal lengths
        (see :func:`simulate_policies`)."""
        heads = self.streams_frame(persistence_ids=persistence_ids)["head"]
        return simulate_policies(heads, every_n, keep_n)

    def plot_what_if(self, every_n: Iterable[int | None] = (None, 10, 50, 100, 500),
                     keep_n: Iterable[int] = (1, 2, 3, 5),
                     persistence_ids: str | Iterable[str] | None = None, ax: Any = None
                     ) -> Any:
        """:meth:`what_if` as a chart (:func:`~actorpg_lab.lab.plot_what_if`)."""
        return plot_what_if(self.what_if(every_n, keep_n, persistence_ids), ax)

    # -- display ------------------------------------------------------------------------
    @staticmethod
    def show(frame: pd.DataFrame, max_rows: int = 60) -> Table:
        """:func:`~actorpg_lab.lab.show`: ``frame`` formatted for display (the frame
        itself is unchanged)."""
        return show(frame, max_rows)

    def _where(self) -> str:
        if self.embedded is not None:
            return f"embedded PostgreSQL ({self.embedded.pgdata})"
        return str(redact_dsn(self.url))

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (f"<Workbench {state} {self._where()} events={self.tables.events!r} "
                f"snapshots={self.tables.snapshots!r} "
                f"durable_state={self.tables.durable_state!r}>")

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>"
            for k, v in (
                ("database", self._where()),
                ("events", self.tables.events), ("tags", self.tables.tags),
                ("snapshots", self.tables.snapshots),
                ("durable state", self.tables.durable_state),
                ("state", "closed" if self._closed else "open"),
            )
        )
        return f"<div class='actorpg-workbench'><b>actorpg_lab Workbench</b><table>{rows}</table></div>"


#: Workbenches not closed yet; a kernel that exits without close() closes them at exit,
#: while their loops still run (no "Task was destroyed but it is pending" noise).
_OPEN: weakref.WeakSet[Workbench] = weakref.WeakSet()


@atexit.register
def _close_open_workbenches() -> None:
    for wb in list(_OPEN):
        try:
            wb.close()
        except Exception:  # pragma: no cover - best effort at interpreter exit
            _log.debug("closing %r at exit failed", wb, exc_info=True)


async def _as_writer(name: str, coro: Coroutine[Any, Any, T]) -> T:
    task = asyncio.current_task()
    if task is not None:
        task.set_name(name)
    return await coro


async def _open_pool(url: str, max_size: int, timeout: dict[str, Any]) -> Any:
    from psycopg_pool import AsyncConnectionPool, PoolTimeout

    # How long a store call waits for a connection: the pool keeps retrying a server
    # that is down, so a short connect timeout also shortens this wait.
    seconds = timeout.get("connect_timeout")
    wait = 30.0 if seconds is None else max(3.0, 2.0 * seconds)
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url, min_size=1, max_size=max_size,
        kwargs=with_connect_timeout(url, {"autocommit": True, **timeout}),
        open=False, name="actorpg-lab", timeout=wait,
    )
    try:
        await pool.open(wait=True, timeout=15)
    except PoolTimeout as exc:
        await pool.close()
        raise connection_failed(url, exc, hint="no connection within 15 s") from exc
    except Exception as exc:
        await pool.close()
        if is_driver_error(exc):
            raise connection_failed(url, exc) from exc
        raise
    except BaseException:
        await pool.close()
        raise
    return pool
