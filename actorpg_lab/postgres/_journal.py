"""The PostgreSQL event journal.

Follow an event: :meth:`PostgresJournal.append` validates and JSON-encodes each
:class:`~actorpg_lab.JournalEntry`, then runs ``sql/journal_append.sql``
(``journal_append_one.sql`` for a single event, ``journal_append_one_untagged.sql``
for a single untagged one) — the head check, the event rows, the tag rows and a
NOTIFY in one statement — and returns the
:class:`~actorpg_lab.PersistentEvent` s it wrote.  Appends that arrive while others
are in flight are coalesced into one ``sql/journal_append_many.sql`` statement (group
commit across streams; see :meth:`PostgresJournal.append`).  :meth:`read` runs
``sql/journal_read.sql`` and decodes the payloads back.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import orjson
from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

from .._codec import JsonCodec, default_codec
from .._dcb import (
    AppendCondition,
    ConsistencyToken,
    MatchingRead,
    Query,
    check_after,
    expand_types,
)
from .._errors import (
    AppendConditionError,
    IdempotencyConflictError,
    JournalConcurrencyError,
    JournalError,
)
from .._tag_filter import EventKey, TagFilter, check_tag_query, split_tags
from .._types import (
    JournalEntry,
    PersistentEvent,
    content_digest,
    read_metadata,
    shared_metadata,
)
from .._validation import (
    MAX_BIGINT,
    Limits,
    check_idempotency_key,
    check_non_negative_int,
    check_optional_limit,
    check_page,
    check_payload_size,
    check_persistence_id,
    check_seq_range,
    check_table_name,
    entry_metadata,
    validate_entries,
)
from .._write_attempts import has_listeners, report_write_attempt
from ..query import TaggedEvent, TagOffset
from ._append_coalescer import AppendCoalescer, outcome
from ._boundary import MAX_SCALAR_KEYS, append_keys, boundary_key
from ._database import WriteConflict, decode_stored, translate
from ._journal_schema import (
    APPEND_IF_ARGS,
    DCB_MIGRATION,
    METADATA_MIGRATION,
    READ_MATCHING_ARGS,
    append_if_function_name,
    append_if_statement,
    function_signature,
    idempotency_table,
    journal_schema,
    lock_boundary_statement,
    read_matching_function_name,
    type_function_name,
    type_index_name,
)
from ._listener import Listener
from ._prepared import PreparedQuery, TextArray, bytea, int8_array
from ._schema import missing_columns_error
from ._sql import append_statement, statement
from ._store import PostgresStore
from ._write_history import ConflictLog, check_writer

if TYPE_CHECKING:
    from ._journal_within import JournalInTransaction

__all__ = ["PostgresJournal"]


def _json_escaped(name: str) -> str:
    """``name`` as it appears inside the stored JSON envelope (what the type function
    returns)."""
    return orjson.dumps(name).decode()[1:-1]

_log = logging.getLogger("actorpg_lab.postgres.journal")


#: Appends of one journal in flight at once before further appends are coalesced.
_APPEND_SLOTS = 2
#: Conditional appends start one write at a time; the second slot is a spare, used
#: once a write has run this long (seconds) with appends waiting (one stuck on a
#: boundary lock holds back unrelated ones that long at most).  One write at a time
#: and the round after a batch gathered into one batch: one statement and commit per
#: round of writers instead of a lone write plus a batch (see _append_coalescer).
_CONDITIONAL_EAGER_SLOTS = 1
_CONDITIONAL_SPARE_AFTER = 0.005
#: Pages at least this long are decoded with the cyclic GC paused (see _stream_events).
_GC_PAUSE_ROWS = 1000
#: Upper bounds of one coalesced statement.
_BATCH_MAX_APPENDS = 256
_BATCH_MAX_EVENTS = 10_000
#: Distinct boundary-lock keys of one coalesced statement (the server's lock table holds
#: ``max_locks_per_transaction`` x ``max_connections`` of them, 64 x 100 by default).
_BATCH_MAX_LOCKS = 256
#: Conditional appends of one transaction (one statement checks and writes them all).
_BATCH_MAX_CONDITIONAL = 64


class AppendRequest:
    """One validated, encoded append waiting for (or in) a statement."""

    __slots__ = ("as_stored", "checked", "expected", "keys", "metas", "payloads", "pid",
                 "started")

    def __init__(self, pid: str, expected: int, payloads: list[str],
                 checked: list[tuple[Any, tuple[str, ...]]], started: float,
                 keys: list[int], metas: list[str | None] | None = None,
                 as_stored: bool = False) -> None:
        self.pid = pid
        self.expected = expected
        self.payloads = payloads
        self.checked = checked
        self.started = started
        #: Boundary-lock keys (tags and types, distinct, ascending): see ``_boundary``.
        self.keys = keys
        #: Each event's metadata as JSON text (``None``: no event has any).
        self.metas = metas
        #: Every event reads back as itself (``JsonCodec.encode_batch``): no
        #: ``stored_value`` per event for the returned events.
        self.as_stored = as_stored

    def metas_param(self) -> list[str | None]:
        return self.metas if self.metas is not None else [None] * len(self.payloads)


class _Conditional:
    """One conditional append (DCB) waiting for (or in) its transaction."""

    __slots__ = ("exclusive", "keys", "lock_all", "params", "query", "request")

    def __init__(self, request: AppendRequest, query: Query, params: dict[str, Any],
                 exclusive: frozenset[int]) -> None:
        self.request = request
        self.query = query
        #: The decision's parameters (``journal_match.sql``'s, and the append's).
        self.params = params
        #: The condition's keys (locked exclusively) and every key it locks.
        self.exclusive = exclusive
        self.keys = exclusive.union(request.keys)
        #: ``Query.all()``: the table lock too, and a transaction of its own.
        self.lock_all = query.matches_all


def _query_items(params: Mapping[str, Any], *, req: int | None = None, offset: int = 0,
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """A query's tag items, their types and its types-only items from
    :meth:`PostgresJournal._match_params`' arrays, as the rows the JSON inputs of
    ``journal_read_matching_function.sql`` and ``journal_append_if.sql`` hold (the
    latter's with the request's number ``req`` and item numbers shifted by ``offset``)."""
    of = {} if req is None else {"req": req}
    items = [{**of, "idx": offset + i, "tag": tag, "tags": tags, "typed": typed}
             for i, tag, tags, typed in zip(params["ti_idx"], params["ti_tag"],
                                            params["ti_tags"], params["ti_typed"], strict=True)]
    item_types = [{"idx": offset + i, "name": name}
                  for i, name in zip(params["tt_idx"], params["tt_name"], strict=True)]
    type_items = [{**of, "name": name} for name in params["yo_name"]]
    return items, item_types, type_items


class PostgresJournal(PostgresStore):
    """An event journal in PostgreSQL implementing :class:`~actorpg_lab.Journal` (checked by
    the contract suite in ``tests/contract``, as is its in-memory twin).

    :param url: libpq connection string or URL; a pool is built lazily from it.
    :param pool_config: keyword arguments for :class:`psycopg_pool.AsyncConnectionPool`
        (``min_size``, ``max_size``, ``timeout``, ``kwargs={"sslmode": ...}``, ...).
    :param pool: a shared pool instead of ``url`` (never closed by the journal).
    :param events_table: the events table; ``<events_table>_meta`` holds deletion marks.
    :param tags_table: the tag index table (default ``<events_table>_tags``).
    :param auto_create_tables: run ``CREATE TABLE IF NOT EXISTS`` on first use.
    :param notify: send ``NOTIFY <events_table>_appended`` with every append so live
        queries wake at once (they poll too, so this only lowers latency).
    :param codec: payload codec (default :data:`actorpg_lab.default_codec`).
    :param limits: payload-size and tags-per-event caps (:class:`~actorpg_lab.Limits`).
    :param coalesce_appends: group commit: appends that arrive while two are already in
        flight are written together, one statement and one commit for many streams
        (each append still all-or-nothing with its own head check and outcome).
    :param log_conflicts: record every rejected append in ``<events_table>_conflicts``
        (persistence_id, expected, actual, writer, timestamp) — written only on a
        conflict, best effort (a failure is logged, never raised); see
        :mod:`actorpg_lab.postgres._write_history`.
    :param writer: the writer name recorded there (default ``<host>:<pid>``).
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        pool_config: Mapping[str, Any] | None = None,
        pool: AsyncConnectionPool[Any] | None = None,
        events_table: str = "events",
        tags_table: str | None = None,
        auto_create_tables: bool = True,
        notify: bool = True,
        codec: JsonCodec | None = None,
        limits: Limits | Mapping[str, Any] | None = None,
        coalesce_appends: bool = True,
        log_conflicts: bool = False,
        writer: str | None = None,
    ) -> None:
        self.events_table = check_table_name("events_table", events_table)
        self.tags_table = check_table_name(
            "tags_table", tags_table if tags_table is not None else f"{events_table}_tags"
        )
        self.meta_table = check_table_name("meta table", f"{events_table}_meta")
        self.channel = f"{self.events_table}_appended"
        self.notify = bool(notify)
        self.codec = codec or default_codec
        self.limits = Limits.of(limits)
        names = {"events": self.events_table, "tags": self.tags_table, "meta": self.meta_table}
        super().__init__(
            url=url, pool_config=pool_config, pool=pool,
            schema=journal_schema(self.events_table, self.tags_table, self.meta_table,
                                  log_conflicts=log_conflicts),
            auto_create_tables=auto_create_tables,
        )
        #: Where rejected appends are recorded (``log_conflicts=True``), else ``None``.
        self.conflict_log: ConflictLog | None = (
            ConflictLog(self._db, self.events_table, check_writer(writer))
            if log_conflicts else None)
        self._names = names
        self._render_metadata(True)  # a journal without the column: _learn_schema re-renders
        self._schema_learnt = False
        # The append statements are rendered to bytes once: the hot path skips composing.
        self._append_one_sql = append_statement("journal_append_one", **names).as_bytes(None)
        self._append_one_untagged_sql = statement(
            "journal_append_one_untagged", **names
        ).as_bytes(None)
        # The one-event statements run prepared on the warm connection (Database.run_prepared).
        self._append_one_prepared = PreparedQuery(self._append_one_sql)
        self._append_one_untagged_prepared = PreparedQuery(self._append_one_untagged_sql)
        self._coalescer: AppendCoalescer[AppendRequest, list[PersistentEvent]] = AppendCoalescer(
            write_one=lambda request: self._append_solo(request),
            write_many=lambda batch: self._append_many(batch),
            key=lambda request: request.pid,
            size=lambda request: len(request.payloads),
            locks=lambda request: request.keys,
            slots=_APPEND_SLOTS, max_requests=_BATCH_MAX_APPENDS, max_items=_BATCH_MAX_EVENTS,
            max_locks=_BATCH_MAX_LOCKS,
            enabled=bool(coalesce_appends),
        )
        # Conditional appends get group commit of their own: only appends whose
        # boundaries do not meet share a transaction (see _append_if_many).
        self._conditional: AppendCoalescer[_Conditional, list[PersistentEvent]] = \
            AppendCoalescer(
                write_one=lambda c: self._append_if_one(c),
                write_many=lambda batch: self._append_if_many(batch),
                key=lambda c: c.request.pid,
                size=lambda c: len(c.request.payloads),
                locks=lambda c: c.keys,
                exclusive=lambda c: None if c.lock_all else c.exclusive,
                slots=_APPEND_SLOTS, eager_slots=_CONDITIONAL_EAGER_SLOTS,
                spare_after=_CONDITIONAL_SPARE_AFTER, max_requests=_BATCH_MAX_CONDITIONAL,
                max_items=_BATCH_MAX_EVENTS, max_locks=_BATCH_MAX_LOCKS,
                enabled=bool(coalesce_appends),
            )
        self._head_sql = statement("journal_head", **names)
        self._delete_sql = statement("journal_delete", **names)
        self._ids_sql = statement("journal_persistence_ids", **names)
        self._horizon_sql = statement("journal_horizon", **names)
        self._listener: Listener | None = None
        # Conditional appends (DCB): the match fragment inside the read and append statements.
        type_fn = type_function_name(self.events_table)
        self._type_signature = function_signature(type_fn, ("text",))
        self._lock_boundary_sql = lock_boundary_statement(in_function=False).as_bytes(None)
        idem = {"idempotency": self._idempotency_table, **names}
        self._idempotency_hit_sql = statement("journal_idempotency_hit", **idem)
        self._idempotency_prune_sql = statement("journal_idempotency_prune", **idem)
        self._idempotency_check_sql = statement("journal_idempotency_check")
        self._idempotency_checked = False
        self._begin_sql = statement("journal_begin").as_bytes(None)
        self._commit_sql = statement("journal_commit").as_bytes(None)
        self._notify_sql = statement("journal_notify").as_bytes(None)
        self._lock_all_sql = statement("journal_lock_all", **names).as_bytes(None)
        self._dcb_check_sql = statement("journal_dcb_check")
        self._dcb_checked = False
        append_if_fn = append_if_function_name(self.events_table)
        self._append_if_signature = function_signature(append_if_fn, APPEND_IF_ARGS)
        self._append_if_call = PreparedQuery(
            statement("journal_append_if_call", function=append_if_fn).as_bytes(None))
        #: Whether conditional appends call the function (one statement on the warm
        #: connection) or, on a database without it, run a pipeline of statements.
        self._append_if_function = False
        read_fn = read_matching_function_name(self.events_table)
        self._read_matching_signature = function_signature(read_fn, READ_MATCHING_ARGS)
        self._read_matching_call = PreparedQuery(
            statement("journal_read_matching_call", function=read_fn).as_bytes(None))
        #: Whether read_matching calls its function (its generic plan, prepared on the
        #: warm connection) or, on a database without it, runs its statement.
        self._read_matching_function = False
        #: How long a conditional append waits for its boundary locks (seconds) before
        #: failing with a retryable JournalError (nothing written).
        self.lock_timeout = 5.0

    def _render_metadata(self, present: bool) -> None:
        """(Re)build the statements that read or write the metadata column; without it
        (a journal not migrated, auto_create_tables=False) reads give NULL and writes
        leave it out."""
        names = self._names
        self._has_metadata = present
        write = {"metadata_column": sql.SQL(", metadata" if present else ""),
                 "metadata_value": sql.SQL(", e.meta" if present else "")}
        many = {"metadata_column": write["metadata_column"],
                "metadata_value": sql.SQL(", ev.meta" if present else "")}
        read = {"metadata": sql.SQL("e.metadata" if present else "NULL::text")}
        self._append_sql = append_statement("journal_append", **write, **names).as_bytes(None)
        # Multi-event appends run prepared on the warm connection too, arrays in binary.
        self._append_prepared = PreparedQuery(self._append_sql)
        self._append_many_sql = statement("journal_append_many", **many, **names).as_bytes(None)
        self._idempotency_table = idempotency_table(self.events_table)
        # Keyed appends run prepared on the warm connection too: one event with scalar
        # parameters (its metadata one more scalar), more events with binary arrays.
        idem = self._idempotency_table
        self._append_keyed_sql = append_statement(
            "journal_append_keyed", idempotency=idem, **write, **names).as_bytes(None)
        self._append_keyed_prepared = PreparedQuery(self._append_keyed_sql)
        self._append_one_keyed_sql = append_statement(
            "journal_append_one_keyed", idempotency=idem,
            metadata_column=write["metadata_column"],
            metadata_value=sql.SQL(", %(meta)s" if present else ""), **names).as_bytes(None)
        self._append_one_keyed_prepared = PreparedQuery(self._append_one_keyed_sql)
        self._append_one_keyed_untagged_sql = statement(
            "journal_append_one_keyed_untagged", idempotency=idem,
            metadata_column=write["metadata_column"],
            metadata_value=sql.SQL(", %(meta)s" if present else ""), **names).as_bytes(None)
        self._append_one_keyed_untagged_prepared = PreparedQuery(
            self._append_one_keyed_untagged_sql)
        self._read_sql = statement("journal_read", position=sql.SQL("position::text::bigint"),
                                   metadata=sql.SQL("metadata" if present else "NULL::text"),
                                   **names)
        # A journal not migrated to positions (auto_create_tables=False): position 0.
        self._read_unmigrated_sql = statement(
            "journal_read", position=sql.SQL("0::bigint"),
            metadata=sql.SQL("metadata" if present else "NULL::text"), **names)
        self._by_tag_sql = statement("journal_by_tag", **read, **names)
        self._by_any_tag_sql = statement("journal_by_any_tag", **read, **names)
        self._by_no_tag_sql = statement("journal_by_no_tag", **read, **names)
        type_fn = type_function_name(self.events_table)
        after = statement("journal_match_after", **{
            name: sql.SQL(f"%({name})s::text::{cast}") for name, cast in (
                ("snap", "pg_snapshot"), ("u_pos", "xid8"), ("u_pid", "text"),
                ("u_seq", "bigint"), ("a_pos", "xid8"), ("a_pid", "text"), ("a_seq", "bigint"))})
        # Conditional appends: the check-and-append statement with bound parameters (a
        # database without the function), and the call of the function.
        self._append_if_sql = append_if_statement(
            self.events_table, self.tags_table, self.meta_table, metadata=present,
            in_function=False).as_bytes(None)
        self._match_branches = {
            branch: statement(f"journal_match_{branch}", after=after, type_fn=type_fn, **read,
                              **names)
            for branch in ("all", "tags", "types")}
        self._dcb_statements: dict[tuple[str, tuple[str, ...]],
                                   tuple[sql.Composed, bytes]] = {}

    async def _learn_schema(self) -> None:
        """On first use: open the pool (creating what is missing) and learn whether the
        metadata column exists."""
        await self._db.ready_pool()
        if f"{self.events_table}.metadata" in self._db.missing_columns:
            self._render_metadata(False)
        self._schema_learnt = True

    def __repr__(self) -> str:
        return (
            f"<PostgresJournal events_table={self.events_table!r} tags_table={self.tags_table!r} "
            f"{self._where}>"
        )

    # -- writes -----------------------------------------------------------------------
    async def append(
        self, persistence_id: str, entries: Sequence[JournalEntry], expected_seq: int,
        *, condition: AppendCondition | None = None, idempotency_key: str | None = None,
    ) -> list[PersistentEvent]:
        """Atomically append ``entries`` after head ``expected_seq``.

        With ``idempotency_key`` (1-512 characters): an append with the same key and the
        same content (payloads, tags, metadata) on the same stream returns the events
        the first one stored — nothing is written twice, also after the head moved on
        and for identical retries racing each other — and other content raises
        :class:`~actorpg_lab.IdempotencyConflictError`.  Keys are kept in
        ``<events_table>_idempotency`` until :meth:`prune_idempotency` removes them
        (retention: call it with 7 days, the documented default, from a periodic job; a
        retry after its key was pruned appends again).  Not combinable with
        ``condition`` (yet).

        With ``condition`` (DCB, see :mod:`actorpg_lab._dcb`): nothing is written and
        :class:`~actorpg_lab.AppendConditionError` names the event when one matching
        ``condition.fail_if_events_match`` exists that ``condition.after`` does not
        cover.  Such an append takes its boundary locks (the condition's keys exclusive,
        see :mod:`._boundary`), then checks and writes in one statement of the same
        transaction, all in one round trip.  Conditional appends that arrive while
        others are in flight share a transaction and a commit when their boundaries do
        not meet (group commit, see ``_append_if_many``); never with plain appends.

        Raises :class:`~actorpg_lab.JournalConcurrencyError` (with the re-read head)
        when the head is elsewhere or a racing writer committed first.

        While :data:`_APPEND_SLOTS` appends of this journal are already in flight, further
        appends (to other streams) wait and are then written together in ONE statement
        and one commit (group commit); each keeps its own atomicity, head check and
        outcome.  A lone writer never waits.
        """
        if condition is not None and not isinstance(condition, AppendCondition):
            raise TypeError(f"condition must be an AppendCondition or None, got "
                            f"{condition!r:.200}")
        key = check_idempotency_key(idempotency_key)
        if key is not None and condition is not None:
            raise ValueError("idempotency_key cannot be combined with condition (yet): "
                             f"{idempotency_key!r}")
        request = self._request(persistence_id, entries, expected_seq)
        if request is None:
            return []
        if not self._schema_learnt or (request.metas and not self._has_metadata):
            await self._without_metadata_column(request, entries)
        if condition is not None:
            return await self._append_if(request, condition)
        if key is not None:
            return await self._append_keyed(request, key)
        return await self._coalescer.submit(request)

    async def _append_keyed(self, request: AppendRequest, key: str) -> list[PersistentEvent]:
        """A keyed append (never coalesced), prepared on the warm connection like the
        unkeyed single append: one untagged event runs ``journal_append_one_keyed_untagged``,
        one event with at most :data:`MAX_SCALAR_KEYS` boundary keys
        ``journal_append_one_keyed`` (scalar parameters; both return no row when the key
        is taken or the head moved), anything else ``journal_append_keyed`` (binary
        arrays; returns the head and the key's prior row).  A taken key, or a racing
        identical retry that committed first (23505), is answered from the key's row
        (:meth:`_key_taken`)."""
        if not self._idempotency_checked:
            row = await self._db.fetch_one("check the idempotency table",
                                           self._idempotency_check_sql,
                                           {"table": self._idempotency_table})
            if not row or not row[0]:
                raise JournalError(
                    f"PostgresJournal: keyed appends need the table {self._idempotency_table},"
                    f" which this database lacks (auto_create_tables=False): have an "
                    f"administrator run {METADATA_MIGRATION} (with the table names adjusted);"
                    f" unkeyed appends keep working meanwhile")
            self._idempotency_checked = True
        pid, expected_seq, n = request.pid, request.expected, len(request.payloads)
        metas = request.metas
        digest = content_digest(request.payloads, [tags for _, tags in request.checked],
                                metas or ())
        keys = request.keys
        params: dict[str, Any]
        one = n == 1 and len(keys) <= MAX_SCALAR_KEYS
        if one and not request.checked[0][1]:  # one untagged event: at most its type's key
            query = self._append_one_keyed_untagged_prepared
            params = {
                "pid": pid, "expected": expected_seq, "payload": request.payloads[0],
                "key": key, "digest": bytea(digest), "notify": self.notify,
                "channel": self.channel, "meta": metas[0] if metas else None,
                "k1": keys[0] if keys else None,
            }
        elif one:  # scalar parameters: no arrays
            query = self._append_one_keyed_prepared
            params = {
                "pid": pid, "expected": expected_seq, "payload": request.payloads[0],
                "tags_csv": ",".join(request.checked[0][1]), "key": key,
                "digest": bytea(digest), "notify": self.notify, "channel": self.channel,
                "meta": metas[0] if metas else None,
            }
            for i in range(MAX_SCALAR_KEYS):
                params[f"k{i + 1}"] = keys[i] if i < len(keys) else None
        else:  # the arrays in binary
            query = self._append_keyed_prepared
            params = {
                "pid": pid, "expected": expected_seq, "payloads": TextArray(request.payloads),
                "tags_csv": TextArray([",".join(tags) for _, tags in request.checked]),
                "keys": int8_array(keys), "key": key, "n": n, "digest": bytea(digest),
                "notify": self.notify, "channel": self.channel,
                "metas": TextArray(request.metas_param()),
            }
        try:
            rows, _ = await self._db.run_prepared(f"keyed append to {pid!r}", query, params)
        except WriteConflict:  # an identical retry committed first, or another writer
            return await self._key_taken(request, key, digest, None)
        except JournalError:
            self._report(pid, expected_seq, -1, None, "error", request.started, n)
            raise
        if query is not self._append_keyed_prepared:  # one event
            if not rows:  # the key taken, or the head elsewhere
                return await self._key_taken(request, key, digest, None)
            timestamp, position = rows[0][0], rows[0][1]
            assert timestamp is not None and position is not None
            return self._stored(request, int(timestamp), int(position))
        head, timestamp, position, first_seq = rows[0][:4]
        assert head is not None and timestamp is not None
        if first_seq is not None:
            return await self._key_taken(request, key, digest, int(head))
        if int(head) != expected_seq:
            return await self._after_moved_head(request, int(head), False)
        assert position is not None
        return self._stored(request, int(timestamp), int(position))

    async def _key_taken(self, request: AppendRequest, key: str, digest: bytes,
                         head: int | None) -> list[PersistentEvent]:
        """The key has a row (or lost a race): the stored events, a conflict, or (no row:
        another writer took the head) a JournalConcurrencyError."""
        pid = request.pid
        row = await self._db.fetch_one(f"idempotency key {key!r} of {pid!r}",
                                       self._idempotency_hit_sql,
                                       {"pid": pid, "key": key, "digest": digest})
        if row is None:
            actual = await self.highest_seq(pid) if head is None else head
            return await self._after_moved_head(request, actual, False)
        first_seq, events, stored = int(row[0]), int(row[1]), bytes(row[2])
        if stored != digest:
            self._report(pid, request.expected, -1, None, "conflict", request.started,
                         len(request.payloads))
            raise IdempotencyConflictError(pid, key, first_seq, events)
        self._report(pid, request.expected, first_seq - 1, first_seq + events - 1, "duplicate",
                     request.started, events)
        return await self.read(pid, first_seq, first_seq + events - 1)

    async def prune_idempotency(self, older_than: float | timedelta) -> int:
        """Forget the idempotency keys older than ``older_than`` (seconds or a
        ``timedelta``); returns how many.  A retry with a forgotten key appends again."""
        seconds = older_than.total_seconds() if isinstance(older_than, timedelta) \
            else older_than
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError(f"older_than must be >= 0 seconds or a timedelta: {older_than!r}")

        async def work(conn: AsyncConnection[Any]) -> int:
            cur = await conn.execute(self._idempotency_prune_sql, {"seconds": float(seconds)})
            return int(cur.rowcount)

        return await self._db.run("prune idempotency keys", work)

    async def append_in_transaction(
        self, conn: AsyncConnection[Any], persistence_id: str, entries: Sequence[JournalEntry],
        expected_seq: int,
    ) -> list[PersistentEvent]:
        """:meth:`append` as one statement of the caller's open transaction on ``conn``
        (never coalesced; the same head check and boundary locks, held until that
        transaction ends).  The events are the caller's to commit or roll back; a
        conflict raises :class:`~actorpg_lab.JournalConcurrencyError` (the transaction
        is then aborted)."""
        request = self._request(persistence_id, entries, expected_seq)
        if request is None:
            return []
        # the tables exist before the caller's statement
        await self._without_metadata_column(request, entries)
        return await self._append_solo(request, conn=conn)

    async def _without_metadata_column(self, request: AppendRequest,
                                       entries: Sequence[JournalEntry]) -> None:
        """Learn the schema on first use; on a journal without the metadata column,
        metadata given with the entries is an error naming the migration, metadata
        from the context (actors, ``with metadata(...)``) is left out."""
        if not self._schema_learnt:
            await self._learn_schema()
        if request.metas and not self._has_metadata:
            if any(e.metadata for e in entries):
                raise JournalError(
                    f"PostgresJournal: the column {self.events_table}.metadata is missing "
                    f"(auto_create_tables=False): have an administrator run "
                    f"{METADATA_MIGRATION}, or append without metadata")
            request.metas = None

    def _request(self, persistence_id: str, entries: Sequence[JournalEntry],
                 expected_seq: int) -> AppendRequest | None:
        """Validate and encode an append (``None``: nothing to write)."""
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("expected_seq", expected_seq)
        checked = validate_entries(entries, self.limits)
        if expected_seq + len(checked) > MAX_BIGINT:
            raise ValueError(f"expected_seq is too large for {len(checked)} more events: {expected_seq}")
        payloads, as_stored = self.codec.encode_batch([event for event, _ in checked])
        for i, payload in enumerate(payloads):
            check_payload_size(payload, self.limits, f"entries[{i}] payload")
        if not checked:
            return None
        type_name = self.codec.type_name
        keys = append_keys(self.events_table,
                           [tag for _, tags in checked for tag in tags],
                           [type_name(cls) for cls in {type(event) for event, _ in checked}])
        metas = entry_metadata(entries)
        return AppendRequest(pid, expected_seq, payloads, checked, time.time(), keys,
                             metas if any(m is not None for m in metas) else None, as_stored)

    @property
    def coalesce_appends(self) -> bool:
        """Whether group commit is on (see :meth:`append`)."""
        return self._coalescer.enabled

    async def _append_solo(
        self, request: AppendRequest, *, maybe_written: bool = False,
        conn: AsyncConnection[Any] | None = None,
    ) -> list[PersistentEvent]:
        """One append, one statement.  ``maybe_written``: an earlier attempt (a failed
        batch) may have committed it, so a moved head is checked against the rows.
        ``conn``: run it in that connection's open transaction (see
        :meth:`append_in_transaction`)."""
        pid, expected_seq, payloads, checked = (
            request.pid, request.expected, request.payloads, request.checked
        )
        # One untagged event (the common case): a plain guarded INSERT that returns no
        # row when the head is elsewhere (the head is then re-read: conflicts only).
        keys = request.keys
        untagged_one = len(payloads) == 1 and not checked[0][1] and request.metas is None
        if untagged_one:  # at most one key: the event's type
            query = self._append_one_untagged_sql
            params: dict[str, Any] = {
                "pid": pid, "expected": expected_seq, "payload": payloads[0],
                "notify": self.notify, "channel": self.channel,
                "k1": keys[0] if keys else None,
            }
        elif len(payloads) == 1 and len(keys) <= MAX_SCALAR_KEYS and request.metas is None:
            query = self._append_one_sql
            params = {
                "pid": pid, "expected": expected_seq, "payload": payloads[0],
                "tags_csv": ",".join(checked[0][1]), "notify": self.notify,
                "channel": self.channel,
            }
            for i in range(MAX_SCALAR_KEYS):
                params[f"k{i + 1}"] = keys[i] if i < len(keys) else None
        else:
            query = self._append_sql
            params = {
                "pid": pid, "expected": expected_seq, "payloads": payloads,
                "tags_csv": [",".join(tags) for _, tags in checked],
                "notify": self.notify, "channel": self.channel, "keys": keys,
                "metas": request.metas_param(),
            }
        started = request.started
        attempts = 0

        async def work(conn: AsyncConnection[Any]) -> tuple[Any, ...] | None:
            nonlocal attempts
            attempts += 1
            cur = await conn.execute(query, params)
            return await cur.fetchone()

        try:
            if conn is not None:  # the caller's transaction
                try:
                    row = await work(conn)
                except Exception as exc:
                    raise translate(exc, f"append to {pid!r}") from exc
            elif query is not self._append_sql:  # scalar parameters: prepared, warm
                rows, attempts = await self._db.run_prepared(
                    f"append to {pid!r}",
                    self._append_one_untagged_prepared if untagged_one
                    else self._append_one_prepared, params)
                row = rows[0] if rows else None
            else:  # prepared and warm too, the arrays in binary
                rows, attempts = await self._db.run_prepared(
                    f"append to {pid!r}", self._append_prepared,
                    {**params, "payloads": TextArray(payloads),
                     "tags_csv": TextArray(params["tags_csv"]), "keys": int8_array(keys),
                     "metas": TextArray(params["metas"])})
                row = rows[0] if rows else None
        except WriteConflict as exc:
            actual = await self.highest_seq(pid)
            self._report(pid, expected_seq, actual, None, "conflict", started, len(checked))
            if self.conflict_log is not None:
                await self.conflict_log.record(pid, expected_seq, actual)
            raise JournalConcurrencyError(pid, expected_seq, actual) from exc
        except JournalError:
            self._report(pid, expected_seq, -1, None, "error", started, len(checked))
            raise
        if untagged_one:
            if row is not None:
                return self._stored(request, int(row[0]), int(row[1]))
            try:
                head = await self.highest_seq(pid)
            except JournalError:
                self._report(pid, expected_seq, -1, None, "error", started, len(checked))
                raise
            return await self._after_moved_head(request, head, attempts > 1 or maybe_written)
        assert row is not None
        head, timestamp = int(row[0]), int(row[1])
        if head != expected_seq:
            return await self._after_moved_head(request, head, attempts > 1 or maybe_written)
        return self._stored(request, timestamp, int(row[2]))

    # -- conditional appends (DCB) --------------------------------------------------------
    async def _dcb_ready(self) -> None:
        """The type function and index exist (else a JournalError naming the script)."""
        await self._require_positions()
        if self._dcb_checked:
            return
        row = await self._db.fetch_one("check the DCB schema", self._dcb_check_sql,
                                       {"function": self._type_signature,
                                        "index": type_index_name(self.events_table),
                                        "append_if": self._append_if_signature,
                                        "read_matching": self._read_matching_signature})
        if not row or not row[0] or not row[1]:
            raise JournalError(
                f"PostgresJournal: conditional appends and read_matching need the function "
                f"{type_function_name(self.events_table)}(text) and the index "
                f"{type_index_name(self.events_table)}, which this database lacks "
                f"(auto_create_tables=False): have an administrator run {DCB_MIGRATION} (with "
                f"the table names adjusted); plain appends keep working meanwhile")
        # The function writes the metadata column: a journal without it uses the pipeline.
        self._append_if_function = bool(row[2]) and self._has_metadata
        self._read_matching_function = bool(row[3]) and self._has_metadata
        if not row[2]:
            _log.info("%s: no %s (an earlier %s): conditional appends run as a pipeline of "
                      "statements", self.events_table, self._append_if_signature, DCB_MIGRATION)
        self._dcb_checked = True

    def _match_params(self, query: Query, after: ConsistencyToken | TagOffset | None,
                      ) -> tuple[dict[str, Any], list[int]]:
        """Bind parameters of ``journal_match.sql`` and the condition's exclusive keys."""
        ti_idx: list[int] = []
        ti_tag: list[str] = []
        ti_tags: list[str] = []
        ti_typed: list[bool] = []
        tt_idx: list[int] = []
        tt_name: list[str] = []
        yo_name: dict[str, None] = {}
        exclusive: set[int] = set()
        table = self.events_table
        match_all = query.matches_all
        if not match_all:
            for i, item in enumerate(query.items):
                types = expand_types(item.types, self.codec)
                if item.tags:
                    ti_idx.append(i)
                    ti_tag.append(item.tags[0])
                    ti_tags.append(",".join(item.tags))
                    ti_typed.append(bool(types))
                    for t in types:
                        tt_idx.append(i)
                        tt_name.append(_json_escaped(t))
                    exclusive.add(boundary_key(table, "t", item.tags[0]))
                else:
                    for t in types:
                        yo_name[_json_escaped(t)] = None
                        exclusive.add(boundary_key(table, "y", t))
        params: dict[str, Any] = {
            "match_all": match_all, "ti_idx": ti_idx, "ti_tag": ti_tag, "ti_tags": ti_tags,
            "ti_typed": ti_typed, "tt_idx": tt_idx, "tt_name": tt_name,
            "yo_name": list(yo_name), "lo": "0", "snap": None, "u_pos": None, "u_pid": None,
            "u_seq": None, "a_pos": None, "a_pid": None, "a_seq": None,
        }
        if isinstance(after, ConsistencyToken):
            params["snap"] = after.snapshot
            low = after.xmin
            if after.upto is not None:
                low = min(low, after.upto[0])
                params.update(u_pos=str(after.upto[0]), u_pid=after.upto[1],
                              u_seq=after.upto[2])
            params["lo"] = str(low)
        elif after is not None:
            position, pid, seq = after.key
            params.update(lo=str(position), a_pos=str(position), a_pid=pid, a_seq=seq)
        return params, sorted(exclusive)

    def _dcb_statement(self, name: str, query: Query) -> sql.Composed:
        """``sql/<name>.sql`` over the match branches ``query`` needs (cached per shape)."""
        return self._dcb_cached(name, query)[0]

    def _dcb_bytes(self, name: str, query: Query) -> bytes:
        """:meth:`_dcb_statement` rendered once: the text a hot path sends (a Composed is
        rendered again at every execute)."""
        return self._dcb_cached(name, query)[1]

    def _dcb_cached(self, name: str, query: Query) -> tuple[sql.Composed, bytes]:
        if query.matches_all:
            branches: tuple[str, ...] = ("all",)
        else:
            branches = tuple(b for b, wanted in (
                ("tags", any(i.tags for i in query.items)),
                ("types", any(not i.tags for i in query.items))) if wanted)
        cached = self._dcb_statements.get((name, branches))
        if cached is None:
            match = statement("journal_match", branches=sql.SQL("\nUNION ALL\n").join(
                [self._match_branches[b] for b in branches]))
            composed = statement(name, match=match)
            cached = self._dcb_statements[(name, branches)] = (composed,
                                                               composed.as_bytes(None))
        return cached

    async def read_matching(
        self, query: Query, *, after: ConsistencyToken | TagOffset | None = None,
        limit: int | None = None,
    ) -> MatchingRead:
        """The events matching ``query`` (not covered by ``after``) in ``(position,
        persistence_id, sequence_nr)`` order, at most ``limit``, and the token of what
        this read saw (the ``after`` of a decision's :class:`~actorpg_lab.AppendCondition`).

        Unlike tag queries this includes committed events above the visibility horizon:
        a decision must see everything committed; the token says exactly what it saw.
        """
        if not isinstance(query, Query):
            raise TypeError(f"query must be a Query, got {query!r:.200}")
        check_after(after)
        check_optional_limit(limit)
        await self._dcb_ready()
        params, _ = self._match_params(query, after)
        params["limit"] = limit
        what = f"read_matching {query!r}"
        if self._read_matching_function:  # one prepared call on the warm connection
            rows, _ = await self._db.run_prepared(what, self._read_matching_call,
                                                  self._read_params(params), text=True)
        else:
            rows = await self._db.fetch_all(what, self._dcb_bytes("journal_read_matching",
                                                                  query), params)
        snapshot = rows[0][0]
        events: list[TaggedEvent] = []
        for _, position, pid, seq, payload, tags, ts, meta in rows:
            if pid is None:
                continue
            seq = int(seq)
            event = PersistentEvent(pid, seq, self._decode(pid, seq, payload), int(ts),
                                    split_tags(tags), int(position), read_metadata(meta))
            events.append(TaggedEvent(event, TagOffset._after(event.key, None)))
        upto = events[-1].event.key if limit is not None and len(events) >= limit and events \
            else None
        return MatchingRead(events, ConsistencyToken(snapshot, upto))

    @staticmethod
    def _read_params(params: Mapping[str, Any]) -> dict[str, Any]:
        """``journal_read_matching_call.sql``'s parameters from :meth:`_match_params`'
        (the items as JSON texts, as ``journal_read_matching_function.sql`` reads them)."""
        dumps = orjson.dumps
        items, item_types, type_items = _query_items(params)
        return {
            **{name: params[name] for name in ("match_all", "lo", "snap", "u_pos", "u_pid",
                                               "u_seq", "a_pos", "a_pid", "a_seq", "limit")},
            "items": dumps(items).decode(), "item_types": dumps(item_types).decode(),
            "type_items": dumps(type_items).decode(),
        }

    async def _append_if(self, request: AppendRequest,
                         condition: AppendCondition) -> list[PersistentEvent]:
        await self._dcb_ready()
        query = condition.fail_if_events_match
        params, exclusive = self._match_params(query, condition.after)
        params.update(
            pid=request.pid, expected=request.expected, payloads=request.payloads,
            tags_csv=[",".join(tags) for _, tags in request.checked],
            metas=request.metas_param())
        return await self._conditional.submit(_Conditional(request, query, params,
                                                           frozenset(exclusive)))

    def _lock_params(self, batch: Sequence[_Conditional]) -> dict[str, Any]:
        """``journal_lock_boundary.sql``'s parameters for conditional appends written
        in one transaction: the union of their keys, ascending (the one lock order),
        exclusive where a condition checks it."""
        exclusive: set[int] = set()
        keys: set[int] = set()
        for c in batch:
            exclusive.update(c.exclusive)
            keys.update(c.keys)
        ordered = sorted(keys)
        return {"keys": ordered, "exclusive": [k in exclusive for k in ordered],
                "lock_timeout": f"{int(self.lock_timeout * 1000)}ms"}

    async def _append_if_one(self, c: _Conditional, *,
                             maybe_written: bool = False) -> list[PersistentEvent]:
        """One conditional append in its own transaction: the group statement with one
        member.  ``maybe_written``: an earlier attempt (a failed group) may have
        committed it."""
        ((result, error),) = await self._write_conditionals([c], maybe_written=maybe_written)
        if error is not None:
            raise error
        assert result is not None
        return result

    async def _append_if_many(
        self, batch: list[_Conditional]
    ) -> list[tuple[list[PersistentEvent] | None, BaseException | None]]:
        """Group commit of conditional appends whose boundaries do not meet (the
        coalescer's ``exclusive`` rule; distinct streams): see _write_conditionals."""
        return await self._write_conditionals(batch)

    async def _write_conditionals(
        self, batch: list[_Conditional], *, maybe_written: bool = False,
    ) -> list[tuple[list[PersistentEvent] | None, BaseException | None]]:
        """Conditional appends in ONE transaction, one round trip and one commit: ONE
        call of ``<events>_append_if_v1`` (``journal_append_if_function.sql``: every key
        locked, ascending; the table lock for ``Query.all()``, always alone; then the
        check-and-append of all members, ``journal_append_if.sql``, as a new statement)
        on the warm connection.  A database without the function (an earlier
        ``migrate_dcb.sql``) gets the same as a pipeline: BEGIN, the locks
        (``journal_lock_boundary.sql``), the statement, COMMIT, the NOTIFY.

        Why a group is the same as its members committed one by one: no member writes
        an event another's condition can match (matching needs a key the condition
        locks exclusively, and those keys are disjoint from every other member's), so
        each check sees exactly what it would see alone, and the group serialises as
        its members in any order.  A failed condition or a moved head writes nothing
        for that member and leaves the others alone; a statement that fails (a racing
        writer on a stream: 23505, a deadlock) rolls the group back, and a group's
        members are then written one by one."""
        lock_params = self._lock_params(batch)
        params = self._group_params(batch)
        lock_all = any(c.lock_all for c in batch)
        attempts = 0

        async def pipelined(conn: AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            # Without the function: BEGIN, the locks, the table lock, the statement,
            # COMMIT and the NOTIFY in one round trip (explicit BEGIN/COMMIT: a
            # transaction block in a pipeline would wait for each result).  A failure
            # skips the rest (the pipeline aborts) and leaves the transaction to
            # Database.run's rollback.
            nonlocal attempts
            attempts += 1
            async with conn.pipeline():
                await conn.execute(self._begin_sql)
                await conn.execute(self._lock_boundary_sql, lock_params)
                if lock_all:
                    await conn.execute(self._lock_all_sql)
                cur = await conn.execute(self._append_if_sql, params)
                await conn.execute(self._commit_sql)
                if self.notify:
                    await conn.execute(self._notify_sql, {"channel": self.channel})
                rows = await cur.fetchall()
            return rows

        what = (f"conditional append to {batch[0].request.pid!r}" if len(batch) == 1
                else f"conditional appends to {len(batch)} streams")
        try:
            if self._append_if_function:  # one statement, its own transaction
                keys = lock_params["keys"]
                text_rows, attempts = await self._db.run_prepared(what, self._append_if_call, {
                    **params, "keys": int8_array(keys),
                    "exclusive": "{" + ",".join("t" if x else "f"
                                                for x in lock_params["exclusive"]) + "}",
                    "lock_timeout": lock_params["lock_timeout"], "lock_all": lock_all,
                    "notify": self.notify, "channel": self.channel})
                rows = [tuple(None if v is None else v.decode() for v in row)
                        for row in text_rows]
            else:
                rows = await self._db.run(what, pipelined)
        except WriteConflict as exc:
            if len(batch) == 1:  # a racing writer on the stream, or a deadlock victim
                lost = await self._condition_lost(batch[0].request)
                lost.__cause__ = exc
                return [(None, lost)]
            _log.debug("group of %d conditional appends failed (%s); writing them one by one",
                       len(batch), exc)
            return [await outcome(self._append_if_one(c, maybe_written=attempts > 1))
                    for c in batch]
        except JournalError as exc:  # e.g. lock_timeout: each would wait again, alone
            for c in batch:
                r = c.request
                self._report(r.pid, r.expected, -1, None, "error", r.started,
                             len(r.payloads))
            return [(None, exc) for _ in batch]
        return [await outcome(self._condition_outcome(c, row, attempts > 1 or maybe_written))
                for c, row in zip(batch, rows, strict=True)]

    @staticmethod
    def _group_params(batch: Sequence[_Conditional]) -> dict[str, str]:
        """``journal_append_if.sql``'s five JSON arrays from the members' own
        parameters (the decision's, see :meth:`_match_params`): request r's items, types and
        events carry r; item numbers are made unique across the group."""
        reqs: list[dict[str, Any]] = []
        items: list[dict[str, Any]] = []
        item_types: list[dict[str, Any]] = []
        type_items: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        offset = 0
        for r, c in enumerate(batch, start=1):
            p = c.params
            reqs.append({"idx": r, "pid": p["pid"], "expected": p["expected"],
                         "match_all": p["match_all"], "lo": p["lo"],
                         "snap": p["snap"], "u_pos": p["u_pos"], "u_pid": p["u_pid"],
                         "u_seq": p["u_seq"], "a_pos": p["a_pos"], "a_pid": p["a_pid"],
                         "a_seq": p["a_seq"]})
            its, types, type_its = _query_items(p, req=r, offset=offset)
            items += its
            item_types += types
            type_items += type_its
            offset += len(c.query.items)
            events.extend({"idx": r, "ord": k, "payload": payload, "tags": tags, "meta": meta}
                          for k, (payload, tags, meta) in enumerate(
                              zip(p["payloads"], p["tags_csv"], p["metas"], strict=True),
                              start=1))
        dumps = orjson.dumps
        return {"reqs": dumps(reqs).decode(), "items": dumps(items).decode(),
                "item_types": dumps(item_types).decode(),
                "type_items": dumps(type_items).decode(), "events": dumps(events).decode()}

    async def _condition_lost(self, request: AppendRequest) -> JournalConcurrencyError:
        """A racing writer on the stream won (or a deadlock picked this append)."""
        pid, expected_seq = request.pid, request.expected
        actual = await self.highest_seq(pid)
        self._report(pid, expected_seq, actual, None, "conflict", request.started,
                     len(request.payloads))
        if self.conflict_log is not None:
            await self.conflict_log.record(pid, expected_seq, actual)
        return JournalConcurrencyError(pid, expected_seq, actual)

    async def _condition_outcome(self, c: _Conditional, row: tuple[Any, ...] | None,
                                 maybe_ours: bool) -> list[PersistentEvent]:
        """The events ``journal_append_if.sql``'s row says were written, or the error."""
        assert row is not None
        request = c.request
        pid, expected_seq, n = request.pid, request.expected, len(request.payloads)
        head, timestamp, position = int(row[0]), int(row[1]), row[2]
        if head != expected_seq:
            return await self._after_moved_head(request, head, maybe_ours)
        if row[3] is not None:
            conflict = (int(row[3]), str(row[4]), int(row[5]))
            type_name = orjson.loads(f'"{row[6]}"') if row[6] is not None else None
            text = repr(c.query)
            self._report(pid, expected_seq, head, None, "conflict", request.started, n,
                         conflict=conflict, query=text)
            if self.conflict_log is not None:
                await self.conflict_log.record_condition(pid, expected_seq, head, conflict,
                                                         text)
            raise AppendConditionError(pid, expected_seq, head, conflict, type_name,
                                       split_tags(row[7]), text)
        return self._stored(request, timestamp, int(position))

    async def _after_moved_head(
        self, request: AppendRequest, head: int, maybe_ours: bool
    ) -> list[PersistentEvent]:
        pid, expected_seq, n = request.pid, request.expected, len(request.payloads)
        if maybe_ours and await self._written_by_us(pid, expected_seq, request.payloads,
                                                    request.checked):
            # An earlier attempt committed before its connection died; this is ours.
            self._report(pid, expected_seq, head, expected_seq + n, "ok", request.started, n)
            return await self.read(pid, expected_seq + 1, expected_seq + n)
        self._report(pid, expected_seq, head, None, "conflict", request.started, n)
        if self.conflict_log is not None:
            await self.conflict_log.record(pid, expected_seq, head)
        raise JournalConcurrencyError(pid, expected_seq, head)

    def _stored(self, request: AppendRequest, timestamp: int,
                position: int) -> list[PersistentEvent]:
        """The events ``request`` wrote (from what was sent: no read-back)."""
        pid, expected_seq, n = request.pid, request.expected, len(request.payloads)
        self._report(pid, expected_seq, expected_seq, expected_seq + n, "ok", request.started, n)
        stored_value = self.codec.stored_value  # == decode(payload), without parsing if it can
        if self._missing_positions():  # not migrated: nothing stores the position
            position = 0
        if request.metas is not None:
            metadata = shared_metadata(request.metas)
            if request.as_stored:
                return [PersistentEvent(pid, expected_seq + i, event, timestamp, tags, position,
                                        meta)
                        for i, ((event, tags), meta) in enumerate(
                            zip(request.checked, metadata, strict=True), start=1)]
            return [
                PersistentEvent(pid, expected_seq + i, stored_value(event, payload), timestamp,
                                tags, position, meta)
                for i, (payload, (event, tags), meta) in enumerate(
                    zip(request.payloads, request.checked, metadata, strict=True), start=1)
            ]
        if request.as_stored:
            return [PersistentEvent(pid, expected_seq + i, event, timestamp, tags, position)
                    for i, (event, tags) in enumerate(request.checked, start=1)]
        return [
            PersistentEvent(pid, expected_seq + i, stored_value(event, payload), timestamp, tags,
                            position)
            for i, (payload, (event, tags)) in enumerate(
                zip(request.payloads, request.checked, strict=True), start=1
            )
        ]

    async def _append_many(
        self, batch: list[AppendRequest]
    ) -> list[tuple[list[PersistentEvent] | None, BaseException | None]]:
        """Write appends to distinct streams in one statement; per-request outcomes."""
        idxs: list[int] = []
        ords: list[int] = []
        payloads: list[str] = []
        tags_csv: list[str] = []
        metas: list[str | None] = []
        keys: set[int] = set()
        for r, request in enumerate(batch, start=1):
            keys.update(request.keys)
            metas.extend(request.metas_param())
            for k, (payload, (_, tags)) in enumerate(
                zip(request.payloads, request.checked, strict=True), start=1
            ):
                idxs.append(r)
                ords.append(k)
                payloads.append(payload)
                tags_csv.append(",".join(tags))
        params = {
            "pids": [request.pid for request in batch],
            "expecteds": [request.expected for request in batch],
            "idxs": idxs, "ords": ords, "payloads": payloads, "tags_csv": tags_csv,
            "notify": self.notify, "channel": self.channel, "keys": sorted(keys),
            "metas": metas,
        }
        attempts = 0

        async def work(conn: AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            nonlocal attempts
            attempts += 1
            cur = await conn.execute(self._append_many_sql, params)
            return await cur.fetchall()

        try:
            rows = await self._db.run(f"append to {len(batch)} streams", work, warm=True)
        except JournalError as exc:
            # A racing writer on one stream (23505) or a failure: nothing of the batch was
            # written by this attempt, but an earlier attempt may have been; give every
            # append its own statement and its own outcome.
            _log.debug("batch of %d appends failed (%s); retrying them one by one",
                       len(batch), exc)
            return [
                await outcome(self._append_solo(request, maybe_written=attempts > 1))
                for request in batch
            ]
        outcomes: list[tuple[list[PersistentEvent] | None, BaseException | None]] = []
        for request, row in zip(batch, rows, strict=True):
            head, timestamp = int(row[1]), int(row[2])
            if head == request.expected:
                outcomes.append((self._stored(request, timestamp, int(row[3])), None))
            else:
                outcomes.append(await outcome(
                    self._after_moved_head(request, head, attempts > 1)))
        return outcomes

    @staticmethod
    def _report(pid: str, expected: int, actual: int, written: int | None, outcome: Any,
                started: float, events: int, *, conflict: tuple[int, str, int] | None = None,
                query: str | None = None) -> None:
        if has_listeners():
            report_write_attempt("journal", pid, expected=expected, actual=actual,
                                 written=written, outcome=outcome, started=started, events=events,
                                 kind="head" if conflict is None else "condition",
                                 conflict=conflict, query=query)

    async def _written_by_us(
        self, pid: str, expected: int, payloads: list[str], checked: list[tuple[Any, tuple[str, ...]]]
    ) -> bool:
        rows = await self._db.fetch_all(
            f"read {pid!r}", await self._read_query(),
            {"pid": pid, "from_seq": expected + 1, "to_seq": expected + len(payloads)},
        )
        return len(rows) == len(payloads) and all(
            row[1] == payload and split_tags(row[2]) == tags
            for row, payload, (_, tags) in zip(rows, payloads, checked, strict=True)
        )

    async def delete(self, persistence_id: str, to_seq: int) -> None:
        """Delete events ``<= to_seq`` and their tag rows; the mark never passes the head."""
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("to_seq", to_seq)

        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(self._delete_sql, {"pid": pid, "to_seq": to_seq})

        try:
            await self._db.run(f"delete {pid!r} up to {to_seq}", work)
        except WriteConflict as exc:  # two deletes racing on a fresh mark row
            raise JournalError(f"delete {pid!r} up to {to_seq} raced another delete; retry") from exc

    # -- reads ------------------------------------------------------------------------
    async def read(
        self, persistence_id: str, from_seq: int = 1, to_seq: int | None = None
    ) -> list[PersistentEvent]:
        """Events with ``from_seq <= sequence_nr <= to_seq`` (inclusive), ascending."""
        pid = check_persistence_id(persistence_id)
        check_seq_range(from_seq, to_seq)
        rows = await self._db.fetch_all(
            f"read {pid!r}", await self._read_query(),
            {"pid": pid, "from_seq": from_seq, "to_seq": MAX_BIGINT if to_seq is None else to_seq},
            binary=True,
        )
        return self._stream_events(pid, rows)

    def _missing_positions(self) -> frozenset[str]:
        return frozenset(c for c in self._db.missing_columns if c.endswith(".position"))

    async def _read_query(self) -> sql.Composed:
        if not self._schema_learnt:
            await self._learn_schema()  # the first use learns whether positions exist
        return self._read_unmigrated_sql if self._missing_positions() else self._read_sql

    async def _require_positions(self) -> None:
        """Tag queries need positions: a clear error on a journal not migrated yet."""
        if not self._schema_learnt:
            await self._learn_schema()
        missing = self._missing_positions()
        if missing:
            assert self._db.schema is not None
            raise missing_columns_error(self._db.schema, missing)

    def _stream_events(self, pid: str, rows: list[tuple[Any, ...]]) -> list[PersistentEvent]:
        """Rows ``(seq, payload, tags, ts, position)`` of one stream as events (the
        recovery hot loop)."""
        decode = self.codec.decode
        # Building a large page allocates ~3 container objects per event that all survive
        # (the page holds them), so the cyclic GC would run dozens of collections per page
        # just to promote them (15-25% of a 100k-event recovery, measured).  Pause it for
        # the page; it is re-enabled right after unless it was already off.
        paused = len(rows) >= _GC_PAUSE_ROWS and gc.isenabled()
        if paused:
            gc.disable()
        try:
            return [
                PersistentEvent(pid, seq, decode(payload), ts,
                                tuple(tags.split(",")) if tags else (), position)
                if meta is None else
                PersistentEvent(pid, seq, decode(payload), ts,
                                tuple(tags.split(",")) if tags else (), position,
                                read_metadata(meta))
                for seq, payload, tags, ts, position, meta in rows
            ]
        except (ValueError, TypeError, RecursionError):
            # Slow path only to name the first undecodable row (JournalIntegrityError).
            return [
                PersistentEvent(pid, seq, self._decode(pid, seq, payload), ts, split_tags(tags),
                                position, read_metadata(meta))
                for seq, payload, tags, ts, position, meta in rows
            ]
        finally:
            if paused:
                gc.enable()

    async def highest_seq(self, persistence_id: str) -> int:
        """The stream head; 0 for an unknown stream; never rewinds after ``delete``."""
        pid = check_persistence_id(persistence_id)
        row = await self._db.fetch_one(f"highest_seq of {pid!r}", self._head_sql, {"pid": pid})
        return int(row[0]) if row else 0

    async def persistence_ids(
        self, *, after: str | None = None, limit: int | None = None
    ) -> list[str]:
        """Every stream with events or a deletion mark, sorted (database collation).

        Page with ``after`` (the last id of the previous page) and ``limit``.
        """
        check_page(after, limit)
        rows = await self._db.fetch_all(
            "persistence_ids", self._ids_sql,
            {"after": after or "", "limit": MAX_BIGINT if limit is None else limit},
        )
        return [r[0] for r in rows]

    async def read_by_tag(
        self,
        tag_filter: TagFilter,
        *,
        after: EventKey | None = None,
        from_timestamp: int = 0,
        limit: int | None = None,
    ) -> list[PersistentEvent]:
        """Events matching ``tag_filter`` after the key ``after`` (``(position,
        persistence_id, sequence_nr)`` of the last event delivered; ``None``: from the
        start) in that key's order, at most ``limit``, with ``timestamp >= from_timestamp``.

        Only events below the visibility horizon are returned: every transaction that
        could still commit an event before them has ended (see :mod:`actorpg_lab.query`).
        """
        key = check_tag_query(tag_filter, from_timestamp, limit, after)
        await self._require_positions()
        if tag_filter.matches_nothing:
            return []
        position, pid, seq = key
        params: dict[str, Any] = {
            "position": str(position), "pid": pid, "seq": seq, "from_ts": from_timestamp,
            "limit": limit, "all": list(tag_filter.all), "any": list(tag_filter.any),
            "not": list(tag_filter.not_),
        }
        if tag_filter.all:
            query, params["tag"] = self._by_tag_sql, tag_filter.all[0]
        elif tag_filter.any:
            query = self._by_any_tag_sql
        else:
            query = self._by_no_tag_sql
        rows = await self._db.fetch_all(f"read tag {tag_filter!r}", query, params)
        return [
            PersistentEvent(pid, seq, self._decode(pid, seq, payload), ts, split_tags(tags),
                            position, read_metadata(meta))
            for pid, seq, payload, tags, ts, position, meta in rows
        ]

    async def visibility_horizon(self) -> tuple[int, bool]:
        """``(horizon, held_back)``: tag queries read positions below ``horizon``;
        ``held_back`` is true when committed events wait at or above it (a transaction
        that started writing before them is still open)."""
        await self._require_positions()
        row = await self._db.fetch_one("visibility horizon", self._horizon_sql, {})
        assert row is not None
        return int(row[0]), bool(row[1])

    def _decode(self, pid: str, seq: int, payload: str) -> Any:
        return decode_stored(self.codec, payload, what="event", persistence_id=pid,
                             sequence_nr=seq)

    def within(self, conn: AsyncConnection[Any]) -> JournalInTransaction:
        """This journal's ``append`` / ``read`` / ``highest_seq`` inside ``conn``'s open
        transaction (a projection's ``ctx.journal``; see :mod:`._journal_within`)."""
        from ._journal_within import JournalInTransaction

        return JournalInTransaction(self, conn)

    # -- live notifications -----------------------------------------------------------
    async def wait_for_appends(self, timeout: float) -> bool:
        """Wait for a NOTIFY from an append, at most ``timeout`` seconds.

        Listens on a dedicated connection; if it cannot be (re)established the call
        simply sleeps ``timeout`` (polling fallback) and tries to reconnect next time.
        """
        if self._listener is None:
            self._listener = Listener(self._db, self.channel)
        return await self._listener.wait(timeout)

    async def close(self) -> None:
        """Stop listening and close the pool if this journal built it."""
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        await super().close()
