"""Display formatting of workbench frames: formatted HTML, frames and dtypes unchanged."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from actorpg_lab import JournalEntry, lab
from actorpg_lab.lab.notebook.display import (
    MISSING,
    format_duration,
    format_number,
    format_payload,
    format_percent,
    format_tags,
    format_timestamp,
    order_columns,
)


def test_timestamps_have_ms_precision_on_one_line() -> None:
    ts = pd.Timestamp("2026-12-01 04:12:12.123456789", tz="UTC")
    assert format_timestamp(ts) == "2026-12-01 04:12:12.123"
    assert format_timestamp(pd.Timestamp("2026-12-01 04:12:12", tz="UTC")) == "2026-12-01 04:12:12.000"
    assert format_timestamp(pd.Timestamp("2026-12-01 05:12:12.5", tz="Europe/Paris")) \
        == "2026-12-01 05:12:12.500 +0100"
    assert format_timestamp(pd.NaT) == MISSING


def test_tags_read_as_a_list_of_words() -> None:
    assert format_tags(["account", "deposit"]) == "account, deposit"
    assert format_tags(np.array(["account", "deposit"])) == "account, deposit"
    assert format_tags([]) == ""
    assert format_tags(None) == MISSING


@pytest.mark.parametrize(("value", "text"), [
    (1234, "1,234"), (33.0, "33"), (1234.5, "1,234.5"), (0.578947, "0.58"), (0.0012345, "0.0012"),
    (np.int64(1_000_000), "1,000,000"), (-2.25, "-2.25"), (float("nan"), MISSING), (pd.NA, MISSING),
    (None, MISSING),
])
def test_numbers_get_separators_and_no_trailing_zeros(value: object, text: str) -> None:
    assert format_number(value) == text


def test_ratios_show_as_percentages() -> None:
    assert format_percent(0.578947) == "57.9 %"
    assert format_percent(1.0) == "100.0 %"
    assert format_percent(float("nan")) == MISSING


def test_payloads_are_monospace_escaped_and_shortened_with_a_tooltip() -> None:
    short = format_payload('{"$type": "bank.Deposited", "amount": 5}')
    assert short == '<code>{&quot;$type&quot;: &quot;bank.Deposited&quot;, &quot;amount&quot;: 5}</code>'
    long_value = '{"note": "' + "<b>x</b>" * 40 + '"}'
    shown = format_payload(long_value, max_chars=40)
    title = re.search(r'title="([^"]*)"', shown)
    assert title is not None and "<b>" not in shown
    import html

    assert html.unescape(title.group(1)) == long_value
    visible = html.unescape(re.sub(r"<[^>]+>", "", shown.replace(title.group(0), "")))
    assert len(visible) == 40 and visible.endswith("…")
    assert format_payload({"a": [1, 2]}) == "<code>{&quot;a&quot;:[1,2]}</code>"
    assert MISSING in format_payload(None)


def test_show_formats_a_frame_without_changing_it() -> None:
    frame = pd.DataFrame({
        "persistence_id": pd.Categorical(["a", "b"]),
        "sequence_nr": [1, 2],
        "timestamp": pd.to_datetime([1_700_000_000_123, 1_700_000_001_000], unit="ms", utc=True)
        .astype("datetime64[ms, UTC]"),
        "tags": [["account", "deposit"], []],
        "payload": ['{"$type": "x", "$value": 1}', None],
        "amount": pd.array([1500, None], dtype="Int64"),
        "conflict_rate": [0.578947, float("nan")],
    })
    before = frame.dtypes.copy()
    html_text = lab.show(frame)._repr_html_()
    pd.testing.assert_series_equal(frame.dtypes, before)
    assert "tex2jax_ignore" in html_text and "mathjax_ignore" in html_text
    assert "2023-11-14 22:13:20.123" in html_text
    assert "account, deposit" in html_text and "['account'" not in html_text
    assert "1,500" in html_text and "57.9 %" in html_text
    assert "<NA>" not in html_text and "NaN" not in html_text and "None" not in html_text
    assert html_text.count(MISSING) >= 3  # payload, amount and rate of the second row
    assert "2 rows × 7 columns" in html_text
    assert repr(lab.show(frame)) == repr(frame)


def test_show_abbreviates_long_frames_and_validates() -> None:
    frame = pd.DataFrame({"n": range(1000)})
    html_text = lab.show(frame, max_rows=10)._repr_html_()
    assert "990 more rows" in html_text and "999" in html_text and ">500<" not in html_text
    with pytest.raises(TypeError, match="DataFrame"):
        lab.show([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_rows"):
        lab.show(frame, max_rows=0)


def test_order_columns_puts_keys_first() -> None:
    frame = pd.DataFrame({"x": [1], "sequence_nr": [2], "persistence_id": ["p"]})
    assert list(order_columns(frame).columns) == ["persistence_id", "sequence_nr", "x"]


def test_connect_turns_maths_rendering_off(wb: lab.Workbench, pg_url: str) -> None:
    with pd.option_context("display.html.use_mathjax", True):
        other = lab.connect(pg_url)
        try:
            assert pd.get_option("display.html.use_mathjax") is False
            assert "$" not in (lab.connect.__doc__ or "") or "use_mathjax" in (lab.connect.__doc__ or "")
        finally:
            other.close()
    wb.run(wb.journal.append("m", [JournalEntry({"note": "$x$ and $y$"})], 0))
    frame = wb.journal_frame()
    assert "tex2jax_ignore" in frame.to_html()  # pandas marks the table: MathJax skips it
    assert "tex2jax_ignore" in wb.show(frame)._repr_html_()


def test_workbench_frames_put_key_columns_first(wb: lab.Workbench) -> None:
    wb.run(wb.journal.append("k", [JournalEntry({"a": 1})] * 3, 0))
    what = wb.what_if(every_n=[None, 2], keep_n=[1])
    assert list(what.columns[:3]) == ["every_n", "keep_n", "events_to_replay_total"]
    assert list(wb.recovery_cost().columns[:2]) == ["persistence_id", "head"]
    with wb.record_conflicts() as rec:
        wb.run(wb.durable_state_store.upsert("s", 0, {"v": 1}))
    columns = list(rec.frame().columns)
    assert columns[:4] == ["store", "persistence_id", "writer", "outcome"]
    assert columns.index("duration_ms") < columns.index("started")
    for frame in (wb.journal_frame(), wb.streams_frame(), wb.snapshots_frame(),
                  wb.check_streams(), rec.conflict_rates()):
        assert frame.columns[0] in ("persistence_id", "store"), list(frame.columns)


def test_expected_failures_log_one_line_without_traceback() -> None:
    import io
    import logging

    from actorpg_lab.lab.notebook.kernel import OneLineHandler, install_notebook_logging

    out = io.StringIO()
    logger = logging.getLogger("actorpg_lab.actors.test")
    handler = OneLineHandler(out)
    logging.getLogger("actorpg_lab").addHandler(handler)
    try:
        try:
            raise RuntimeError("journal gap at 7\nmore detail")
        except RuntimeError as exc:
            logger.error("actor s/a failed to start (recovery): %s", exc, exc_info=exc)
        logger.info("not shown")
        # logging already configured (a handler exists): nothing else is installed
        assert install_notebook_logging(io.StringIO()) is None
    finally:
        logging.getLogger("actorpg_lab").removeHandler(handler)
    assert out.getvalue() == ("actorpg_lab ✖ actor s/a failed to start (recovery): journal gap "
                              "at 7 (RuntimeError)\n")


def test_install_notebook_logging_is_idempotent_and_respects_configured_logging() -> None:
    import io
    import logging

    from actorpg_lab.lab.notebook.kernel import OneLineHandler, in_notebook, install_notebook_logging

    assert not in_notebook()  # pytest is no Jupyter kernel
    logger = logging.getLogger("actorpg_lab")
    saved_root = logging.getLogger().handlers[:]
    logging.getLogger().handlers.clear()  # pytest's capture handler aside, for the check
    try:
        handler = install_notebook_logging(io.StringIO())
        assert isinstance(handler, OneLineHandler)
        assert install_notebook_logging(io.StringIO()) is None
        assert sum(isinstance(h, OneLineHandler) for h in logger.handlers) == 1
    finally:
        for h in [h for h in logger.handlers if isinstance(h, OneLineHandler)]:
            logger.removeHandler(h)
        logging.getLogger().handlers[:] = saved_root


def test_progress_note_shows_age_only_for_recent_rows() -> None:
    from actorpg_lab.lab.frames.strategies import newest_row

    now = 1_700_000_000.0
    assert newest_row(int((now - 4.25) * 1000), now) == "newest 22:13:15.750 UTC (4.2s ago)"
    old = newest_row(int((now - 1112 * 86400) * 1000), now)
    assert old == "newest 2020-10-28 22:13 UTC" and "ago" not in old and "lag" not in old


def test_state_diffs_show_as_their_changes() -> None:
    diff = lab.diff_states({"balance": 1, "n": [1]}, {"balance": 3, "n": [1, 2]})
    shown = format_payload(diff)
    assert shown == "<code>~ balance: 1 → 3; + n[1] = 2</code>"
    assert "(no change)" in format_payload(lab.diff_states(1, 1))


@pytest.mark.parametrize(("value", "text"), [
    (pd.Timedelta(milliseconds=72), "72 ms"), (pd.Timedelta(microseconds=350), "0.35 ms"),
    (pd.Timedelta(milliseconds=1250), "1.25 s"), (pd.Timedelta(seconds=192), "3 min 12 s"),
    (pd.Timedelta(minutes=125), "2 h 05 min"), (pd.Timedelta(hours=76), "3 d 4 h"),
    (pd.Timedelta(days=2), "2 d"), (pd.Timedelta(milliseconds=-5), "-5 ms"),
    (np.timedelta64(40, "ms"), "40 ms"), (pd.NaT, MISSING), (None, MISSING),
])
def test_durations_read_in_human_units(value: object, text: str) -> None:
    assert format_duration(value) == text


def test_show_formats_durations_also_in_mixed_columns_without_changing_them() -> None:
    pruned = pd.DataFrame({
        "persistence_id": ["a", "a", "b"],
        "lifetime": pd.to_timedelta([72, 104, 5_000], unit="ms"),
    })
    described = pruned.groupby("persistence_id")["lifetime"].describe()[["count", "mean", "max"]]
    assert str(described["mean"].dtype) == "object"  # what pandas makes of it: mixed values
    for frame in (pruned, described):
        before = frame.dtypes.copy()
        shown = lab.show(frame)._repr_html_()
        pd.testing.assert_series_equal(frame.dtypes, before)
        assert "days" not in shown and "00:00:00" not in shown, shown
    assert ">72 ms<" in lab.show(pruned)._repr_html_()
    shown = lab.show(described)._repr_html_()
    assert ">88 ms<" in shown and ">104 ms<" in shown and ">5 s<" in shown and ">2<" in shown
    # durations are numbers to read across: right-aligned like them, not as text
    assert "<td class='actorpg-text'>88 ms" not in shown and "<td>88 ms</td>" in shown


def test_long_messages_wrap_while_timestamps_and_short_text_stay_on_one_line() -> None:
    message = "event 27 is missing (the journal holds events 1-26 and 28-30); refusing to fold it"
    frame = pd.DataFrame({
        "persistence_id": ["account-10"],
        "timestamp": pd.to_datetime([1_700_000_000_123], unit="ms", utc=True),
        "problem": ["gap"],
        "message": [message],
    })
    shown = lab.show(frame)._repr_html_()
    assert f"<td class='actorpg-text actorpg-wrap'>{message}</td>" in shown  # all of it, wrapping
    assert "<td class='actorpg-text'>gap</td>" in shown
    assert "<td class='actorpg-text'>2023-11-14 22:13:20.123</td>" in shown


def test_the_size_line_speaks_english() -> None:
    assert "1 row × 1 column<" in lab.show(pd.DataFrame({"a": [1]}))._repr_html_()
    assert "1,200 rows × 2 columns<" in lab.show(
        pd.DataFrame({"a": range(1200), "b": 0}))._repr_html_()


def test_headers_align_with_their_columns() -> None:
    frame = pd.DataFrame({"persistence_id": ["a"], "events": [3], "payload_error": ["bad"]})
    shown = lab.show(frame)._repr_html_()
    assert "<th class='actorpg-text'>persistence_id</th><th>events</th>" in shown
    assert "<th class='actorpg-text'>payload_error</th>" in shown
    by_type = lab.show(frame.set_index("persistence_id"))._repr_html_()
    assert "<th class='actorpg-text'>persistence_id</th>" in by_type  # a text index: left
    assert "<th class='actorpg-text'>a</th>" in by_type


def test_long_objects_shown_as_text_wrap_too() -> None:
    from actorpg_lab.lab.demo import AccountState

    state = AccountState(owner="Hiro", currency="EUR", balance=458550, transactions=29, open=True)
    shown = lab.show(pd.DataFrame({"persistence_id": ["a"], "before_state": [state]}))._repr_html_()
    assert "<td class='actorpg-text actorpg-wrap'>AccountState(owner=" in shown
