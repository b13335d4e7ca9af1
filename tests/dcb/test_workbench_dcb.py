"""The workbench side: journal_frame's event_type / correlation_id / causation_id
columns and wb.trace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from actorpg_lab import JournalEntry, TagFilter, metadata
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
    journal = wb.journal_frame()
    assert list(frame.columns) == list(journal.columns) == [
        "persistence_id", "sequence_nr", "position", "timestamp", "tags", "event_type",
        "correlation_id", "causation_id", "payload"]
    assert [str(t) for t in frame.dtypes.drop("persistence_id")] == [
        str(t) for t in journal.dtypes.drop("persistence_id")]


async def test_journal_and_tag_frames_carry_type_and_metadata(pg_pool: Any, wb: Any) -> None:
    """M1 in the frames: journal_frame, tag_frame (each SELECT shape), iter_journal and
    journal_dask show each event's type and ids; None for plain JSON / no metadata."""
    await _seed(pg_pool)
    expected = {("a", 1): (SEAT, "req-1", "cmd-1"), ("a", 2): (None, "req-1", "cmd-1"),
                ("b", 1): (SEAT, "req-2", None), ("b", 2): (None, None, None),
                ("c", 1): (SEAT, "req-1", "a#1")}

    def rows(frame: pd.DataFrame) -> dict[tuple[str, int], tuple[Any, ...]]:
        cells = frame[["event_type", "correlation_id", "causation_id"]].astype(object)
        return {(str(p), int(s)): tuple(None if pd.isna(v) else v for v in row)
                for p, s, row in zip(frame["persistence_id"], frame["sequence_nr"],
                                     cells.values.tolist(), strict=True)}

    assert rows(wb.journal_frame()) == expected
    assert str(wb.journal_frame()["event_type"].dtype) == "category"
    [streamed] = list(wb.iter_journal(batch_rows=10))
    assert rows(streamed) == expected
    assert rows(wb.journal_dask(npartitions=2).compute()) == expected
    tagged = {k: v for k, v in expected.items() if k == ("a", 1)}
    assert rows(wb.tag_frame("t")) == tagged  # driven by one tag's index
    assert rows(wb.tag_frame(TagFilter(any=["t", "zz"]))) == tagged
    assert rows(wb.tag_frame(TagFilter())) == expected  # the scan
    expanded = wb.journal_frame(expand=True)
    assert list(expanded.columns[:7]) == ["persistence_id", "sequence_nr", "position",
                                          "timestamp", "tags", "correlation_id", "causation_id"]


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


async def test_metadata_ids_as_one_list_column_give_the_same_frames(pg_pool: Any,
                                                                    wb: Any) -> None:
    """The event SELECTs may send the two ids as ONE list column (one field per event
    less to decode, for journals whose events mostly lack metadata): every frame shape is
    the same either way, and the shape follows the previous load's share of events with
    metadata."""
    await _seed(pg_pool)
    loads: dict[str, Callable[[], pd.DataFrame]] = {
        "journal": lambda: wb.journal_frame(), "one tag": lambda: wb.tag_frame("t"),
             "any": lambda: wb.tag_frame(TagFilter(any=["t", "u"])),
             "scan": lambda: wb.tag_frame(TagFilter()),
             "filtered": lambda: wb.journal_frame(persistence_ids=["a", "c"], limit=2)}
    frames: dict[tuple[str, bool], pd.DataFrame] = {}
    for as_list in (False, True):
        for name, load in loads.items():
            wb.frames.ids_as_list = as_list
            frames[name, as_list] = load()
    for name in loads:
        pd.testing.assert_frame_equal(frames[name, True], frames[name, False], check_exact=True)
    wb.frames.ids_as_list = True
    wb.journal_frame()  # 4 of 5 events carry metadata: two columns next time
    assert wb.frames.ids_as_list is False
    journal = PostgresJournal(pool=pg_pool)
    await journal.append("d", [JournalEntry({"n": i}) for i in range(60)], 0)
    await journal.close()
    wb.journal_frame()  # 4 of 65: one list column next time
    assert wb.frames.ids_as_list is True
    assert wb.journal_frame()["causation_id"].isna().sum() == 62
