"""The workbench side: journal_frame's event_type / correlation_id / causation_id
columns and wb.trace."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from actorpg_lab import JournalEntry, metadata
from actorpg_lab.postgres import PostgresJournal

from ._model import SEAT, seat


async def _seed(pg_pool: Any) -> None:
    journal = PostgresJournal(pool=pg_pool)
    with metadata(correlation_id="req-1", causation_id="cmd-1"):
        await journal.append("a", [seat(1, 0, "t"), JournalEntry({"plain": 1})], 0)
    with metadata(correlation_id="req-2"):
        await journal.append("b", [seat(2, 0)], 0)
    await journal.append("b", [JournalEntry({"plain": 2})], 1)
    with metadata(correlation_id="req-1", causation_id="a#1"):
        await journal.append("c", [seat(3, 0)], 0)
    await journal.close()


async def test_trace_columns(pg_pool: Any, wb: Any) -> None:
    await _seed(pg_pool)
    frame = wb.trace("req-1")
    assert list(frame.columns) == [*[c for c in wb.journal_frame().columns if c != "payload"],
                                   "event_type", "correlation_id", "causation_id", "payload"]


async def test_trace_across_streams(pg_pool: Any, wb: Any) -> None:
    await _seed(pg_pool)
    frame = pd.concat([wb.trace("req-1"), wb.trace("req-2")]).sort_values(
        ["persistence_id", "sequence_nr"])
    types = [None if pd.isna(t) else t for t in frame["event_type"]]
    assert types == [SEAT, None, SEAT, SEAT]
    assert [None if pd.isna(c) else c for c in frame["correlation_id"]] == [
        "req-1", "req-1", "req-2", "req-1"]
    assert [None if pd.isna(c) else c for c in frame["causation_id"]] == [
        "cmd-1", "cmd-1", None, "a#1"]
    trace = wb.trace("req-1")
    assert list(zip(trace["persistence_id"].astype(str), trace["sequence_nr"], strict=True)) == [
        ("a", 1), ("a", 2), ("c", 1)]
    assert len(wb.trace("nobody")) == 0


async def test_condition_failures_reach_the_conflict_log(pg_pool: Any, wb: Any) -> None:
    from actorpg_lab import AppendCondition, AppendConditionError, Query, QueryItem

    journal = PostgresJournal(pool=pg_pool, log_conflicts=True, writer="decider")
    q = Query([QueryItem(tags=["t"])])
    await journal.append("a", [seat(1, 0, "t")], 0)
    try:
        await journal.append("b", [seat(2, 0, "t")], 0, condition=AppendCondition(q, None))
    except AppendConditionError:
        pass
    else:
        raise AssertionError("the condition did not fail")
    await journal.close()
    conflicts = wb.conflicts_frame()
    row = conflicts[conflicts["persistence_id"] == "b"].iloc[0]
    assert (row["expected"], row["actual"], row["writer"]) == (0, 0, "decider")


async def test_causation_tree_hangs_events_under_their_cause(pg_pool: Any, wb: Any) -> None:
    from actorpg_lab import lab

    await _seed(pg_pool)
    tree = lab.causation_tree(wb.trace("req-1"))
    assert tree.parents == {"a#1": "cmd-1", "a#2": "cmd-1", "c#1": "a#1"}
    assert str(tree).splitlines() == [
        "command cmd-1",
        f"├─ a#1  {SEAT}",
        f"│  └─ c#1  {SEAT}",
        "└─ a#2  (plain JSON)",
    ]
    assert "<pre" in tree._repr_html_()
    frame = wb.trace("req-2")
    assert str(lab.causation_tree(frame)) == f"(no causation id)\n└─ b#1  {SEAT}"
    assert str(lab.causation_tree(wb.trace("nobody"))) == ""
    with pytest.raises(ValueError, match="missing columns"):
        lab.causation_tree(pd.DataFrame({"x": [1]}))
