"""Pre-provisioned databases (migrate_dcb.sql), D8 aliases over old rows, and D9's
load-independent half: every condition check and decision read is index-driven and
bounded below by the token, so its cost follows what is new, not the journal's size
(the latency figures are bench rows)."""

from __future__ import annotations

import asyncio
import logging
from importlib import resources
from typing import Any

import psycopg
import pytest

from actorpg_lab import (
    AppendCondition,
    AppendConditionError,
    JournalEntry,
    JournalError,
    Query,
    QueryItem,
    TagFilter,
    default_codec,
)
from actorpg_lab.postgres import PostgresJournal

from ._model import SEAT, Seat, few_distinct_tags, seat


def _script_text() -> str:
    return resources.files("actorpg_lab.postgres").joinpath("sql", "migrate_dcb.sql").read_text()


def _script() -> list[str]:
    """migrate_dcb.sql's statements, as psql runs them (a statement ends with ';' at the
    end of a line outside a dollar-quoted function body)."""
    statements: list[str] = []
    current: list[str] = []
    quoted = False
    for line in _script_text().splitlines():
        if not quoted and line.startswith("--"):
            continue
        current.append(line)
        quoted ^= (line.count("$append_if$") + line.count("$read_matching$")) % 2 == 1
        if not quoted and line.rstrip().endswith(";"):
            statements.append("\n".join(current).strip().rstrip(";"))
            current = []
    if "\n".join(current).strip():
        statements.append("\n".join(current).strip())
    return [s for s in statements if s]


def test_the_script_creates_the_conditional_append_function_the_journal_creates() -> None:
    """migrate_dcb.sql carries the function's text verbatim (for the default table
    names): a change of journal_append_if*.sql must be pasted there too."""
    from actorpg_lab.postgres._journal_schema import append_if_function

    text = append_if_function("events", "events_tags", "events_meta").as_string(None)
    assert text.strip() + ";" in _script_text(), (
        "migrate_dcb.sql is out of date; paste this function text into it:\n" + text)


def test_the_script_creates_the_read_matching_function_the_journal_creates() -> None:
    """The same for read_matching's function (journal_read_matching_function.sql)."""
    from actorpg_lab.postgres._journal_schema import read_matching_function

    text = read_matching_function("events", "events_tags").as_string(None)
    assert text.strip() + ";" in _script_text(), (
        "migrate_dcb.sql is out of date; paste this function text into it:\n" + text)


async def test_unmigrated_database_names_the_script(pg_url: str, pg_pool: Any) -> None:
    first = PostgresJournal(pool=pg_pool)
    await first.append("p", [JournalEntry({"n": 1})], 0)
    await first.close()
    async with pg_pool.connection() as conn:
        await conn.execute("DROP INDEX events_by_type")
        await conn.execute("DROP FUNCTION events_type_v1(text)")
        await conn.execute("DROP FUNCTION events_append_if_v1")
        await conn.execute("DROP FUNCTION events_read_matching_v1")
    journal = PostgresJournal(pool=pg_pool, auto_create_tables=False)
    q = Query([QueryItem(types=[SEAT])])
    with pytest.raises(JournalError, match=r"migrate_dcb\.sql"):
        await journal.append("c", [seat(1, 0)], 0, condition=AppendCondition(q))
    with pytest.raises(JournalError, match=r"migrate_dcb\.sql"):
        await journal.read_matching(q)
    await journal.append("p", [seat(1, 0, "t")], 1)  # plain appends keep working
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        for statement in _script():
            await conn.execute(statement)
    await journal.append("c", [seat(1, 0)], 0, condition=AppendCondition(
        Query([QueryItem(types=["nope"])])))
    assert [t.event.persistence_id for t in (await journal.read_matching(q)).events] == ["p", "c"]
    assert journal._append_if_function  # the script created the one-statement path
    assert journal._read_matching_function
    await journal.close()


async def test_without_the_append_if_function_conditional_appends_still_hold(
    pg_url: str, pg_pool: Any
) -> None:
    """A database migrated with an earlier migrate_dcb.sql has the type function and
    index but no events_append_if_v1: conditional appends run as a pipeline of
    statements, with the same outcomes (exactly one winner of a race, failed conditions
    naming the event)."""
    first = PostgresJournal(pool=pg_pool)
    await first.highest_seq("x")
    await first.close()
    async with pg_pool.connection() as conn:
        await conn.execute("DROP FUNCTION events_append_if_v1")
    journal = PostgresJournal(url=pg_url, auto_create_tables=False,
                              pool_config={"max_size": 10})
    q = Query([QueryItem(types=[SEAT], tags=["course:x"])])
    try:
        reads = [await journal.read_matching(q) for _ in range(8)]
        assert not journal._append_if_function

        async def attempt(w: int) -> bool:
            try:
                await journal.append(f"w-{w}", [seat(w, 0, "course:x")], 0,
                                     condition=AppendCondition(q, reads[w].token))
            except AppendConditionError as exc:
                assert exc.conflict[1].startswith("w-")
                return False
            return True

        won = await asyncio.gather(*(attempt(w) for w in range(8)))
        assert sum(won) == 1
        unrelated = await asyncio.gather(*(
            journal.append(f"u-{w}", [seat(w, 0, f"course:u{w}")], 0, condition=AppendCondition(
                Query([QueryItem(tags=[f"course:u{w}"])]), None)) for w in range(8)))
        assert [len(r) for r in unrelated] == [1] * 8
    finally:
        await journal.close()


async def test_d8_aliases_match_old_rows_and_lock(pg_url: str, pg_pool: Any) -> None:
    journal = PostgresJournal(pool=pg_pool)
    await journal.highest_seq("x")
    old_payload = default_codec.encode(Seat(0, 0)).replace(SEAT, "tests.dcb.OldSeat")
    async with pg_pool.connection() as conn:
        await conn.execute("INSERT INTO events (persistence_id, sequence_nr, payload, tags, "
                           "timestamp) VALUES ('old', 1, %s, '', 0)", [old_payload])
    by_new = await journal.read_matching(Query([QueryItem(types=[SEAT])]))
    by_old = await journal.read_matching(Query([QueryItem(types=["tests.dcb.OldSeat"])]))
    assert [t.event.persistence_id for t in by_new.events] == ["old"]
    assert by_old.events == by_new.events and by_new.events[0].event.event_type == SEAT
    with pytest.raises(AppendConditionError) as info:
        await journal.append("n", [seat(1, 0)], 0, condition=AppendCondition(
            Query([QueryItem(types=["tests.dcb.OldSeat"])])))
    assert info.value.event_type == "tests.dcb.OldSeat"  # as stored
    # a condition on the alias holds back a writer of the current name
    read = await journal.read_matching(Query([QueryItem(types=["tests.dcb.OldSeat"])]))
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        await journal.append_in_transaction(conn, "late", [seat(2, 0)], 0)
        task = asyncio.ensure_future(journal.append("n", [seat(1, 1)], 0, condition=AppendCondition(
            Query([QueryItem(types=["tests.dcb.OldSeat"])]), read.token)))
        await asyncio.sleep(0.4)
        assert not task.done()
        await conn.commit()
    with pytest.raises(AppendConditionError):
        await task
    await journal.close()


async def _plans(pg_pool: Any, journal: PostgresJournal, query: Query, after: Any) -> str:
    params, _ = journal._match_params(query, after)
    params["limit"] = None
    async with pg_pool.connection() as conn:
        await conn.execute("SET enable_seqscan = off")  # tiny test tables: ask for the plan
        cur = await conn.execute(psycopg.sql.SQL("EXPLAIN ")
                                 + journal._dcb_statement("journal_read_matching", query), params)
        return "\n".join(r[0] for r in await cur.fetchall())


@pytest.mark.parametrize("items", [
    [QueryItem(types=[SEAT])],
    [QueryItem(tags=["course:x"])],
    [QueryItem(types=[SEAT], tags=["course:x", "b"])],
    [],
], ids=["types", "tag", "types_and_tags", "all"])
async def test_d9_checks_are_index_range_scans(pg_pool: Any, items: list[QueryItem]) -> None:
    journal = PostgresJournal(pool=pg_pool)
    await journal.append("s", [seat(1, 0, "course:x")], 0)
    read = await journal.read_matching(Query(items))
    plan = await _plans(pg_pool, journal, Query(items), read.token)
    assert "Seq Scan on events" not in plan and "Seq Scan on events_tags" not in plan, plan
    assert '"position" >=' in plan, plan  # bounded below by the token
    await journal.close()


@pytest.mark.parametrize("items", [
    [QueryItem(types=[SEAT])],
    [QueryItem(tags=["course:x"])],
    [QueryItem(types=[SEAT], tags=["course:x", "b"])],
    [],
], ids=["types", "tag", "types_and_tags", "all"])
async def test_d9_condition_checks_are_index_range_scans(pg_pool: Any,
                                                         items: list[QueryItem]) -> None:
    """The conditional-append statement (one member, as a lone append sends it): every
    branch of the check is an index scan bounded below by the token."""
    from actorpg_lab.postgres._journal import _Conditional

    journal = PostgresJournal(pool=pg_pool)
    await journal.append("s", [seat(1, 0, "course:x")], 0)
    read = await journal.read_matching(Query(items))
    request = journal._request("t", [seat(2, 0, "course:y")], 0)
    assert request is not None
    params, exclusive = journal._match_params(Query(items), read.token)
    params.update(pid="t", expected=0, payloads=request.payloads, tags_csv=["course:y"],
                  metas=request.metas_param())
    group = journal._group_params([_Conditional(request, Query(items), params,
                                                frozenset(exclusive))])
    async with pg_pool.connection() as conn:
        await conn.execute("SET enable_seqscan = off")
        try:
            cur = await conn.execute(b"EXPLAIN " + journal._append_if_sql, group)
            plan = "\n".join(r[0] for r in await cur.fetchall())
        finally:
            await conn.execute("RESET enable_seqscan")
    assert "Seq Scan on events " not in plan and "Seq Scan on events_tags" not in plan, plan
    # Each branch that can run is bounded below by the request's lo; the tag branch is
    # driven by the tag index, the types branch by the type index.
    assert '"position" >= req.lo' in plan, plan
    if any(i.tags for i in items):
        assert 'Index Cond: ((tag = i.tag) AND ("position" >= req.lo))' in plan, plan
    if any(not i.tags for i in items):
        assert "Index Scan using events_by_type" in plan, plan
    await journal.close()


async def test_journal_without_the_metadata_column(pg_pool: Any,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    from actorpg_lab import metadata

    first = PostgresJournal(pool=pg_pool)
    await first.append("p", [JournalEntry({"n": 1})], 0)
    await first.close()
    async with pg_pool.connection() as conn:
        await conn.execute("ALTER TABLE events DROP COLUMN metadata")
    journal = PostgresJournal(pool=pg_pool, auto_create_tables=False)
    with caplog.at_level(logging.WARNING, logger="actorpg_lab"):
        await journal.append("p", [JournalEntry({"n": 2}), JournalEntry({"n": 3})], 1)
    # The warning names the script that adds THIS column (not the positions one).
    assert "events.metadata" in caplog.text and "migrate_metadata.sql" in caplog.text
    assert "migrate_positions.sql" not in caplog.text
    with metadata(correlation_id="req"):  # from the context: left out
        await journal.append("p", [JournalEntry({"n": 4})], 3)
    with pytest.raises(JournalError, match=r"migrate_metadata\.sql"):
        await journal.append("p", [JournalEntry({"n": 5}, metadata={"a": "b"})], 4)
    events = await journal.read("p")
    assert [e.sequence_nr for e in events] == [1, 2, 3, 4]
    assert all(e.metadata == {} for e in events)
    assert len(await journal.read_by_tag(TagFilter(all=("none",)))) == 0
    await journal.close()


async def _is_strict(pg_pool: Any) -> bool:
    async with pg_pool.connection() as conn:
        cur = await conn.execute("SELECT proisstrict FROM pg_proc "
                                 "WHERE oid = to_regprocedure('events_type_v1(text)')")
        row = await cur.fetchone()
    assert row is not None
    return bool(row[0])


async def test_an_earlier_strict_type_function_is_replaced_on_open(pg_pool: Any) -> None:
    """Journals created before this version have a STRICT type function (never inlined
    by the planner: slower per row).  Opening one replaces it with the inlinable body;
    the results are the same, so the index built on the old one keeps answering."""
    first = PostgresJournal(pool=pg_pool)
    await first.append("s", [seat(1, 0, "course:x"), JournalEntry({"plain": 1})], 0)
    await first.close()
    assert not await _is_strict(pg_pool)
    async with pg_pool.connection() as conn:
        await conn.execute("ALTER FUNCTION events_type_v1(text) STRICT")
    assert await _is_strict(pg_pool)
    journal = PostgresJournal(pool=pg_pool)
    await journal.append("t", [seat(2, 0, "course:y")], 0)
    assert not await _is_strict(pg_pool)
    read = await journal.read_matching(Query([QueryItem(types=[SEAT])]))
    assert [(t.event.persistence_id, t.event.event) for t in read.events] == \
        [("s", Seat(1, 0)), ("t", Seat(2, 0))]
    async with pg_pool.connection() as conn:
        cur = await conn.execute(
            "SELECT events_type_v1(NULL), events_type_v1('{\"plain\": 1}'), "
            "(SELECT indisvalid FROM pg_index WHERE indexrelid = 'events_by_type'::regclass)")
        assert await cur.fetchone() == (None, None, True)
    plan = await _plans(pg_pool, journal, Query([QueryItem(types=[SEAT])]), read.token)
    assert "events_by_type" in plan, plan
    await journal.close()


async def test_a_preprovisioned_conflict_log_gets_its_condition_columns_from_the_script(
    pg_url: str, pg_pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A conflicts table from before condition logging, with auto_create_tables=False:
    the warning names migrate_dcb.sql, whose ALTER adds the columns; then a failed
    condition is recorded."""
    first = PostgresJournal(pool=pg_pool, log_conflicts=True)
    await first.append("p", [seat(1, 0, "course:x")], 0)
    await first.close()
    async with pg_pool.connection() as conn:
        await conn.execute("ALTER TABLE events_conflicts DROP COLUMN kind, DROP COLUMN query, "
                           "DROP COLUMN conflict_position, DROP COLUMN conflict_pid, "
                           "DROP COLUMN conflict_seq")
    journal = PostgresJournal(pool=pg_pool, auto_create_tables=False, log_conflicts=True)
    with caplog.at_level(logging.WARNING, logger="actorpg_lab"):
        await journal.highest_seq("p")
    assert "events_conflicts.kind" in caplog.text and "migrate_dcb.sql" in caplog.text
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        for statement in _script():
            await conn.execute(statement)
    await journal.close()
    journal = PostgresJournal(pool=pg_pool, auto_create_tables=False, log_conflicts=True)
    q = Query([QueryItem(types=[SEAT], tags=["course:x"])])
    with pytest.raises(AppendConditionError):
        await journal.append("c", [seat(2, 0, "course:x")], 0,
                             condition=AppendCondition(q, None))
    async with pg_pool.connection() as conn:
        cur = await conn.execute("SELECT kind, conflict_pid, conflict_seq FROM events_conflicts")
        assert await cur.fetchall() == [("condition", "p", 1)]
    await journal.close()


async def test_d9_a_read_of_a_rare_tag_is_index_driven_among_few_distinct_tags(
    pg_pool: Any,
) -> None:
    """With statistics saying every event carries one of very few tags, a read of a tag
    no event carries must still probe the tag index (it used to be planned as a scan of
    every event: the array's tags have no statistics, so a join estimated them by the
    column's average)."""
    journal = PostgresJournal(pool=pg_pool)
    await few_distinct_tags(pg_pool, journal, 2000)
    for items in ([QueryItem(tags=["rare"])], [QueryItem(types=[SEAT], tags=["rare"])]):
        params, _ = journal._match_params(Query(items), None)
        params["limit"] = None
        async with pg_pool.connection() as conn:
            cur = await conn.execute(psycopg.sql.SQL("EXPLAIN ") + journal._dcb_statement(
                "journal_read_matching", Query(items)), params)
            plan = "\n".join(r[0] for r in await cur.fetchall())
        assert "events_tags_by_position" in plan, plan
        assert "Seq Scan on events" not in plan, plan
        assert "using events_by_position" not in plan, plan
        read = await journal.read_matching(Query(items))
        assert read.events == []
    await journal.close()
