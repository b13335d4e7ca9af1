"""The ``position`` column of journal_frame/tag_frame (and of the streamed/exported
journal), an unmigrated journal's frames, and the tag filters no tag drives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import psycopg
import pytest

from actorpg_lab import JournalEntry, TagFilter, lab
from actorpg_lab.postgres import PostgresJournal
from tests._seed_schema import SEED_SCHEMA

COLUMNS = ["persistence_id", "sequence_nr", "position", "timestamp", "tags", "event_type",
           "correlation_id", "causation_id", "payload"]


@pytest.fixture
def wb_pg(pg_url: str) -> Iterator[lab.Workbench]:
    workbench = lab.connect(pg_url, quiet=True)
    try:
        yield workbench
    finally:
        workbench.close()


def _append_one_by_one(wb: lab.Workbench, writes: list[tuple[str, tuple[str, ...]]]) -> None:
    """One transaction per event, in the order given (so commit order = list order)."""
    heads: dict[str, int] = {}
    for pid, tags in writes:
        seq = heads.get(pid, 0)
        wb.run(wb.journal.append(pid, [JournalEntry({"pid": pid, "n": seq + 1}, tags)], seq))
        heads[pid] = seq + 1


def test_positions_are_the_stored_positions_in_commit_order(wb_pg: lab.Workbench) -> None:
    writes = [("a", ("t",)), ("b", ()), ("a", ("t", "x")), ("b", ("t",)), ("a", ())]
    _append_one_by_one(wb_pg, writes)
    frame = wb_pg.journal_frame()
    assert list(frame.columns) == COLUMNS
    assert frame["position"].dtype == "int64"
    stored = {(e.persistence_id, e.sequence_nr): e.position
              for pid in ("a", "b") for e in wb_pg.run(wb_pg.journal.read(pid))}
    assert all(p > 0 for p in stored.values())
    got = {(r.persistence_id, r.sequence_nr): r.position for r in frame.itertuples()}
    assert got == stored
    # one transaction per write: positions ascend in the order the writes committed
    a = frame[frame["persistence_id"] == "a"]
    assert a["position"].is_monotonic_increasing and a["position"].is_unique
    by_position = frame.sort_values("position")
    commit_order = [(pid, n) for pid, n in zip(
        by_position["persistence_id"], by_position["sequence_nr"], strict=True)]
    expected, heads = [], {"a": 0, "b": 0}
    for pid, _tags in writes:
        heads[pid] += 1
        expected.append((pid, heads[pid]))
    assert commit_order == expected
    # tag_frame: the same column, same values, same dtype (both tag query shapes)
    for flt in ("t", TagFilter(any=["t", "x"])):
        tagged = wb_pg.tag_frame(flt)
        assert list(tagged.columns) == COLUMNS
        assert tagged["position"].dtype == "int64"
        assert {(r.persistence_id, r.sequence_nr): r.position
                for r in tagged.itertuples()} == {k: stored[k] for k in (
                    ("a", 1), ("a", 2), ("b", 2))}


def test_position_survives_expand_and_the_progress_bar(wb_pg: lab.Workbench) -> None:
    _append_one_by_one(wb_pg, [("p", ("t",))] * 7)
    whole = wb_pg.journal_frame(progress=False)
    wb_pg.frames.progress_threshold = 2
    shown = wb_pg.journal_frame(progress=True)
    pd.testing.assert_frame_equal(shown, whole)
    assert wb_pg.tag_frame("t", progress=True)["position"].tolist() == whole["position"].tolist()
    expanded = wb_pg.journal_frame(expand=True)
    assert list(expanded.columns[:4]) == ["persistence_id", "sequence_nr", "position",
                                          "timestamp"]
    assert expanded["position"].tolist() == whole["position"].tolist()


def test_an_unmigrated_journal_reads_position_zero(pg_url: str, wb_pg: lab.Workbench) -> None:
    """The seed tables, written by a store with auto_create_tables=False: the frames
    have the position column, all 0 (what the migration gives rows stored before it),
    and the migration is picked up by the open workbench."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(SEED_SCHEMA)

    async def write(pid: str, tags: tuple[str, ...]) -> None:
        journal = PostgresJournal(url=pg_url, auto_create_tables=False)
        try:
            await journal.append(pid, [JournalEntry({"n": 1}, tags), JournalEntry(2, ())], 0)
        finally:
            await journal.close()

    wb_pg.run(write("old", ("t",)))
    frame = wb_pg.journal_frame()
    assert list(frame.columns) == COLUMNS
    assert frame["position"].dtype == "int64"
    assert frame["position"].tolist() == [0, 0]
    for flt in ("t", TagFilter(any=["t"]), TagFilter()):
        tagged = wb_pg.tag_frame(flt)
        assert list(tagged.columns) == COLUMNS and tagged["position"].dtype == "int64"
        assert set(tagged["position"]) == {0}
    assert [f["position"].tolist() for f in wb_pg.iter_journal(batch_rows=1)] == [[0], [0]]
    # the migration's first step (run while the workbench is open): new rows get positions
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE events ADD COLUMN position XID8 NOT NULL DEFAULT '0'")
        conn.execute("ALTER TABLE events ALTER COLUMN position SET DEFAULT "
                     "pg_current_xact_id()")
        conn.execute("INSERT INTO events (persistence_id, sequence_nr, payload, timestamp) "
                     "VALUES ('new', 1, '{}', 5)")
    after = wb_pg.journal_frame()
    positions = dict(zip(_keys(after), after["position"], strict=True))
    assert positions[("old", 1)] == positions[("old", 2)] == 0 and positions[("new", 1)] > 0


def test_journal_frame_and_iter_journal_share_columns_and_dtypes(wb_pg: lab.Workbench) -> None:
    _append_one_by_one(wb_pg, [("a", ("t",)), ("b", ())])
    frame = wb_pg.journal_frame()
    [streamed] = list(wb_pg.iter_journal(batch_rows=10))
    assert list(streamed.columns) == list(frame.columns)
    assert streamed.dtypes.to_dict() == frame.dtypes.to_dict()
    assert streamed["position"].tolist() == frame["position"].tolist()


def _keys(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    return list(zip(frame["persistence_id"].astype(str), frame["sequence_nr"], strict=True))


def test_tag_filters_no_tag_drives(wb_pg: lab.Workbench) -> None:
    """TagFilter() loads every event, not_ alone every event without those tags,
    any=[] nothing — in (timestamp, persistence_id, sequence_nr) order."""
    _append_one_by_one(wb_pg, [("a", ("t",)), ("b", ()), ("a", ("t", "x")), ("b", ("x",))])
    journal = wb_pg.journal_frame()
    everything = wb_pg.tag_frame(TagFilter())
    assert list(everything.columns) == COLUMNS
    order = journal.sort_values(["timestamp", "persistence_id", "sequence_nr"], kind="stable")
    assert _keys(everything) == _keys(order)
    assert sorted(_keys(wb_pg.tag_frame(TagFilter(not_=["x"])))) == [("a", 1), ("b", 1)]
    assert _keys(wb_pg.tag_frame(TagFilter(not_=["x"]), persistence_ids="b")) == [("b", 1)]
    empty = wb_pg.tag_frame(TagFilter(any=[]))
    assert len(empty) == 0 and list(empty.columns) == COLUMNS
    assert len(wb_pg.tag_frame(TagFilter(all=["t"], not_=["t"]))) == 0
    # with a progress bar like the other shapes
    wb_pg.frames.progress_threshold = 1
    assert _keys(wb_pg.tag_frame(TagFilter(), progress=True)) == _keys(everything)
    assert _keys(wb_pg.tag_frame(TagFilter(), limit=3)) == _keys(everything)[:3]


def test_export_and_dask_carry_the_same_position_column(wb_pg: lab.Workbench,
                                                        tmp_path: Any) -> None:
    _append_one_by_one(wb_pg, [("a", ("t",)), ("b", ()), ("a", ())])
    frame = wb_pg.journal_frame()
    wb_pg.export_parquet(tmp_path / "ds", buckets=2)
    back = pd.read_parquet(tmp_path / "ds").drop(columns="pid_bucket")
    back = back.sort_values(["persistence_id", "sequence_nr"]).reset_index(drop=True)
    assert str(back["position"].dtype) == "int64"
    assert back["position"].tolist() == frame["position"].tolist()
    dd = pytest.importorskip("dask.dataframe")
    lazy = wb_pg.journal_dask(npartitions=2)
    assert isinstance(lazy, dd.DataFrame)
    assert list(lazy.columns) == list(frame.columns)
    assert str(lazy.dtypes["position"]) == "int64"
    computed = lazy.compute().reset_index(drop=True)
    assert str(computed["position"].dtype) == "int64"
    assert computed["position"].tolist() == frame["position"].tolist()
