"""The default load: one streamed query (no count, no keyset pages) with a progress bar
whose total is the planner's estimate, corrected to the real row count at the end."""

from __future__ import annotations

import re

import pandas as pd
import psycopg
import pytest

from actorpg_lab import JournalEntry, TagFilter, lab

Capture = pytest.CaptureFixture[str]


def _seed(wb: lab.Workbench, pg_url: str, streams: int = 5, per_stream: int = 11) -> None:
    for i in range(streams):
        wb.run(wb.journal.append(f"s-{i}", [
            JournalEntry({"n": n, "s": i}, ("walk", *(("even",) if n % 2 == 0 else ())))
            for n in range(1, per_stream + 1)
        ], 0))
    _analyze(pg_url)


def _analyze(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ANALYZE events")  # planner statistics: the bar's estimate
        conn.execute("ANALYZE events_tags")


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({"tags": object})


def _rows(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s values (a head's categorical ids have fewer categories)."""
    return frame.astype({"tags": object, "persistence_id": str}).reset_index(drop=True)


def _totals(err: str, desc: str) -> list[tuple[int, int]]:
    """Every ``n/total`` the bar labelled ``desc`` drew, in order (``55.0/55.0``:
    tqdm's ``unit_scale`` shows small counts with one decimal)."""
    return [(round(float(n)), round(float(total))) for n, total in re.findall(
        re.escape(desc) + r":\s+\d+%\|[^|]*\|\s+([0-9.]+)/([0-9.]+) ", err)]


def test_default_load_is_the_fast_path_with_a_bar_for_large_loads(
        wb: lab.Workbench, pg_url: str, capsys: Capture) -> None:
    _seed(wb, pg_url)
    fast = wb.journal_frame(progress=False)
    assert capsys.readouterr().err == ""
    assert len(fast) == 55
    # small (estimated at most the threshold): no bar, same frame
    wb.frames.progress_threshold = 100
    pd.testing.assert_frame_equal(_plain(wb.journal_frame()), _plain(fast))
    assert capsys.readouterr().err == ""
    # progress=True always draws one: from 0 of the estimate to every row
    shown = wb.journal_frame(progress=True)
    pd.testing.assert_frame_equal(_plain(shown), _plain(fast))
    totals = _totals(capsys.readouterr().err, "journal_frame")
    assert totals[0] == (0, 55) and totals[-1] == (55, 55)
    # large (estimated above the threshold): the default draws it
    wb.frames.progress_threshold = 10
    default = wb.journal_frame()
    err = capsys.readouterr().err
    pd.testing.assert_frame_equal(_plain(default), _plain(fast))
    assert _totals(err, "journal_frame")[-1] == (55, 55)
    assert "ago)" in err  # the newest row was just written: its age is shown
    pd.testing.assert_frame_equal(_plain(wb.journal_frame(expand=True)),
                                  _plain(wb.journal_frame(expand=True, progress=False)))
    capsys.readouterr()
    assert len(wb.journal_frame(progress=False, expand=True)) == 55
    assert capsys.readouterr().err == ""


def test_the_total_is_an_estimate_corrected_to_the_rows_loaded(
        wb: lab.Workbench, pg_url: str, capsys: Capture) -> None:
    _seed(wb, pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        # the statistics still say 55 rows
        conn.execute("DELETE FROM events WHERE persistence_id = 's-0'")
    wb.frames.progress_threshold = 10
    frame = wb.journal_frame()
    totals = _totals(capsys.readouterr().err, "journal_frame")
    assert len(frame) == 44
    assert totals[0] == (0, 55)  # the planner's estimate: no count query
    assert totals[-1] == (44, 44)  # corrected at the end


def test_a_filtered_load_takes_the_planner_estimate_of_that_load(
        wb: lab.Workbench, pg_url: str, capsys: Capture) -> None:
    _seed(wb, pg_url)
    wb.frames.progress_threshold = 10
    frame = wb.journal_frame(persistence_ids=["s-1", "s-3"])
    err = capsys.readouterr().err
    assert len(frame) == 22
    assert _totals(err, "journal_frame")[0] == (0, 22)  # not the table's 55
    # the planner estimates one stream at 11 rows: no bar with a threshold of 20
    wb.frames.progress_threshold = 20
    assert len(wb.journal_frame(persistence_ids="s-2")) == 11
    assert capsys.readouterr().err == ""
    # estimated above the threshold, loads fewer (stale statistics): corrected
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DELETE FROM events WHERE persistence_id = 's-3'")
    assert len(wb.journal_frame(persistence_ids=["s-1", "s-3"])) == 11
    assert _totals(capsys.readouterr().err, "journal_frame")[-1] == (11, 11)


def test_limit_is_one_query_with_a_bar_of_at_most_the_limit(
        wb: lab.Workbench, pg_url: str, capsys: Capture) -> None:
    _seed(wb, pg_url)
    whole = wb.journal_frame(progress=False)
    wb.frames.progress_threshold = 10
    first = wb.journal_frame(limit=23)
    pd.testing.assert_frame_equal(_rows(first), _rows(whole.head(23)))
    totals = _totals(capsys.readouterr().err, "journal_frame")
    assert totals[0] == (0, 23) and totals[-1] == (23, 23)
    # a limit within the threshold: no bar
    assert len(wb.journal_frame(limit=10)) == 10
    assert capsys.readouterr().err == ""
    # a limit above the estimate: the estimate (11, not 1000)
    assert len(wb.journal_frame(limit=1000, persistence_ids="s-4")) == 11
    totals = _totals(capsys.readouterr().err, "journal_frame")
    assert totals[0] == (0, 11) and totals[-1] == (11, 11)
    assert len(wb.journal_frame(limit=1000, progress=True)) == 55
    assert _totals(capsys.readouterr().err, "journal_frame")[-1] == (55, 55)


@pytest.mark.parametrize("flt", ["walk", TagFilter(all=["walk"], not_=["even"]),
                                 TagFilter(any=["even", "nope"]), TagFilter(),
                                 TagFilter(not_=["even"])],
                         ids=["single", "all-not", "any", "every", "not-only"])
def test_tag_frame_default_is_the_fast_path_with_a_bar(
        wb: lab.Workbench, pg_url: str, capsys: Capture, flt: str | TagFilter) -> None:
    _seed(wb, pg_url)
    fast = wb.tag_frame(flt, progress=False)
    assert len(fast) > 10
    wb.frames.progress_threshold = 100
    pd.testing.assert_frame_equal(_plain(wb.tag_frame(flt)), _plain(fast))
    assert capsys.readouterr().err == ""
    # (the planner may estimate a tag filter low: any estimate is above 0)
    wb.frames.progress_threshold = 0
    pd.testing.assert_frame_equal(_plain(wb.tag_frame(flt)), _plain(fast))
    totals = _totals(capsys.readouterr().err, "tag_frame")
    assert totals and totals[-1] == (len(fast), len(fast))
    limited = wb.tag_frame(flt, limit=12)
    pd.testing.assert_frame_equal(_rows(limited), _rows(fast.head(12)))
    assert _totals(capsys.readouterr().err, "tag_frame")[-1] == (12, 12)


def test_halves_report_to_one_bar(wb: lab.Workbench, pg_url: str, capsys: Capture) -> None:
    _seed(wb, pg_url, streams=40, per_stream=6)
    serial = wb.journal_frame(progress=False)
    serial_tag = wb.tag_frame("even", progress=False)
    assert wb.frames.session._helper is None
    wb.frames.parallel_min_rows = 1
    wb.frames.progress_threshold = 10
    parallel = wb.journal_frame()
    assert wb.frames.session._helper is not None  # the upper half: second connection
    pd.testing.assert_frame_equal(_plain(parallel), _plain(serial))
    assert _totals(capsys.readouterr().err, "journal_frame")[-1] == (240, 240)
    pd.testing.assert_frame_equal(_plain(wb.tag_frame("even")), _plain(serial_tag))
    assert _totals(capsys.readouterr().err, "tag_frame")[-1] == (120, 120)
