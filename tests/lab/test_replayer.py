"""Step-by-step replay: navigation, snapshots, integrity problems, diffs and the widget."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, cast

import pytest

from actorpg_lab import JournalEntry, lab
from actorpg_lab.lab import ABSENT, diff_states
from actorpg_lab.lab.demo import Account, AccountState, Deposited, Withdrawn
from actorpg_lab.lab.replay.behaviour import resolve_behaviour
from actorpg_lab.lab.replay.view import default_speed, delta_text, play_timing, state_html


def seed_account(wb: lab.Workbench, pid: str = "acc-1", n: int = 12) -> list[Any]:
    events = [Deposited(100 * i) if i % 3 else Withdrawn(10 * i) for i in range(1, n + 1)]
    wb.run(wb.journal.append(pid, [JournalEntry(e) for e in events], 0))
    return events


def fold(events: list[Any]) -> list[AccountState]:
    account = Account("x")
    states = [account.initial_state()]
    for e in events:
        states.append(account.on_event(states[-1], e))
    return states


def test_step_back_seek_state_and_history(wb: lab.Workbench) -> None:
    events = seed_account(wb)
    states = fold(events)
    r = wb.replay(Account, "acc-1", snapshot="none")
    assert r.ok and (r.start_seq, r.end_seq, r.position) == (0, 12, 0)
    assert r.state == states[0] and r.event is None
    step = r.step()
    assert step is not None and step.event.sequence_nr == 1 and r.state == states[1]
    r.step(3)
    assert r.position == 4 and r.state == states[4]
    assert r.event is not None and r.event.event == events[3]
    assert r.back() == 3 and r.state == states[3]
    assert r.seek(12) == states[12]
    assert r.step() is not None and r.position == 12  # at the end: stays
    r.back(100)
    assert r.position == 0
    with pytest.raises(ValueError, match="outside"):
        r.seek(13)
    with pytest.raises(TypeError):
        r.seek("3")
    history = r.history
    assert history.index.name == "seq" and history.index.tolist() == list(range(1, 13))
    assert history["event"].tolist() == events
    assert history["state_after"].tolist() == states[1:]
    assert cast(Any, history.loc[2, "diff"]).to_dict() == {
        "balance": {"old": 100, "new": 300}, "transactions": {"old": 1, "new": 2}}
    assert history.loc[1, "event_type"] == "bank.Deposited"  # the registered name, as in frames
    assert str(history["timestamp"].dtype) == "datetime64[ms, UTC]"


def test_snapshot_choices_and_where_recovery_starts(wb: lab.Workbench) -> None:
    events = seed_account(wb)
    states = fold(events)
    for seq in (4, 8):
        wb.run(wb.snapshot_store.save("acc-1", seq, states[seq]))
    latest = wb.replay(Account, "acc-1")
    assert (latest.start_seq, latest.recovery_snapshot_seq) == (8, 8)
    assert latest.start_state == states[8] and len(latest.history) == 4
    latest.seek(12)
    assert latest.state == states[12]
    older = wb.replay(Account, "acc-1", snapshot=6)
    assert older.start_seq == 4 and older.history.index.tolist() == list(range(5, 13))
    scratch = wb.replay(Account, "acc-1", snapshot="none")
    assert scratch.start_seq == 0 and scratch.recovery_snapshot_seq == 8
    assert "recovery would start from latest snapshot @8" in scratch.summary()
    partial = wb.replay(Account, "acc-1", snapshot="none", to_seq=5)
    assert partial.end_seq == 5


def test_gap_is_flagged_and_history_stops_before_it(wb: lab.Workbench) -> None:
    events = seed_account(wb)
    lab.demo.break_stream(wb, "acc-1", 7)
    r = wb.replay(Account, "acc-1", snapshot="none")
    assert not r.ok
    [problem] = r.problems
    assert problem.kind == "gap" and problem.sequence_nr == 7
    assert r.end_seq == 6 and r.history.index.tolist() == list(range(1, 7))
    assert r.seek(6) == fold(events)[6]
    assert "gap" in r._repr_html_() and "actorpg-problem" in r._repr_html_()


def test_snapshot_ahead_falls_back_to_the_journal(wb: lab.Workbench) -> None:
    events = seed_account(wb, n=5)
    seq = lab.demo.save_snapshot_ahead(wb, "acc-1", ahead=3)
    r = wb.replay(Account, "acc-1")
    assert [p.kind for p in r.problems] == ["snapshot_ahead"] and r.problems[0].sequence_nr == seq
    assert r.fallback and r.start_seq == 0 and r.end_seq == 5
    r.seek(5)
    assert r.state == fold(events)[5]
    assert "PROBLEMS" in r.summary()


def test_failing_on_event_is_flagged(wb: lab.Workbench) -> None:
    seed_account(wb, n=6)

    def on_event(state: int, event: Any) -> int:
        if isinstance(event, Withdrawn):
            raise KeyError("no handler for Withdrawn")
        return state + int(event.amount)

    r = wb.replay((on_event, 0), "acc-1")
    [problem] = r.problems
    assert problem.kind == "on_event_failed" and problem.sequence_nr == 3
    assert isinstance(problem.error, KeyError)
    assert r.end_seq == 2 and r.seek(2) == 300


def test_widget_buttons_slider_and_panes(wb: lab.Workbench) -> None:
    seed_account(wb, n=4)
    r = wb.replay(Account, "acc-1", snapshot="none")
    view = r.widget()
    assert r.widget() is view

    def find(widget: Any, cls: str) -> Any:
        if cls in getattr(widget, "_dom_classes", ()):
            return widget
        for child in getattr(widget, "children", ()):
            found = find(child, cls)
            if found is not None:
                return found
        return None

    step, back, state = find(view, "actorpg-step"), find(view, "actorpg-back"), find(view, "actorpg-state")
    assert step.description == "Step ▶" and back.disabled and not step.disabled
    before = state.value
    step.click()
    assert r.position == 1 and state.value != before
    # the changed field is highlighted with its delta
    assert "<b>balance</b>" in state.value and "+100" in state.value
    assert "AccountState" in state.value  # the state's type is named above its fields
    assert "actorpg-changed" in state.value
    slider = find(view, "actorpg-slider")
    assert slider.value == 1
    slider.value = 4
    assert r.position == 4 and step.disabled
    r.back()
    assert slider.value == 3 and "Withdrawn" in find(view, "actorpg-event").value
    assert "transactions" in find(view, "actorpg-diff").value


def test_resolve_behaviour_variants() -> None:
    on_event, state, _ = resolve_behaviour((lambda s, e: s, list), "p")
    assert state == [] and on_event([1], None) == [1]
    _, state, label = resolve_behaviour(Account, "p")
    assert state == AccountState() and label == "Account"
    _, state, _ = resolve_behaviour(Account("p"), "p")
    assert state == AccountState()
    with pytest.raises(TypeError):
        resolve_behaviour(object, "p")
    with pytest.raises(TypeError):
        resolve_behaviour((1, 2), "p")


@dataclass(frozen=True)
class Point:
    x: int
    y: int
    tags: tuple[str, ...] = ()


def test_diff_states() -> None:
    assert len(diff_states({"a": 1}, {"a": 1})) == 0
    d = diff_states({"a": 1, "b": {"c": [1, 2]}, "gone": 0}, {"a": 2, "b": {"c": [1, 3, 4]}, "new": 5})
    assert d.to_dict() == {
        "a": {"old": 1, "new": 2}, "b.c[1]": {"old": 2, "new": 3}, "b.c[2]": {"new": 4},
        "gone": {"old": 0}, "new": {"new": 5},
    }
    assert d["gone"].new is ABSENT and d["gone"].kind == "removed"
    p = diff_states(Point(1, 2), dataclasses.replace(Point(1, 2), y=3, tags=("a",)))
    assert p.to_dict() == {"y": {"old": 2, "new": 3}, "tags[0]": {"new": "a"}}
    assert diff_states(1, "1").to_dict() == {"<root>": {"old": 1, "new": "1"}}
    assert "→" in str(p) and "<li" in p._repr_html_()


class _Counting:
    """Wraps a store and counts the calls of each method (the real store answers)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return attr(*args, **kwargs)

        return counted


def test_reload_loads_the_snapshot_and_the_head_once(wb: lab.Workbench) -> None:
    events = seed_account(wb, n=12)
    wb.run(wb.snapshot_store.save("acc-1", 8, fold(events)[8]))
    journal, snapshots = _Counting(wb.journal), _Counting(wb.snapshot_store)
    r = lab.Replayer(wb.run, journal, snapshots, "acc-1",
                     Account("x").on_event, AccountState())
    assert r.ok and (r.start_seq, r.end_seq) == (8, 12)
    assert snapshots.calls == {"load_latest": 1}
    assert journal.calls.get("highest_seq") == 1
    journal.calls.clear()
    snapshots.calls.clear()
    r.reload()
    assert snapshots.calls == {"load_latest": 1} and journal.calls.get("highest_seq") == 1
    # A bound below the latest snapshot needs one more (bounded) snapshot query.
    snapshots.calls.clear()
    bounded = lab.Replayer(wb.run, journal, snapshots, "acc-1",
                           Account("x").on_event, AccountState(), to_seq=5)
    assert bounded.start_seq == 0 and bounded.end_seq == 5
    assert snapshots.calls == {"load_latest": 1, "load_before": 1}


def test_widget_speed_control_tooltips_and_fixed_layout(wb: lab.Workbench) -> None:
    seed_account(wb, n=4)
    r = wb.replay(Account, "acc-1", snapshot="none")
    view = r.widget()

    def walk(widget: Any) -> list[Any]:
        return [widget, *(x for c in getattr(widget, "children", ()) for x in walk(c))]

    widgets = walk(view)
    by_class = {c: x for x in widgets for c in getattr(x, "_dom_classes", ())}
    play, speed = by_class["actorpg-play"], by_class["actorpg-speed"]
    for name in ("actorpg-play", "actorpg-speed", "actorpg-step", "actorpg-back",
                 "actorpg-goto-problem", "actorpg-slider"):
        assert by_class[name].tooltip, name
    speed.value = 500
    assert (play.interval, play.step) == play_timing(500) == (50, 25)
    speed.value = 2
    assert (play.interval, play.step) == (500, 1)
    for name in ("actorpg-event", "actorpg-state", "actorpg-diff"):
        assert by_class[name].layout.height and by_class[name].layout.overflow == "auto"


def test_play_timing_and_default_speed() -> None:
    assert play_timing(1) == (1000, 1)
    assert play_timing(10) == (100, 1)
    assert play_timing(100) == (50, 5)
    # a 1,000-event stream plays in about 10 s by default, not minutes
    speed = default_speed(1000)
    interval, step = play_timing(speed)
    assert 1000 / step * interval / 1000 <= 15
    assert default_speed(3) == 2
    with pytest.raises(ValueError):
        play_timing(0)


def test_state_html_highlights_changed_fields_with_delta() -> None:
    old, new = Point(1, 2), Point(1, 5, ("a",))
    text = state_html(new, diff_states(old, new))
    rows = text.split("<tr")[1:]
    assert "actorpg-field" in rows[0] and "actorpg-changed" not in rows[0]   # x unchanged
    assert "actorpg-changed" in rows[1] and "+3" in rows[1]                 # y: 2 -> 5
    assert "actorpg-changed" in rows[2] and "1 change" in rows[2]           # tags[0] added
    assert delta_text(1.5, 1.0) == "-0.5" and delta_text("a", "b") == "was 'a'"
    assert "<pre" in state_html(7, diff_states(6, 7)) and "background" in state_html(7, diff_states(6, 7))
    assert "removed" in state_html({"a": 1}, diff_states({"a": 1, "b": 2}, {"a": 1}))
    money = state_html({"balance": 82950, "rate": 1234.5, "open": True, "owner": "Ada"})
    assert ">82,950<" in money and ">1,234.5<" in money and ">True<" in money
    assert "&#x27;Ada&#x27;" in money  # strings still quoted, as Python shows them


def test_the_event_pane_shows_a_readable_time_and_the_summary_counts_in_english(
        wb: lab.Workbench) -> None:
    import re

    seed_account(wb, "acc-t", n=2)
    r = wb.replay(Account, "acc-t", snapshot="none")
    r.step()
    shown = r._repr_html_()
    # one line: the time never wraps between its date and its clock
    assert re.search(r"white-space:nowrap'>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC<", shown), shown
    assert "+00:00" not in shown and not re.search(r"\d\dT\d\d:", shown)  # not ISO
    assert "replayed 2 events" in wb.replay(Account, "acc-t", snapshot="none").summary()
    seed_account(wb, "acc-one", n=1)
    assert "replayed 1 event " in wb.replay(Account, "acc-one", snapshot="none").summary()


def test_short_traceback_shows_the_code_not_the_standard_librarys_plumbing() -> None:
    import asyncio

    from actorpg_lab.lab.notebook.tracebacks import short_traceback

    def on_event(state: int, event: int) -> int:
        raise TypeError(f"unknown event {event}")

    async def fold_in_a_thread() -> int:
        return await asyncio.get_running_loop().run_in_executor(None, on_event, 1, 2)

    with pytest.raises(TypeError) as raised:
        asyncio.run(fold_in_a_thread())
    text = short_traceback(raised.value)
    assert text.startswith("Traceback (most recent call last):")
    assert "in on_event" in text and text.endswith("TypeError: unknown event 2")
    assert "concurrent/futures" not in text and "/asyncio/" not in text, text



def test_the_replayers_traceback_starts_at_the_fold(wb: lab.Workbench) -> None:
    seed_account(wb, "acc-tb", n=3)

    class Broken(Account):
        def on_event(self, state: AccountState, event: Any) -> AccountState:
            if state.transactions == 2:
                raise TypeError(f"unknown event {event!r}")
            return super().on_event(state, event)

    r = wb.replay(Broken, "acc-tb", snapshot="none")
    r.seek(r.end_seq)
    r.step()
    assert r.error is not None
    text = r.error.traceback
    assert "in replay_state" in text and "in on_event" in text, text
    assert "loop.py" not in text and "_workbench.py" not in text and "concurrent" not in text
