"""A Replayer of a broken stream opens at its first problem, steps onto the failing event
and shows it; the widget has a "go to problem" control and a static HTML copy."""

from __future__ import annotations

import re
from typing import Any

import pytest

from actorpg_lab import JournalEntry, lab
from actorpg_lab.lab.demo import Account, AccountFrozen, AccountOpened, Deposited, FixedAccount
from actorpg_lab.memory import InMemoryJournal, InMemorySnapshotStore


def find(widget: Any, cls: str) -> Any:
    if cls in getattr(widget, "_dom_classes", ()):
        return widget
    for child in getattr(widget, "children", ()):
        found = find(child, cls)
        if found is not None:
            return found
    return None


def add(state: int, event: Any) -> int:
    return state + int(event["n"])


def seed(wb: lab.Workbench, pid: str = "p", n: int = 6, bad_at: int | None = None) -> None:
    entries = [JournalEntry({"oops": i} if i == bad_at else {"n": i}) for i in range(1, n + 1)]
    wb.run(wb.journal.append(pid, entries, 0))


def test_opens_just_before_a_failing_event_and_steps_onto_it(wb: lab.Workbench) -> None:
    seed(wb, n=6, bad_at=4)
    r = wb.replay((add, 0), "p", snapshot="none")
    assert r.problems[0].kind == "on_event_failed" and r.problems[0].sequence_nr == 4
    assert r.problem is r.problems[0]
    assert (r.position, r.end_seq, r.problem_position, r.last_position) == (3, 3, 4, 4)
    assert not r.at_problem and r.error is None and r.state == 6
    failed = r.failed_event
    assert failed is not None and failed.sequence_nr == 4 and failed.event == {"oops": 4}
    assert "KeyError" in r.problems[0].traceback and "add" in r.problems[0].traceback
    r.step()
    assert r.at_problem and r.position == 4 and r.error is r.problems[0]
    assert r.event == failed and r.state == 6 and not r.diff  # not applied
    r.step()  # nothing beyond the problem
    assert r.position == 4
    r.back()
    assert r.position == 3 and r.event is not None and r.event.sequence_nr == 3
    assert r.goto_problem() == 6 and r.at_problem
    with pytest.raises(ValueError, match="outside"):
        r.seek(5)
    assert r.history.index.tolist() == [1, 2, 3]


def test_gap_and_undecodable_open_at_the_problem(wb: lab.Workbench, pg_url: str) -> None:
    import psycopg

    seed(wb, "gap", n=8)
    seed(wb, "bad", n=5)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DELETE FROM events WHERE persistence_id = 'gap' AND sequence_nr = 6")
        conn.execute("UPDATE events SET payload = 'not json{' "
                     "WHERE persistence_id = 'bad' AND sequence_nr = 3")
    gap = wb.replay((add, 0), "gap", snapshot="none")
    assert gap.problems[0].kind == "gap" and gap.position == 5 == gap.end_seq
    gap.step()
    assert gap.at_problem and gap.event is None
    assert "missing from the journal" in gap._repr_html_()
    bad = wb.replay((add, 0), "bad", snapshot="none")
    assert bad.problems[0].kind == "undecodable" and bad.problems[0].sequence_nr == 3
    assert bad.position == 2 and bad.problem_position == 3
    bad.goto_problem()
    html = bad._repr_html_()
    assert "actorpg-error" in html and "not json{" in html and "cannot be read" in html


def test_snapshot_ahead_opens_at_the_end_of_the_journal(wb: lab.Workbench) -> None:
    seed(wb, n=5)
    wb.run(wb.snapshot_store.save("p", 9, 100))
    r = wb.replay((add, 0), "p")
    assert r.fallback and r.problems[0].kind == "snapshot_ahead"
    assert r.position == r.end_seq == r.problem_position == 5 and r.at_problem
    assert "ahead of the journal head" in r._repr_html_()


def test_healthy_streams_open_at_the_start_without_a_problem(wb: lab.Workbench) -> None:
    seed(wb, n=3)
    r = wb.replay((add, 0), "p", snapshot="none")
    assert r.ok and r.position == 0 and r.problem_position is None and r.last_position == 3
    with pytest.raises(ValueError, match="without a problem"):
        r.goto_problem()
    view = r.widget()
    assert find(view, "actorpg-goto-problem").layout.display == "none"
    assert find(view, "actorpg-marks").value == ""


def test_widget_go_to_problem_error_pane_and_slider_mark(wb: lab.Workbench) -> None:
    broken = lab.demo.ensure_demo(wb)["broken"]
    pid, seq = broken["on_event_failed"]
    r = wb.replay(Account, pid)
    assert r.position == seq - 1 and r.problems[0].sequence_nr == seq
    view = r.widget()
    goto, step = find(view, "actorpg-goto-problem"), find(view, "actorpg-step")
    event, marks = find(view, "actorpg-event"), find(view, "actorpg-marks")
    slider = find(view, "actorpg-slider")
    assert slider.max == seq and slider.value == seq - 1 and not step.disabled
    assert f"#{seq}" in marks.value and "actorpg-problem-mark" in marks.value
    assert goto.layout.display != "none" and not goto.disabled
    assert "actorpg-error" not in event.value
    goto.click()
    assert r.at_problem and slider.value == seq and step.disabled and goto.disabled
    assert "bank.AccountFrozen" in event.value and "sanctions screening hit" in event.value
    assert "TypeError" in event.value and "unknown event AccountFrozen" in event.value
    assert "Traceback" in event.value and "actorpg-error" in event.value
    find(view, "actorpg-back").click()
    assert r.position == seq - 1 and "actorpg-error" not in event.value
    slider.value = seq  # the slider reaches the failing event too
    assert r.at_problem
    fixed = wb.replay(FixedAccount, pid)
    assert fixed.ok and fixed.seek(fixed.end_seq).open is False


def test_static_html_copy_for_saved_notebooks(wb: lab.Workbench) -> None:
    seed(wb, n=4, bad_at=3)
    r = wb.replay((add, 0), "p", snapshot="none")
    r.goto_problem()
    static = r.static_html()
    assert not re.search(r"class='actorpg-(?!static-)", static)  # never counted as live
    assert "actorpg-static-error" in static and "KeyError" in static and "oops" in static
    sibling = r._view_of().static_html(sibling=True)
    uid = r._view_of().uid
    assert f"actorpg-static-{uid}" in sibling and "model not found" not in sibling
    assert ":not(:has(*))" in sibling  # hides only JupyterLab's bare error line
    hide = find(r.widget(), "actorpg-replayer").children[-1].value
    assert hide == f"<style>.actorpg-static-{uid}{{display:none}}</style>"


def test_display_emits_the_static_copy_then_the_widget(wb: lab.Workbench,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    shown: list[Any] = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **_kw: shown.extend(objs))
    seed(wb, n=2)
    r = wb.replay((add, 0), "p")
    r._ipython_display_()
    assert isinstance(shown[0], IPython.display.HTML) and "actorpg-static" in shown[0].data
    assert shown[1] is r.widget()


async def test_replayer_over_the_in_memory_stores() -> None:
    journal, snapshots = InMemoryJournal(), InMemorySnapshotStore()
    await journal.append("acc", [JournalEntry(AccountOpened("Ada")), JournalEntry(Deposited(100)),
                                 JournalEntry(AccountFrozen("r", "c")),
                                 JournalEntry(Deposited(5))], 0)
    import asyncio
    import concurrent.futures

    loop = asyncio.get_running_loop()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    from actorpg_lab.lab.replay.behaviour import resolve_behaviour
    from actorpg_lab.lab.replay.replayer import Replayer

    on_event, initial, _ = resolve_behaviour(Account, "acc")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        r = await loop.run_in_executor(pool, lambda: Replayer(
            run, journal, snapshots, "acc", on_event, initial, snapshot="none"))
        assert r.problems[0].kind == "on_event_failed" and r.position == 2
        assert r.failed_event is not None and isinstance(r.failed_event.event, AccountFrozen)
        await loop.run_in_executor(pool, r.step)
    assert r.at_problem and "TypeError" in r._repr_html_()
