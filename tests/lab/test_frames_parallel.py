"""journal_frame / tag_frame(progress=False) of a large table: two halves fetched at once."""

from __future__ import annotations

import pandas as pd
import psycopg
import pytest

from actorpg_lab import JournalEntry, TagFilter, lab


def _seed(wb: lab.Workbench, pg_url: str, streams: int = 40, per_stream: int = 6) -> None:
    for i in range(streams):
        wb.run(wb.journal.append(f"p-{i:03d}", [
            JournalEntry({"n": n, "s": i}, ("odd",) if n % 2 else ())
            for n in range(1, per_stream + 1)
        ], 0))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ANALYZE events")  # the split key comes from planner statistics
        conn.execute("ANALYZE events_tags")


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({"tags": object})


@pytest.mark.parametrize("expand", [False, True])
def test_parallel_halves_give_the_serial_frame(wb: lab.Workbench, pg_url: str,
                                               expand: bool) -> None:
    _seed(wb, pg_url)
    wb.frames.parallel_min_rows = 0
    serial = wb.journal_frame(progress=False, expand=expand)
    assert wb.frames.session._helper is None
    wb.frames.parallel_min_rows = 1
    middle = wb.frames._split_key("events", "persistence_id")
    assert middle is not None and "p-000" < middle < "p-039"
    parallel = wb.journal_frame(progress=False, expand=expand)
    assert wb.frames.session._helper is not None  # the second half came over the second connection
    assert len(parallel) == 240
    assert parallel["persistence_id"].astype(str).is_monotonic_increasing
    pd.testing.assert_frame_equal(_plain(parallel), _plain(serial))
    # filtered loads split the same way and still apply every filter
    filtered = wb.journal_frame(progress=False, tags="odd", from_seq=2, expand=expand)
    assert len(filtered) == 40 * 2 and set(filtered["sequence_nr"]) == {3, 5}
    wb.frames.close()
    assert wb.frames.session._helper is None


def test_no_split_without_statistics_or_below_the_threshold(wb: lab.Workbench,
                                                            pg_url: str) -> None:
    wb.run(wb.journal.append("only", [JournalEntry({"n": 1})], 0))
    wb.frames.parallel_min_rows = 1
    # never analysed: no estimate, no histogram
    assert wb.frames._split_key("events", "persistence_id") is None
    _seed(wb, pg_url)
    wb.frames.parallel_min_rows = 10_000
    # analysed, but estimated below the threshold
    assert wb.frames._split_key("events", "persistence_id") is None
    assert len(wb.journal_frame(progress=False)) == 241
    assert wb.frames.session._helper is None


def test_parallel_tag_frame_halves_give_the_serial_frame(wb: lab.Workbench, pg_url: str) -> None:
    _seed(wb, pg_url)
    wb.frames.parallel_min_rows = 0
    filters: list[str | TagFilter] = ["odd", TagFilter(all=["odd"], not_=["none"])]
    serial = [wb.tag_frame(f, progress=False) for f in filters]
    assert wb.frames.session._helper is None
    wb.frames.parallel_min_rows = 1
    assert wb.frames._split_key("events_tags", "timestamp") is not None
    for flt, expected in zip(filters, serial, strict=True):
        parallel = wb.tag_frame(flt, progress=False)
        assert wb.frames.session._helper is not None
        assert len(parallel) == 120
        pd.testing.assert_frame_equal(_plain(parallel), _plain(expected))
    events = wb.run(wb.journal.read_by_tag(TagFilter(all=["odd"])))
    assert list(zip(serial[0]["persistence_id"].astype(str), serial[0]["sequence_nr"],
                    strict=True)) == [(e.persistence_id, e.sequence_nr) for e in events]


def test_split_value_is_kept_until_the_row_estimate_moves(wb: lab.Workbench,
                                                          pg_url: str) -> None:
    """The halves' split value (a pg_stats query) is asked once per table while its
    row estimate holds, and again once ANALYZE moved the estimate by more than 10 %."""
    _seed(wb, pg_url)
    wb.frames.parallel_min_rows = 1
    session = wb.frames.session
    asked: list[tuple[str, str]] = []
    real = session.split_key

    def counting(table: str, column: str) -> tuple[int, str | None]:
        asked.append((table, column))
        return real(table, column)

    session.split_key = counting  # type: ignore[method-assign]
    first = wb.journal_frame(progress=False)
    assert len(wb.journal_frame(progress=False)) == 240
    wb.tag_frame("odd", progress=False)
    wb.tag_frame("odd", progress=False)
    assert asked == [("events", "persistence_id"), ("events_tags", "timestamp")]
    for i in range(40, 60):  # 20 more streams: +50 % rows
        wb.run(wb.journal.append(f"p-{i:03d}", [JournalEntry({"n": n, "s": i})
                                                for n in range(1, 7)], 0))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ANALYZE events")
    grown = wb.journal_frame(progress=False)
    assert asked[-1] == ("events", "persistence_id") and len(asked) == 3
    assert len(grown) == 360
    assert grown["persistence_id"].astype(str).is_monotonic_increasing
    pd.testing.assert_frame_equal(_plain(grown.iloc[:240]).astype({"persistence_id": str}),
                                  _plain(first).astype({"persistence_id": str}))
