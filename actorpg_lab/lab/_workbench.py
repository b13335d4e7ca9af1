"""The synchronous notebook workbench: :class:`Workbench` (made by :func:`._connect.connect`).

A :class:`Workbench` is a small facade over the rooms of :mod:`actorpg_lab.lab`:

* the common verbs are its own methods — the frames (``journal_frame``, ``tag_frame``,
  ``snapshots_frame``, ``durable_state_frame``, ``streams_frame``; :mod:`.frames`),
  ``check_streams``, ``replay`` (:mod:`.replay`), ``explore`` (:mod:`.explore`), ``show``
  and ``run``;
* the rest is grouped behind accessors: ``wb.diagnose`` (:mod:`.diagnose`), ``wb.history``
  (:mod:`.history`), ``wb.projections`` (:mod:`.projections`: checkpoints, lag, a live
  status widget), ``wb.bulk`` (iteration, Parquet, Dask) — each verb also under its old
  name on the workbench (``wb.conflicts_frame()`` is ``wb.history.conflicts_frame()``) —
  and ``wb.charts`` (:mod:`.charts`: interactive Plotly charts);
* every method takes the same filter keywords, declared once (:mod:`.frames.filter`:
  ``persistence_ids`` — one id or several —, ``since``/``until``, ``from_seq``/``to_seq``,
  ``tags``), always as keywords.

It holds the async stores (journal, snapshot store, durable-state store) on one shared
pool, driven from a private event loop in a background thread — so every method is a
plain synchronous call, even inside Jupyter whose own loop is already running (no
``nest_asyncio``); :meth:`Workbench.run` runs any coroutine there, e.g.
``wb.run(wb.journal.append(...))`` — and a columnar reader (ADBC) for the frames, which
only needs SELECT.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from functools import cached_property
from types import TracebackType
from typing import Any, TypeVar, Unpack

import pandas as pd

from .._codec import JsonCodec
from .._dsn import redact_dsn
from .._embedded import EmbeddedPostgres
from .._errors import PersistenceError
from .._tag_filter import TagFilter
from ._verb import Verb
from .charts.kit import WorkbenchCharts
from .db.errors import with_target
from .db.loop import LoopThread, as_writer, close_at_exit, still_open
from .db.pool import open_pool
from .db.session import timeout_params
from .diagnose.workbench import Diagnosis
from .explore import workbench as exploring
from .explore.view import Explorer
from .frames.bulk import Bulk
from .frames.filter import (
    EventKeywords,
    ExploreKeywords,
    RangeKeywords,
    StreamKeywords,
    WindowKeywords,
    filter_signature,
    parse_where,
)
from .frames.loader import DEFAULT_MAX_LOAD_BYTES, DEFAULT_MAX_LOAD_ROWS, FrameLoader, Tables
from .frames.payloads import PayloadErrors
from .frames.trace import trace_frame
from .history.workbench import History
from .notebook.display import Table, fields_html, show
from .notebook.tracebacks import hide_from_tracebacks
from .projections.workbench import Projections
from .replay.behaviour import resolve_behaviour
from .replay.replayer import Replayer, SnapshotChoice

__all__ = ["Workbench"]

_log = logging.getLogger("actorpg_lab.lab")

hide_from_tracebacks(__name__)  # wb.run is plumbing in a short traceback

T = TypeVar("T")


class Workbench:
    """DataFrames, step-by-step replay and write/snapshot recorders over one database
    (see the module docstring for the layout of its verbs).

    Use :func:`connect` to make one; close it with :meth:`close` (or ``with``).
    Attributes ``journal``, ``snapshot_store`` and ``durable_state_store`` are the
    async Postgres stores (run their coroutines with :meth:`run`).
    """

    def __init__(self, url: str, *, events_table: str = "events", tags_table: str | None = None,
                 snapshots_table: str = "snapshots", durable_state_table: str = "durable_state",
                 keep_n: int = 3, embedded: EmbeddedPostgres | None = None,
                 pool_max_size: int = 8, connect_timeout: float | None = None,
                 max_load_rows: int | None = DEFAULT_MAX_LOAD_ROWS,
                 max_load_bytes: int | None = DEFAULT_MAX_LOAD_BYTES) -> None:
        if not isinstance(url, str) or not url:
            raise TypeError(f"url must be a non-empty str, got {url!r}")
        self.tables = Tables.named(events_table=events_table, tags_table=tags_table,
                                   snapshots_table=snapshots_table,
                                   durable_state_table=durable_state_table)
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
            self._pool: Any = self._loop.run(open_pool(url, pool_max_size,
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
        close_at_exit(self)

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
            coro = as_writer(writer, coro)
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
        still_open(self, False)
        try:
            self._loop.run(self._aclose(), timeout=30)
        finally:
            self.frames.close()
            self._loop.stop()

    async def _aclose(self) -> None:
        if "projections" in self.__dict__:  # its watches and checkpoint stores
            await self.projections._aclose()
        for store in (self.journal, self.snapshot_store, self.durable_state_store):
            await store.close()
        await self._pool.close()

    def __enter__(self) -> Workbench:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- accessors ----------------------------------------------------------------------
    @cached_property
    def diagnose(self) -> Diagnosis:
        """Diagnosis: ``check_streams``, ``decode_check``, ``event_types_frame``, ``compare_replays``."""
        return Diagnosis(self)

    @cached_property
    def history(self) -> History:
        """Write and snapshot history: ``conflicts_frame``, ``pruned_frame``, the
        recorders, ``recovery_cost``, ``what_if`` and their charts."""
        return History(self)

    @cached_property
    def projections(self) -> Projections:
        """Projections from their checkpoint table: ``projections_frame``,
        ``plot_projection_lag``, ``watch_projections``, ``replay_failed_event``."""
        return Projections(self)

    @cached_property
    def charts(self) -> WorkbenchCharts:
        """Interactive (Plotly) charts: ``conflicts``, ``pruning``, ``recovery_cost``,
        ``what_if``, ``projection_lag`` (``plot_*`` stay the static matplotlib ones)."""
        return WorkbenchCharts(self)

    @cached_property
    def bulk(self) -> Bulk:
        """Journals bigger than a DataFrame: ``iter_journal``, ``export_parquet``, ``journal_dask``."""
        return Bulk(self)

    # -- frames -------------------------------------------------------------------------
    @filter_signature(EventKeywords)
    def journal_frame(self, *, limit: int | None = None, expand: bool = False,
                      progress: bool | None = None, errors: PayloadErrors = "raise",
                      allow_large: bool = False, **where: Unpack[EventKeywords]) -> pd.DataFrame:
        """Events as a DataFrame, in (persistence_id, sequence_nr) order.

        Columns: ``persistence_id`` (categorical), ``sequence_nr``, ``position``
        (``int64``: the event's commit-ordered position, ``PersistentEvent.position``;
        ``0`` for events stored before positions existed or on a table not migrated),
        ``timestamp`` (``datetime64[ms, UTC]``), ``tags`` (list of str), ``event_type``
        (categorical: the codec's type name as stored; missing for plain JSON),
        ``correlation_id``, ``causation_id`` (the event's metadata; missing without),
        ``payload`` (raw JSON text) — or, with ``expand=True``, the payload fields as
        columns after the ids (``event_type``, nested objects as ``a.b``).  A payload that is not
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
        return self.frames.journal(parse_where("journal_frame", EventKeywords, where),
                                   limit=limit, expand=expand, progress=progress,
                                   errors=errors, allow_large=allow_large)

    def trace(self, correlation_id: str) -> pd.DataFrame:
        """One correlation's events across streams in position order (ids set by ``ask``/
        ``tell`` and ``actorpg_lab.metadata``), with the columns of :meth:`journal_frame`
        (``causation_id``: what caused each event, e.g. the command's id)."""
        return trace_frame(self.frames, correlation_id)

    @filter_signature(RangeKeywords)
    def tag_frame(self, tag_filter: str | TagFilter, *, limit: int | None = None,
                  expand: bool = False, progress: bool | None = None,
                  errors: PayloadErrors = "raise", allow_large: bool = False,
                  **where: Unpack[RangeKeywords]) -> pd.DataFrame:
        """Events matching a tag or :class:`~actorpg_lab.TagFilter`, in (timestamp,
        persistence_id, sequence_nr) order; same columns (``position`` included), filters
        and options as :meth:`journal_frame`.  ``TagFilter()`` loads every event,
        ``TagFilter(not_=[...])`` every event without those tags, ``TagFilter(any=[])``
        nothing."""
        return self.frames.tagged(tag_filter, parse_where("tag_frame", RangeKeywords, where),
                                  limit=limit, expand=expand, progress=progress,
                                  errors=errors, allow_large=allow_large)

    @filter_signature(RangeKeywords)
    def snapshots_frame(self, *, limit: int | None = None, expand: bool = False,
                        errors: PayloadErrors = "raise", allow_large: bool = False,
                        **where: Unpack[RangeKeywords]) -> pd.DataFrame:
        """Stored snapshots: persistence_id, sequence_nr, timestamp, payload (or expanded)."""
        return self.frames.snapshots(parse_where("snapshots_frame", RangeKeywords, where),
                                     limit=limit, expand=expand, errors=errors,
                                     allow_large=allow_large)

    @filter_signature(WindowKeywords)
    def durable_state_frame(self, *, limit: int | None = None, expand: bool = False,
                            errors: PayloadErrors = "raise", allow_large: bool = False,
                            **where: Unpack[WindowKeywords]) -> pd.DataFrame:
        """Durable-state records: persistence_id, revision, timestamp, payload (or expanded)."""
        return self.frames.durable_state(parse_where("durable_state_frame", WindowKeywords,
                                                     where),
                                         limit=limit, expand=expand, errors=errors,
                                         allow_large=allow_large)

    @filter_signature(StreamKeywords)
    def streams_frame(self, *, stats: bool = False, health: bool | None = None,
                      **where: Unpack[StreamKeywords]) -> pd.DataFrame:
        """One row per stream: ``events``, ``first_seq``, ``head`` (highest sequence
        number ever written), ``deleted_to``, ``snapshots``, ``latest_snapshot_seq``,
        ``events_to_replay`` (what recovery folds after the latest snapshot),
        ``last_write`` (UTC) and ``event_types``.

        By default O(streams) (index probes; ``events`` exact for every stream the journal
        wrote); ``stats=True`` reads every event (the cost: :meth:`FrameLoader.streams`).

        ``health`` (default: the value of ``stats``) adds the structure checks of
        :meth:`check_streams`: ``ok``, ``problem``, ``problem_seq`` and
        ``problem_message`` (one more scan of the journal)."""
        persistence_ids = parse_where("streams_frame", StreamKeywords, where).persistence_ids
        frame = self.frames.streams(persistence_ids=persistence_ids, stats=stats)
        if not (stats if health is None else health):
            return frame
        from .diagnose.streams import with_health
        return with_health(frame, self.check_streams(persistence_ids=persistence_ids))

    # -- diagnosis and replay -------------------------------------------------------------
    @filter_signature(StreamKeywords)
    def check_streams(self, behaviour: Any = None, *, only_problems: bool = False,
                      **where: Unpack[StreamKeywords]) -> pd.DataFrame:
        """Find the streams whose recovery would fail (``wb.diagnose.check_streams``:
        one row per stream with ``persistence_id``, ``ok``, ``problem``, ``sequence_nr``,
        ``message``).

        >>> wb.check_streams(Account, only_problems=True)
        """
        return self.diagnose.check_streams(behaviour, only_problems=only_problems, **where)

    @property
    def codec(self) -> JsonCodec:
        """The codec the journal decodes with (``actorpg_lab.default_codec`` unless set)."""
        codec: JsonCodec = self.journal.codec
        return codec

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

    @filter_signature(ExploreKeywords)
    def explore(self, behaviour: Any = None, *, prefix: str | None = None,
                event_type: str | None = None, order: str = "recent", page_size: int = 25,
                problems: bool = True, **where: Unpack[ExploreKeywords]) -> Explorer:
        """An event explorer (:class:`~.explore.view.Explorer`): a paged stream list with
        the problems :meth:`check_streams` finds, filters (id ``prefix``, ``event_type``,
        one tag as ``tags``, ``since``/``until``), a stream's events and *Open in replayer*
        (folding with ``behaviour``, as :meth:`replay`).  Index walks only (:mod:`.explore.model`).

        >>> wb.explore(Account, prefix="account-")
        """
        return exploring.open_explorer(self, behaviour, prefix=prefix, event_type=event_type,
                                       order=order, page_size=page_size, problems=problems,
                                       **where)

    #: The explorer's read model alone, for scripts (``first_page(filter)``, ...).
    stream_browser = exploring.stream_browser

    # -- the other verbs under their old names (on their accessors) ----------------------
    event_types_frame = Verb("diagnose", Diagnosis.event_types_frame)
    decode_check = Verb("diagnose", Diagnosis.decode_check)
    compare_replays = Verb("diagnose", Diagnosis.compare_replays)
    conflicts_frame = Verb("history", History.conflicts_frame)
    pruned_frame = Verb("history", History.pruned_frame)
    plot_conflicts = Verb("history", History.plot_conflicts)
    plot_pruning = Verb("history", History.plot_pruning)
    record_conflicts = Verb("history", History.record_conflicts)
    record_snapshots = Verb("history", History.record_snapshots)
    recovery_cost = Verb("history", History.recovery_cost)
    plot_recovery_cost = Verb("history", History.plot_recovery_cost)
    what_if = Verb("history", History.what_if)
    plot_what_if = Verb("history", History.plot_what_if)
    iter_journal = Verb("bulk", Bulk.iter_journal)
    export_parquet = Verb("bulk", Bulk.export_parquet)
    journal_dask = Verb("bulk", Bulk.journal_dask)
    projections_frame = Verb("projections", Projections.projections_frame)
    plot_projection_lag = Verb("projections", Projections.plot_projection_lag)
    watch_projections = Verb("projections", Projections.watch_projections)

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
        return fields_html("actorpg_lab Workbench", "actorpg-workbench", (
            ("database", self._where()), ("events", self.tables.events),
            ("tags", self.tables.tags), ("snapshots", self.tables.snapshots),
            ("durable state", self.tables.durable_state),
            ("state", "closed" if self._closed else "open")))
