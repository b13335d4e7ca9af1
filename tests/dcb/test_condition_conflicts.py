"""Failed conditions in the conflict log (log_conflicts=True) and the in-process
recorder: two writers racing on one boundary against PostgreSQL, every loss recorded as
kind "condition" naming the winner's event, the query and the loser, and drawn in both
conflict timelines."""

from __future__ import annotations

import asyncio
from typing import Any

import pandas as pd
import pytest

from actorpg_lab import (
    AppendCondition,
    AppendConditionError,
    JournalConcurrencyError,
    PersistentEvent,
    Query,
    QueryItem,
)
from actorpg_lab.postgres import PostgresJournal

from ._model import SEAT, seat

ROUNDS = 6
OLD_TABLE = ("CREATE TABLE {} (persistence_id TEXT NOT NULL, id BIGINT GENERATED ALWAYS AS "
             "IDENTITY, expected BIGINT NOT NULL, actual BIGINT NOT NULL, writer TEXT NOT "
             "NULL, timestamp BIGINT NOT NULL, PRIMARY KEY (persistence_id, id))")


async def _sql(pg_pool: Any, statement: str) -> list[tuple[Any, ...]]:
    async with pg_pool.connection() as conn:
        cur = await conn.execute(statement)
        return await cur.fetchall() if cur.description else []


@pytest.fixture(autouse=True)
def _close_figures() -> Any:
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


async def _race(pg_pool: Any) -> tuple[list[PersistentEvent], list[AppendConditionError]]:
    """``ROUNDS`` rounds: alice and bob read the course's boundary, then both try to
    take its next seat at the same moment (their own streams, one shared tag)."""
    query = Query([QueryItem(types=[SEAT], tags=["course:c1"])])
    journals = {name: PostgresJournal(pool=pg_pool, log_conflicts=True, writer=name)
                for name in ("alice", "bob")}
    heads = dict.fromkeys(journals, 0)
    won: list[PersistentEvent] = []
    lost: list[AppendConditionError] = []
    try:
        for _ in range(ROUNDS):
            reads = {n: await j.read_matching(query) for n, j in journals.items()}
            outcomes = await asyncio.gather(*(
                j.append(f"student-{n}", [seat(i, len(reads[n].events), "course:c1")],
                         heads[n], condition=AppendCondition(query, reads[n].token))
                for i, (n, j) in enumerate(journals.items())), return_exceptions=True)
            for name, outcome in zip(journals, outcomes, strict=True):
                if isinstance(outcome, AppendConditionError):
                    lost.append(outcome)
                else:
                    assert isinstance(outcome, list), outcome
                    won.extend(outcome)
                    heads[name] += 1
    finally:
        for journal in journals.values():
            await journal.close()
    return won, lost


async def test_each_lost_race_is_a_condition_row_naming_the_winner(pg_pool: Any,
                                                                   wb: Any) -> None:
    with wb.record_conflicts() as rec:
        won, lost = await _race(pg_pool)
    assert len(won) == ROUNDS and len(lost) == ROUNDS  # exactly one winner per round
    assert [e.event.seen for e in won] == list(range(ROUNDS))
    by_key = {e.key: e for e in won}
    assert all(exc.conflict in by_key for exc in lost)  # each loss names a winner's event

    conflicts = wb.conflicts_frame()
    assert len(conflicts) == ROUNDS
    assert set(conflicts["kind"].astype(str)) == {"condition"}
    for (_, row), exc in zip(conflicts.iterrows(), lost, strict=True):
        winner = by_key[exc.conflict]
        assert row["persistence_id"] == exc.persistence_id
        assert row["writer"] == exc.persistence_id.removeprefix("student-")
        assert (row["conflict_persistence_id"], row["conflict_sequence_nr"],
                row["conflict_position"]) == (winner.persistence_id, winner.sequence_nr,
                                              winner.position)
        assert row["query"] == exc.query and "course:c1" in row["query"]
        assert row["expected"] == row["actual"]  # the head was not the problem

    attempts = rec.frame()
    failed = attempts[attempts["outcome"] == "conflict"]
    assert len(failed) == ROUNDS and set(failed["kind"].astype(str)) == {"condition"}
    assert sorted(zip(failed["conflict_persistence_id"], failed["conflict_sequence_nr"],
                      strict=True)) == sorted((e.conflict[1], e.conflict[2]) for e in lost)
    assert attempts[attempts["outcome"] == "ok"]["kind"].isna().all()

    # both timelines draw the failed conditions as their own series
    ax = wb.plot_conflicts()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [f"condition ({ROUNDS})"]
    labels = {t.get_text() for t in ax.texts}
    assert {f"⊘{e.conflict[1]}#{e.conflict[2]}" for e in lost} <= labels
    ax = rec.plot_timeline()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        f"ok ({ROUNDS})", f"condition ({ROUNDS})"]
    chart = wb.charts.conflicts()
    [trace] = chart.figure.data
    assert trace.name == f"condition ({ROUNDS})" and trace.marker.symbol == "diamond"
    first = by_key[lost[0].conflict]
    assert list(trace.customdata[0])[:4] == [lost[0].persistence_id, first.persistence_id,
                                             str(first.sequence_nr), str(first.position)]
    assert "found %{customdata[1]} #%{customdata[2]}" in trace.hovertemplate


async def test_head_conflicts_and_old_tables_read_as_kind_head(pg_pool: Any,
                                                               wb: Any) -> None:
    journal = PostgresJournal(pool=pg_pool, log_conflicts=True, writer="w")
    await journal.append("a", [seat(1, 0)], 0)
    with pytest.raises(JournalConcurrencyError) as raised:
        await journal.append("a", [seat(1, 0)], 0)
    assert not isinstance(raised.value, AppendConditionError)
    await journal.close()
    # a conflicts table created before condition rows (no kind/query/conflict columns)
    await _sql(pg_pool, OLD_TABLE.format("old_conflicts"))
    await _sql(pg_pool, "INSERT INTO old_conflicts (persistence_id, expected, actual, writer, "
                        "timestamp) VALUES ('x', 1, 2, 'old', 0)")
    from actorpg_lab.lab.history.stored import load_conflicts

    frame = pd.concat([wb.conflicts_frame(),
                       load_conflicts(wb.frames, [("journal", "old_conflicts")])])
    assert list(frame["kind"].astype(str)) == ["head", "head"]
    assert frame["conflict_persistence_id"].isna().all()
    assert frame["conflict_sequence_nr"].isna().all()


async def test_an_older_conflicts_table_is_migrated(pg_pool: Any) -> None:
    await _sql(pg_pool, OLD_TABLE.format("events_conflicts"))
    journal = PostgresJournal(pool=pg_pool, log_conflicts=True, writer="w")
    query = Query([QueryItem(tags=["t"])])
    await journal.append("a", [seat(1, 0, "t")], 0)
    try:
        await journal.append("b", [seat(2, 0, "t")], 0, condition=AppendCondition(query))
    except AppendConditionError:
        pass
    else:
        raise AssertionError("the condition did not fail")
    await journal.close()
    rows = await _sql(pg_pool, "SELECT kind, conflict_pid, conflict_seq FROM events_conflicts")
    assert rows == [("condition", "a", 1)]


async def test_the_memory_journal_reports_the_same_attempt(wb: Any) -> None:
    from actorpg_lab.memory import InMemoryJournal

    journal = InMemoryJournal()
    query = Query([QueryItem(types=[SEAT])])
    [first] = await journal.append("a", [seat(1, 0)], 0)
    with wb.record_conflicts() as rec, pytest.raises(AppendConditionError) as raised:
        await journal.append("b", [seat(2, 0)], 0, condition=AppendCondition(query))
    [row] = rec.frame().to_dict("records")
    assert (row["outcome"], row["kind"], row["conflict_persistence_id"],
            row["conflict_sequence_nr"], row["conflict_position"], row["query"]) == (
        "conflict", "condition", "a", 1, first.position, raised.value.query)
