"""read_matching through ``<events>_read_matching_v1`` (its generic plan, prepared on the
warm connection) and through its statement (a database without the function): the
same events and tokens; the function's plan is index-driven and bounded below by the
token whatever the statistics say; an existing journal without the function gets it
when opened, and one that may not create it keeps the statement."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from actorpg_lab import AppendCondition, AppendConditionError, JournalEntry, Query, QueryItem
from actorpg_lab.postgres import PostgresJournal
from actorpg_lab.postgres._sql import statement
from actorpg_lab.query import TagOffset

from ._model import SEAT, few_distinct_tags, seat

_QUERIES = {
    "types": [QueryItem(types=[SEAT])],
    "tag": [QueryItem(tags=["course:x"])],
    "types_and_tags": [QueryItem(types=[SEAT], tags=["course:x", "b"])],
    "two_items": [QueryItem(tags=["course:y"]), QueryItem(types=[SEAT], tags=["course:x"])],
    "all": [],
}


async def _fill(journal: PostgresJournal) -> None:
    await journal.append("s", [seat(1, 0, "course:x"), seat(1, 1, "course:x", "b"),
                               JournalEntry({"plain": 1}, tags=("course:x",))], 0)
    await journal.append("t", [seat(2, 0, "course:y"), seat(2, 1)], 0)
    await journal.append("u", [JournalEntry({"plain": 2}, tags=("course:y", "b"))], 0)


def _keys(read: Any) -> list[tuple[int, str, int]]:
    return [t.event.key for t in read.events]


@pytest.mark.parametrize("name", list(_QUERIES))
async def test_the_function_reads_what_the_statement_reads(pg_pool: Any, name: str) -> None:
    journal = PostgresJournal(pool=pg_pool)
    await _fill(journal)
    query = Query(_QUERIES[name])
    first = await journal.read_matching(query)
    assert journal._read_matching_function
    journal._read_matching_function = False  # the statement, as without the function
    try:
        cases: list[tuple[Any, int | None]] = [(None, None), (None, 2), (first.token, None)]
        if first.events:
            cases.append((TagOffset(*first.events[0].event.key), None))
        seen = []
        for after, limit in cases:
            journal._read_matching_function = False
            old = await journal.read_matching(query, after=after, limit=limit)
            journal._read_matching_function = True
            new = await journal.read_matching(query, after=after, limit=limit)
            assert new.events == old.events
            assert new.token.upto == old.token.upto
            seen.append(_keys(new))
        assert seen[0] == _keys(first) and seen[1] == _keys(first)[:2]
        await journal.append("v", [seat(3, 0, "course:x", "b")], 0)
        newer = await journal.read_matching(query, after=first.token)
        assert [k[1] for k in _keys(newer)] == ["v"]
    finally:
        await journal.close()


async def _function_plans(pg_pool: Any, journal: PostgresJournal, query: Query,
                          after: Any, session: tuple[str, ...] = ()) -> str:
    """The plan of the statement inside the function, as auto_explain reports it
    (``session``: settings made in the calling session first, reset after)."""
    params, _ = journal._match_params(query, after)
    params["limit"] = None
    call = statement("journal_read_matching_call", function="events_read_matching_v1")
    notes: list[str] = []

    def note(diagnostic: Any) -> None:
        notes.append(diagnostic.message_primary or "")

    async with pg_pool.connection() as conn:
        conn.add_notice_handler(note)
        await conn.execute("LOAD 'auto_explain'")
        for setting, value in (("log_min_duration", "0"), ("log_nested_statements", "on"),
                               ("log_level", "notice")):
            await conn.execute(f"SET auto_explain.{setting} = {value}")
        for setting in session:
            await conn.execute(f"SET {setting}")
        try:
            for _ in range(7):  # past the custom plans a cached plan may start with
                notes.clear()
                cur = await conn.execute(call, journal._read_params(params))
                await cur.fetchall()
        finally:
            await conn.execute("RESET auto_explain.log_min_duration")
            for setting in session:
                await conn.execute(f"RESET {setting.split(' = ')[0]}")
            conn.remove_notice_handler(note)
    plans = [n for n in notes if "pg_current_snapshot" in n]
    assert plans, notes
    return plans[0]


@pytest.mark.parametrize("name", ["types", "tag", "types_and_tags", "all"])
async def test_the_function_plan_is_index_driven_among_few_distinct_tags(
    pg_pool: Any, name: str,
) -> None:
    """Statistics saying every event carries one tag and one type: each branch still
    runs from its index, bounded below by the token (the function's generic plan knows
    neither the tags nor the bound)."""
    journal = PostgresJournal(pool=pg_pool)
    await few_distinct_tags(pg_pool, journal, 1000)
    items = {"types": [QueryItem(types=[SEAT])], "tag": [QueryItem(tags=["rare"])],
             "types_and_tags": [QueryItem(types=[SEAT], tags=["rare"])], "all": []}[name]
    read = await journal.read_matching(Query(items))
    plan = await _function_plans(pg_pool, journal, Query(items), read.token)
    assert "Seq Scan on events" not in plan, plan
    if name in ("tag", "types_and_tags"):
        assert "on events_tags_by_position" in plan and '"position" >=' in plan, plan
    if name == "types":
        assert "Index Scan using events_by_type" in plan, plan
    if name == "all":
        assert "events_by_position" in plan, plan
    await journal.close()


@pytest.mark.parametrize("name", ["tag", "all"])
async def test_the_function_never_starts_parallel_workers(pg_pool: Any, name: str) -> None:
    """Parallel query made free in the calling session (what a large journal's costs
    amount to: from ~3M events the generic plan gave the Query.all() branch a Gather, and
    its two workers were started at every read, +3 ms, whether the branch ran or not):
    the function's plan still has no Gather."""
    journal = PostgresJournal(pool=pg_pool)
    await few_distinct_tags(pg_pool, journal, 500)
    items = {"tag": [QueryItem(tags=["rare"])], "all": []}[name]
    read = await journal.read_matching(Query(items))
    plan = await _function_plans(pg_pool, journal, Query(items), read.token, session=(
        "parallel_setup_cost = 0", "parallel_tuple_cost = 0",
        "min_parallel_table_scan_size = 0", "min_parallel_index_scan_size = 0"))
    assert "Gather" not in plan and "Parallel" not in plan, plan
    await journal.close()


async def test_a_journal_without_the_function_gets_it_and_one_that_may_not_reads_anyway(
    pg_url: str, pg_pool: Any,
) -> None:
    """A journal from before the function (an earlier version's tables): opening it
    creates the function; with auto_create_tables=False it stays missing and
    read_matching runs the statement, deciding the same."""
    first = PostgresJournal(pool=pg_pool)
    await first.append("s", [seat(1, 0, "course:x")], 0)
    await first.close()
    async with pg_pool.connection() as conn:
        await conn.execute("DROP FUNCTION events_read_matching_v1")
    q = Query([QueryItem(types=[SEAT], tags=["course:x"])])
    manual = PostgresJournal(url=pg_url, auto_create_tables=False)
    try:
        read = await manual.read_matching(q)
        assert not manual._read_matching_function and _keys(read)[0][1:] == ("s", 1)
        await manual.append("p", [seat(2, 0, "course:x")], 0)
        with pytest.raises(AppendConditionError):
            await manual.append("c", [seat(3, 0, "course:x")], 0,
                                condition=AppendCondition(q, read.token))
    finally:
        await manual.close()
    again = PostgresJournal(pool=pg_pool)
    try:
        read = await again.read_matching(q)
        assert again._read_matching_function and [k[1] for k in _keys(read)] == ["s", "p"]
    finally:
        await again.close()
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        cur = await conn.execute("SELECT to_regprocedure('events_read_matching_v1(boolean, "
                                 "text, text, text, text, bigint, text, text, bigint, json, "
                                 "json, json, bigint)') IS NOT NULL")
        assert await cur.fetchone() == (True,)
