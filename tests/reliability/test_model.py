"""Model-based tests (Hypothesis): the PostgreSQL stores against the in-memory model.

A :class:`~hypothesis.stateful.RuleBasedStateMachine` drives random sequences of
append / read / read_by_tag / delete / highest_seq / persistence_ids, snapshot
save / load_latest / load_before / delete (with a random ``keep_n``) and durable-state
upsert / load / delete — including stale expectations and bad input — against both
implementations; every result and every raised error must agree.  Each example gets
fresh table names on one shared pool, so examples are isolated and cheap.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from actorpg_lab import (
    DurableStateConcurrencyError,
    DurableStateRecord,
    InMemoryDurableStateStore,
    InMemoryJournal,
    InMemorySnapshotStore,
    JournalConcurrencyError,
    JournalEntry,
    PersistentEvent,
    Snapshot,
    TagFilter,
)
from actorpg_lab.postgres import PostgresDurableStateStore, PostgresJournal, PostgresSnapshotStore

PIDS = st.sampled_from(["a", "b", "ü🔥 x'); --"])
BAD_PIDS = st.sampled_from(["", "nul\x00", "\ud800", "x" * 1025])
SEQS = st.integers(min_value=0, max_value=14)
TAGS = st.lists(st.sampled_from(["t1", "t2", "🔥", "x'--"]), max_size=2)
BAD_TAGS = st.lists(st.sampled_from(["a,b", "", "n\x00"]), min_size=1, max_size=1)


def _json(leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaf,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                     max_size=3),
        max_leaves=6,
    )


#: Values that must round-trip.
GOOD_JSON = _json(st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
                  | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6))
#: Anything, including values both stores must reject (NaN, big ints, lone surrogates).
JSON = _json(st.none() | st.booleans() | st.integers(-(2**65), 2**65)
             | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=6)
             | st.just("\ud800"))
BAD_JSON = st.sampled_from([float("nan"), float("inf"), 2**64, -(2**63) - 1, "\ud800",
                            {"k": [1, float("-inf")]}])
EXPECTED = st.one_of(st.just("head"), st.just("head"), st.just("head"), SEQS)


def _normalize(value: Any) -> Any:
    """Results without server/client timestamps (the only field allowed to differ)."""
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    if isinstance(value, PersistentEvent):
        return ("event", value.persistence_id, value.sequence_nr, value.event, value.tags)
    if isinstance(value, Snapshot):
        return ("snapshot", value.persistence_id, value.sequence_nr, value.state)
    if isinstance(value, DurableStateRecord):
        return ("record", value.persistence_id, value.revision, value.state)
    return value


def _error_key(exc: BaseException) -> Any:
    if isinstance(exc, JournalConcurrencyError):
        return (type(exc), exc.persistence_id, exc.expected_seq, exc.actual_seq)
    if isinstance(exc, DurableStateConcurrencyError):
        return (type(exc), exc.persistence_id, exc.expected, exc.actual)
    if isinstance(exc, (ValueError, TypeError)):
        return (ValueError if isinstance(exc, ValueError) else TypeError,)
    return (type(exc), str(exc))  # anything else (e.g. JournalError) is a failure below


async def _all_snapshots(store: Any, pid: str) -> list[Any]:
    """Every snapshot of ``pid``, newest first, through load_latest/load_before only."""
    found = []
    snap = await store.load_latest(pid)
    while snap is not None:
        found.append(snap)
        snap = await store.load_before(pid, snap.sequence_nr)
    return found


class StoresMachine(RuleBasedStateMachine):
    loop: ClassVar[asyncio.AbstractEventLoop]
    pool: ClassVar[AsyncConnectionPool[Any]]
    steps: ClassVar[list[int]] = [0, 0]  # [operations, examples]

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[str] = []
        self.pg: tuple[Any, Any, Any] | None = None
        self.mem: tuple[Any, Any, Any] | None = None

    def run(self, coro: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def both(self, call: Callable[[Any], Awaitable[Any]], which: int) -> Any:
        """Run ``call`` on the Postgres store and on the model; results/errors must agree."""
        assert self.pg is not None and self.mem is not None
        self.steps[0] += 1
        outcomes = []
        for stores in (self.pg, self.mem):
            try:
                outcomes.append(("ok", _normalize(self.run(call(stores[which])))))
            except Exception as exc:
                outcomes.append(("error", _error_key(exc)))
        pg, mem = outcomes
        assert pg == mem, f"postgres {pg!r} != model {mem!r}"
        if pg[0] == "error":
            assert pg[1][0] in (ValueError, TypeError, JournalConcurrencyError,
                                DurableStateConcurrencyError), f"unexpected error {pg}"
        return pg

    @initialize(keep_n=st.integers(min_value=-1, max_value=3))
    def make_stores(self, keep_n: int) -> None:
        n = uuid.uuid4().hex[:10]
        self.tables = [f"e_{n}", f"e_{n}_tags", f"e_{n}_meta", f"s_{n}", f"d_{n}"]
        self.pg = (PostgresJournal(pool=self.pool, events_table=f"e_{n}", notify=False),
                   PostgresSnapshotStore(pool=self.pool, snapshots_table=f"s_{n}", keep_n=keep_n),
                   PostgresDurableStateStore(pool=self.pool, table=f"d_{n}"))
        self.mem = (InMemoryJournal(), InMemorySnapshotStore(keep_n=keep_n),
                    InMemoryDurableStateStore())
        self.steps[1] += 1

    def head(self, pid: str) -> int:
        assert self.mem is not None
        try:
            return int(self.run(self.mem[0].highest_seq(pid)))
        except ValueError:
            return 0

    # -- journal ----------------------------------------------------------------------
    @rule(pid=PIDS, batch=st.lists(st.tuples(GOOD_JSON, TAGS), max_size=4), expected=EXPECTED)
    def append(self, pid: str, batch: list[tuple[Any, list[str]]], expected: Any) -> None:
        seq = self.head(pid) if expected == "head" else expected
        entries = [JournalEntry(event, tuple(tags)) for event, tags in batch]
        self.both(lambda j: j.append(pid, entries, seq), 0)

    @rule(pid=PIDS, good=st.lists(st.tuples(GOOD_JSON, TAGS), max_size=2),
          bad=st.one_of(st.tuples(BAD_JSON, TAGS), st.tuples(GOOD_JSON, BAD_TAGS),
                        st.tuples(JSON, TAGS)))
    def append_with_a_bad_entry(self, pid: str, good: list[tuple[Any, list[str]]],
                                bad: tuple[Any, list[str]]) -> None:
        """A batch with one bad entry at the end: both reject all of it, or (a JSON
        value that happens to be fine) both accept it."""
        entries = [JournalEntry(e, tuple(t)) for e, t in [*good, bad]]
        seq = self.head(pid)
        self.both(lambda j: j.append(pid, entries, seq), 0)

    @rule(pid=BAD_PIDS, seq=st.integers(-2, 3))
    def bad_input_everywhere(self, pid: str, seq: int) -> None:
        self.both(lambda j: j.append(pid, [JournalEntry(1)], seq), 0)
        self.both(lambda j: j.read(pid, seq), 0)
        self.both(lambda j: j.delete("a", seq), 0)
        self.both(lambda s: s.save(pid, seq, 1), 1)
        self.both(lambda s: s.load_before("a", seq), 1)
        self.both(lambda d: d.upsert(pid, seq, 1), 2)
        self.both(lambda d: d.upsert("a", seq, float("nan")), 2)

    @rule(pid=PIDS, from_seq=SEQS, to_seq=st.none() | SEQS)
    def read(self, pid: str, from_seq: int, to_seq: int | None) -> None:
        self.both(lambda j: j.read(pid, from_seq, to_seq), 0)

    @rule(all_=st.lists(st.sampled_from(["t1", "t2", "🔥"]), max_size=2),
          any_=st.lists(st.sampled_from(["t1", "t2", "🔥"]), max_size=2),
          not_=st.lists(st.sampled_from(["t1", "t2", "🔥"]), max_size=1))
    def read_by_tag(self, all_: list[str], any_: list[str], not_: list[str]) -> None:
        # an empty any_ means "any not given" here (an explicit any=() matches nothing)
        async def call(j: Any) -> Any:  # timestamps differ between stores: compare as sets
            events = await j.read_by_tag(TagFilter(all=tuple(all_), any=tuple(any_) or None,
                                                   not_=tuple(not_)))
            return sorted(_normalize(events), key=repr)

        self.both(call, 0)

    @rule(pid=PIDS, to_seq=SEQS)
    def delete_events(self, pid: str, to_seq: int) -> None:
        self.both(lambda j: j.delete(pid, to_seq), 0)

    @rule(pid=PIDS)
    def highest_seq(self, pid: str) -> None:
        self.both(lambda j: j.highest_seq(pid), 0)

    @invariant()
    def everything_agrees(self) -> None:
        """After every step: all streams, heads, snapshots and records are the same."""
        if self.pg is None:
            return
        self.both(lambda j: j.persistence_ids(), 0)
        for pid in ("a", "b", "ü🔥 x'); --"):
            self.both(lambda j, pid=pid: j.read(pid), 0)  # type: ignore[misc]
            self.both(lambda j, pid=pid: j.highest_seq(pid), 0)  # type: ignore[misc]
            self.both(lambda s, pid=pid: _all_snapshots(s, pid), 1)  # type: ignore[misc]
            self.both(lambda d, pid=pid: d.load(pid), 2)  # type: ignore[misc]

    # -- snapshots --------------------------------------------------------------------
    @rule(pid=PIDS, seq=SEQS, state=GOOD_JSON)
    def save_snapshot(self, pid: str, seq: int, state: Any) -> None:
        self.both(lambda s: s.save(pid, seq, state), 1)

    @rule(pid=PIDS)
    def load_latest(self, pid: str) -> None:
        self.both(lambda s: s.load_latest(pid), 1)

    @rule(pid=PIDS, seq=SEQS)
    def load_before(self, pid: str, seq: int) -> None:
        self.both(lambda s: s.load_before(pid, seq), 1)

    @rule(pid=PIDS, to_seq=SEQS)
    def delete_snapshots(self, pid: str, to_seq: int) -> None:
        self.both(lambda s: s.delete(pid, to_seq), 1)

    # -- durable state ----------------------------------------------------------------
    @rule(pid=PIDS, expected=st.one_of(st.just("current"), st.just("current"),
                                       st.integers(0, 4)), state=GOOD_JSON)
    def upsert(self, pid: str, expected: Any, state: Any) -> None:
        if expected == "current":
            assert self.mem is not None
            try:
                record = self.run(self.mem[2].load(pid))
            except ValueError:
                record = None
            expected = record.revision if record else 0
        self.both(lambda d: d.upsert(pid, expected, state), 2)

    @rule(pid=PIDS)
    def load(self, pid: str) -> None:
        self.both(lambda d: d.load(pid), 2)

    @rule(pid=PIDS)
    def delete_record(self, pid: str) -> None:
        self.both(lambda d: d.delete(pid), 2)

    def teardown(self) -> None:
        if self.pg is None:
            return
        for store in self.pg:
            self.run(store.close())  # shared pool: stays open

        async def drop() -> None:
            async with self.pool.connection() as conn:
                for table in self.tables:
                    await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(
                        sql.Identifier(table)))

        self.run(drop())


def _with_pool(pg_url: str, body: Callable[[asyncio.AbstractEventLoop, Any], None]) -> None:
    loop = asyncio.new_event_loop()
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        pg_url, min_size=1, max_size=2, kwargs={"autocommit": True}, open=False)
    try:
        loop.run_until_complete(pool.open(wait=True))
        body(loop, pool)
    finally:
        loop.run_until_complete(pool.close())
        loop.close()


def test_postgres_stores_agree_with_the_in_memory_model(pg_url: str) -> None:
    def body(loop: asyncio.AbstractEventLoop, pool: Any) -> None:
        StoresMachine.loop, StoresMachine.pool = loop, pool
        StoresMachine.steps[:] = [0, 0]
        run_state_machine_as_test(StoresMachine, settings=settings(
            max_examples=30, stateful_step_count=25, deadline=None, database=None,
        ))
        print(f"\nFIGURES model: examples={StoresMachine.steps[1]} "
              f"compared operations={StoresMachine.steps[0]}")
        assert StoresMachine.steps[1] >= 30

    _with_pool(pg_url, body)


def test_any_json_value_round_trips_exactly_or_is_rejected_before_writing(pg_url: str) -> None:
    """Hypothesis-generated JSON (big ints, NaN, surrogates, unicode, nesting): the journal
    returns exactly what was appended, or raises ValueError and writes nothing."""
    counts = {"stored": 0, "rejected": 0}

    def body(loop: asyncio.AbstractEventLoop, pool: Any) -> None:
        journal = PostgresJournal(pool=pool, events_table="roundtrip", notify=False)

        @settings(max_examples=150, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(value=JSON, pid=st.text(min_size=1, max_size=20))
        def check(value: Any, pid: str) -> None:
            pid = pid.replace("\x00", "")
            if not pid:
                return
            head = loop.run_until_complete(journal.highest_seq(pid))
            try:
                loop.run_until_complete(journal.append(pid, [JournalEntry(value)], head))
            except ValueError:
                counts["rejected"] += 1
                assert loop.run_until_complete(journal.highest_seq(pid)) == head
                return
            counts["stored"] += 1
            [back] = loop.run_until_complete(journal.read(pid, head + 1, head + 1))
            assert back.event == value or (back.event != back.event and value != value)
            assert repr(back.event) == repr(value)  # exact: int stays int, -0.0 stays -0.0

        check()
        loop.run_until_complete(journal.close())

    _with_pool(pg_url, body)
    print(f"\nFIGURES json round trip: {counts}")
    assert counts["stored"] > 0 and counts["rejected"] > 0
