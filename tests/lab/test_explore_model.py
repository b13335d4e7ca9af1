"""The explorer's read model (issue 25): paged stream lists, filters, stream pages."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import pytest

from actorpg_lab import JournalEntry, TagFilter, event_type
from actorpg_lab.lab import Workbench
from actorpg_lab.lab.explore.model import StreamBrowser, StreamFilter


@event_type("explore.Opened")
@dataclass(frozen=True)
class Opened:
    owner: str


@event_type("explore.Deposited")
@dataclass(frozen=True)
class Deposited:
    amount: int


def _seed(wb: Workbench) -> None:
    """12 accounts (acc-00..acc-11) and 3 carts, one append (transaction) per event round,
    so positions grow: acc-11 is the most recently written stream."""
    for i in range(12):
        pid = f"acc-{i:02d}"
        entries = [JournalEntry(Opened(f"o{i}"), ("bank",)),
                   JournalEntry(Deposited(i), ("bank", "vip") if i % 3 == 0 else ("bank",))]
        wb.run(wb.journal.append(pid, entries, 0))
    for i in range(3):
        wb.run(wb.journal.append(f"cart-{i}", [JournalEntry({"item": i}, ("shop",))], 0))


def _browser(wb: Workbench, **kwargs: Any) -> StreamBrowser:
    return StreamBrowser(wb.run, wb.pool, wb.tables, **kwargs)


def _ids(page: Any) -> list[str]:
    return [r.persistence_id for r in page.rows]


def test_recent_pages_list_every_stream_once_newest_first(wb: Workbench) -> None:
    _seed(wb)
    browser = _browser(wb, page_size=4, scan_rows=3)  # several walks per page
    pages = [browser.first_page()]
    while pages[-1].has_next:
        pages.append(browser.next_page(pages[-1]))
    listed = [pid for p in pages for pid in _ids(p)]
    assert listed == ["cart-2", "cart-1", "cart-0"] + [f"acc-{i:02d}" for i in range(11, -1, -1)]
    assert [p.number for p in pages] == [1, 2, 3, 4]
    row = pages[0].rows[0]
    assert (row.events, row.head, row.latest_type, row.problem) == (1, 1, None, None)
    acc = pages[0].rows[3]
    assert (acc.persistence_id, acc.events, acc.latest_type) == ("acc-11", 2, "explore.Deposited")
    assert acc.last_event is not None


def test_filters_prefix_type_tag(wb: Workbench) -> None:
    _seed(wb)
    browser = _browser(wb, page_size=50)
    assert _ids(browser.first_page(StreamFilter.parse(prefix="cart"))) == [
        "cart-2", "cart-1", "cart-0"]
    assert _ids(browser.first_page(StreamFilter.parse(tags="vip"))) == [
        "acc-09", "acc-06", "acc-03", "acc-00"]
    typed = browser.first_page(StreamFilter.parse(event_type="explore.Opened", prefix="acc-1"))
    assert _ids(typed) == ["acc-11", "acc-10"]
    both = browser.first_page(StreamFilter.parse(event_type="explore.Deposited", tags="vip"))
    assert _ids(both) == ["acc-09", "acc-06", "acc-03", "acc-00"]
    assert _ids(browser.first_page(StreamFilter.parse(tags="nope"))) == []


def test_order_by_id_pages_with_a_prefix(wb: Workbench) -> None:
    _seed(wb)
    browser = _browser(wb, page_size=5)
    page = browser.first_page(StreamFilter.parse(prefix="acc-", order="id"))
    assert _ids(page) == [f"acc-{i:02d}" for i in range(5)] and page.has_next
    page = browser.page(page.filter, 3, near=page)
    assert _ids(page) == ["acc-10", "acc-11"] and not page.has_next
    with pytest.raises(ValueError, match="order='id'"):
        StreamFilter.parse(tags="bank", order="id")


def test_filters_are_the_workbench_filter_keywords() -> None:
    """The window and the tag are ``frames.filter.ExploreKeywords``, parsed by
    ``parse_where`` like every other method's: an undeclared keyword is named, a bad
    time is refused before any SQL, and the tag walk takes one tag."""
    assert StreamFilter.parse(tags="vip", since=0, until="1970-01-02").tag == "vip"
    assert StreamFilter.parse(tags=TagFilter(all=["vip"])).tag == "vip"
    assert StreamFilter.parse(since=0).since == 0 and StreamFilter.parse().since is None
    with pytest.raises(TypeError, match=r"explore\(\) got an unexpected keyword argument 'tag'"):
        StreamFilter.parse(tag="vip")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="'persistence_ids'"):
        StreamFilter.parse(persistence_ids="acc-01")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="since: cannot parse"):
        StreamFilter.parse(since="not a time")
    with pytest.raises(ValueError, match="one tag"):
        StreamFilter.parse(tags=TagFilter(any=["vip", "bank"]))
    signature = inspect.signature(Workbench.explore)
    assert {"since", "until", "tags"} <= set(signature.parameters)
    assert all(signature.parameters[k].kind is inspect.Parameter.KEYWORD_ONLY
               for k in ("since", "until", "tags", "prefix"))


def test_time_window(wb: Workbench) -> None:
    _seed(wb)
    browser = _browser(wb, page_size=50)
    frame = wb.journal_frame()
    last = frame.groupby("persistence_id", observed=True)["timestamp"].max()
    since = frame.loc[frame["persistence_id"] == "cart-0", "timestamp"].iloc[0]
    expected = {str(p) for p, t in last.items() if t >= since}
    assert set(_ids(browser.first_page(StreamFilter.parse(since=since)))) == expected
    until = frame.loc[frame["persistence_id"] == "acc-00", "timestamp"].max()
    before = {str(p) for p, t in frame.groupby("persistence_id", observed=True)[
        "timestamp"].min().items() if t < until}
    assert set(_ids(browser.first_page(StreamFilter.parse(until=until)))) == before
    everything = browser.first_page(StreamFilter.parse(since="2000-01-01", until="2200-01-01"))
    assert len(everything.rows) == 15
    assert _ids(browser.first_page(StreamFilter.parse(until="2000-01-01"))) == []
    assert _ids(browser.first_page(StreamFilter.parse(since="2200-01-01"))) == []


def test_stream_events_page_raw_payloads(wb: Workbench) -> None:
    _seed(wb)
    browser = _browser(wb)
    page = browser.stream_events("acc-03")
    assert [e.sequence_nr for e in page.events] == [1, 2]
    assert [e.event_type for e in page.events] == ["explore.Opened", "explore.Deposited"]
    assert page.events[1].tags == ("bank", "vip")
    assert '"amount": 3' in page.events[1].pretty
    assert not page.has_prev and not page.has_next
    one = browser.stream_events("acc-03", 2, n=1)
    assert [e.sequence_nr for e in one.events] == [2] and one.has_prev
    assert len(one.frame()) == 1


def test_problems_are_flagged(wb: Workbench) -> None:
    _seed(wb)
    wb.run(wb.snapshot_store.save("cart-0", 5, {"ahead": True}))
    browser = _browser(wb, page_size=50)
    rows = {r.persistence_id: r for r in browser.first_page().rows}
    assert rows["cart-0"].problem == "snapshot_ahead" and rows["cart-0"].problem_seq == 5
    assert rows["cart-1"].problem is None


def test_explorer_app_filters_selects_and_opens_the_replayer(wb: Workbench) -> None:
    _seed(wb)
    app = wb.explore(page_size=5)
    assert app.page is not None and app.page.number == 1 and len(app.page.rows) == 5
    assert "page 1" in app.status.value
    app.tag.value = "vip"
    app.apply.click()
    assert [v for _label, v in app.streams.options] == ["acc-09", "acc-06", "acc-03", "acc-00"]
    app.sort.value = "id"
    assert [v for _label, v in app.streams.options] == ["acc-00", "acc-03", "acc-06", "acc-09"]
    app.streams.value = "acc-03"
    assert app.stream is not None and app.stream.persistence_id == "acc-03"
    assert "explore.Deposited" in app.events.value and "&quot;amount&quot;: 3" in app.events.value
    app.event_choice.value = 1
    app.open.click()
    assert app.replayer is not None and app.replayer.position == 1
    assert app.replayer.state == {"owner": "o3", "events": 1}
    assert app.replay_box.children
    app.tag.value = ""
    app.apply.click()
    app.next.click()
    assert app.page is not None and app.page.number == 2
    app.prev.click()
    assert app.page is not None and app.page.number == 1
    app.since.value = "not a time"
    app.apply.click()
    assert "cannot parse" in app.status.value


def test_explorer_says_when_its_workbench_is_closed(wb: Workbench) -> None:
    _seed(wb)
    app = wb.explore()
    wb.close()
    app.apply.click()
    assert app.status.value.startswith("<span") and "closed" in app.status.value, app.status.value


def test_problem_checks_stay_within_the_page_budget(wb: Workbench) -> None:
    _seed(wb)
    calls: list[list[str]] = []

    def check(ids: list[str]) -> dict[str, tuple[str, int | None, str]]:
        calls.append(sorted(ids))
        return {"acc-00": ("gap", 2, "made up")} if "acc-00" in ids else {}

    browser = _browser(wb, page_size=50, check=check, check_events=7)
    page = browser.first_page()
    # smallest first: the three 1-event carts, then two 2-event accounts (7 events)
    assert len(calls) == 1 and len(calls[0]) == 5
    assert {"cart-0", "cart-1", "cart-2"} <= set(calls[0])
    assert sum(r.events for r in page.rows if r.checked) <= 7
    assert [r.persistence_id for r in page.rows if not r.checked]
    full = browser.check_page(page)
    assert all(r.checked for r in full.rows)
    assert {r.persistence_id: r.problem for r in full.rows if r.problem} == {"acc-00": "gap"}
    assert browser.stream_events("acc-00").events and len(calls) == 2  # the pane checks nothing


def test_open_replayer_on_a_stream_that_cannot_be_folded_that_far(wb: Workbench) -> None:
    _seed(wb)

    def on_event(state: int, event: Any) -> int:
        if isinstance(event, Opened):
            raise ValueError("cannot fold openings yet")
        return state + 1

    app = wb.explore((on_event, 0))
    app.select("acc-04")
    app.event_choice.value = 1  # the failing event itself: shown with its error
    replayer = app.open_selected()
    assert replayer.position == 1 and replayer.at_problem and "stops" not in app.status.value
    app.event_choice.value = 2  # beyond it: the replayer opens at its first problem
    replayer = app.open_selected()
    assert replayer.position == 0 and replayer.problems
    assert "stops at #0, before #2" in app.status.value and "cannot fold" in app.status.value
