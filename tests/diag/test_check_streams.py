"""Workbench.check_streams: one row per stream naming its first problem, and the health
columns of streams_frame()."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest

from actorpg_lab import JournalEntry, event_type, lab

Execute = Callable[..., list[tuple[Any, ...]]]


@event_type("diag.Needs")
@dataclass(frozen=True)
class Needs:
    """An event type with a required field (rows without it cannot be decoded)."""

    amount: int


def add(state: int, event: Any) -> int:
    """A fold that only understands ``{"n": int}`` events."""
    return state + int(event["n"])


BEHAVIOUR = (add, 0)


def write(wb: lab.Workbench, pid: str, count: int, *, start: int = 0) -> None:
    entries = [JournalEntry({"n": i}) for i in range(start + 1, start + count + 1)]
    wb.run(wb.journal.append(pid, entries, start))


def row(frame: pd.DataFrame, pid: str) -> dict[str, Any]:
    found = frame[frame["persistence_id"] == pid]
    assert len(found) == 1, frame
    return {str(k): v for k, v in found.iloc[0].to_dict().items()}


def test_healthy_streams_are_ok(wb: lab.Workbench) -> None:
    write(wb, "a", 5)
    write(wb, "b", 3)
    wb.run(wb.snapshot_store.save("b", 2, 3))
    frame = wb.check_streams()
    assert list(frame.columns) == ["persistence_id", "ok", "problem", "sequence_nr", "message"]
    assert frame["persistence_id"].tolist() == ["a", "b"]
    assert frame["ok"].tolist() == [True, True]
    assert frame["problem"].isna().all() and frame["sequence_nr"].isna().all()
    assert frame["ok"].dtype == bool and str(frame["sequence_nr"].dtype) == "Int64"
    assert wb.check_streams(BEHAVIOUR)["ok"].all()
    assert wb.check_streams(only_problems=True).empty


def test_empty_database_gives_an_empty_frame(wb: lab.Workbench, execute: Execute) -> None:
    execute("DROP TABLE IF EXISTS events_tags, events, events_meta, snapshots")
    frame = wb.check_streams()
    assert frame.empty and list(frame.columns)[:2] == ["persistence_id", "ok"]


def test_lost_event_is_a_gap_at_its_sequence_number(wb: lab.Workbench, execute: Execute) -> None:
    write(wb, "lost", 10)
    execute("DELETE FROM events WHERE persistence_id = 'lost' AND sequence_nr IN (6, 8)")
    found = row(wb.check_streams(), "lost")
    assert (found["ok"], found["problem"], found["sequence_nr"]) == (False, "gap", 6)
    assert "event 6 is missing" in found["message"] and "recovery stops there" in found["message"]
    # folding finds the same first problem
    folded = row(wb.check_streams(BEHAVIOUR), "lost")
    assert (folded["problem"], folded["sequence_nr"]) == ("gap", 6)


def test_missing_first_and_last_live_rows(wb: lab.Workbench, execute: Execute) -> None:
    write(wb, "first", 4)
    execute("DELETE FROM events WHERE persistence_id = 'first' AND sequence_nr = 1")
    write(wb, "mark", 6)
    wb.run(wb.journal.delete("mark", 2))
    execute("DELETE FROM events WHERE persistence_id = 'mark' AND sequence_nr = 3")
    wb.run(wb.snapshot_store.save("mark", 2, 0))
    frame = wb.check_streams()
    assert (row(frame, "first")["problem"], row(frame, "first")["sequence_nr"]) == ("gap", 1)
    assert (row(frame, "mark")["problem"], row(frame, "mark")["sequence_nr"]) == ("gap", 3)


def test_gap_hidden_by_a_snapshot_is_reported_but_says_recovery_works(
        wb: lab.Workbench, execute: Execute) -> None:
    write(wb, "s", 10)
    wb.run(wb.snapshot_store.save("s", 8, 36))
    execute("DELETE FROM events WHERE persistence_id = 's' AND sequence_nr = 3")
    found = row(wb.check_streams(), "s")
    assert (found["problem"], found["sequence_nr"]) == ("gap", 3)
    assert "covers it, so recovery still works" in found["message"]


def test_deleted_prefix_without_a_covering_snapshot(wb: lab.Workbench) -> None:
    write(wb, "compacted", 10)
    write(wb, "covered", 10)
    write(wb, "all-gone", 3)
    wb.run(wb.snapshot_store.save("covered", 6, 21))
    wb.run(wb.snapshot_store.save("compacted", 2, 3))
    for pid, to_seq in (("compacted", 5), ("covered", 5), ("all-gone", 3)):
        wb.run(wb.journal.delete(pid, to_seq))
    frame = wb.check_streams()
    compacted = row(frame, "compacted")
    assert (compacted["problem"], compacted["sequence_nr"]) == ("gap", 3)
    assert "compaction mark 5" in compacted["message"]
    assert "latest snapshot is at 2" in compacted["message"]
    assert row(frame, "covered")["ok"]
    gone = row(frame, "all-gone")  # only the mark is left: recovery needs event 1
    assert (gone["problem"], gone["sequence_nr"]) == ("gap", 1)
    assert "no snapshot covers them" in gone["message"]
    assert row(wb.check_streams(BEHAVIOUR), "compacted")["problem"] == "gap"


def test_snapshot_ahead_of_the_journal(wb: lab.Workbench) -> None:
    write(wb, "ahead", 4)
    wb.run(wb.snapshot_store.save("ahead", 9, 100))
    wb.run(wb.snapshot_store.save("orphan", 3, 100))  # snapshots but no events at all
    frame = wb.check_streams()
    ahead = row(frame, "ahead")
    assert (ahead["problem"], ahead["sequence_nr"]) == ("snapshot_ahead", 9)
    assert "journal head is 4" in ahead["message"]
    orphan = row(frame, "orphan")
    assert (orphan["problem"], orphan["sequence_nr"]) == ("snapshot_ahead", 3)
    folded = row(wb.check_streams(BEHAVIOUR), "ahead")
    assert (folded["problem"], folded["sequence_nr"]) == ("snapshot_ahead", 9)


def test_undecodable_payloads_are_found_without_a_behaviour(
        wb: lab.Workbench, execute: Execute) -> None:
    write(wb, "junk", 3)
    write(wb, "typed", 2)
    execute("INSERT INTO events (persistence_id, sequence_nr, payload, tags, timestamp) "
            "VALUES ('junk', 4, 'not json{', '', 0), ('typed', 3, %s, '', 0), "
            "('typed', 4, %s, '', 0)",
            ('{"$type":"diag.Needs","$value":{}}', '{"$type":"diag.Needs","$value":{}}'))
    frame = wb.check_streams()
    junk = row(frame, "junk")
    assert (junk["problem"], junk["sequence_nr"]) == ("undecodable", 4)
    assert "'not json{'" in junk["message"]
    typed = row(frame, "typed")
    assert (typed["problem"], typed["sequence_nr"]) == ("undecodable", 3)
    assert "diag.Needs v1" in typed["message"] and "amount" in typed["message"]
    folded = row(wb.check_streams(BEHAVIOUR), "typed")
    assert (folded["problem"], folded["sequence_nr"]) == ("undecodable", 3)


def test_a_behaviour_finds_every_undecodable_value(wb: lab.Workbench, execute: Execute) -> None:
    # Same envelope head as the good rows: only decoding every event finds the bad one.
    wb.run(wb.journal.append("v", [JournalEntry(Needs(1)), JournalEntry(Needs(2))], 0))
    execute("INSERT INTO events (persistence_id, sequence_nr, payload, tags, timestamp) "
            "VALUES ('v', 3, %s, '', 0)", ('{"$type":"diag.Needs","$value":{"amount":3,"x":1}}',))
    assert row(wb.check_streams(), "v")["ok"]
    found = row(wb.check_streams((lambda s, e: s + e.amount, 0)), "v")
    assert (found["problem"], found["sequence_nr"]) == ("undecodable", 3)


def test_on_event_failures_need_a_behaviour(wb: lab.Workbench) -> None:
    write(wb, "good", 3)
    write(wb, "bad", 2)
    wb.run(wb.journal.append("bad", [JournalEntry({"oops": 1}), JournalEntry({"n": 4})], 2))
    assert wb.check_streams()["ok"].all()
    frame = wb.check_streams(BEHAVIOUR)
    bad = row(frame, "bad")
    assert (bad["ok"], bad["problem"], bad["sequence_nr"]) == (False, "on_event_failed", 3)
    assert "KeyError" in bad["message"] and "'n'" in bad["message"]
    assert row(frame, "good")["ok"]
    # a failure right after the snapshot the fold starts from
    wb.run(wb.snapshot_store.save("bad", 2, 3))
    assert row(wb.check_streams(BEHAVIOUR), "bad")["sequence_nr"] == 3


def test_first_problem_by_sequence_number(wb: lab.Workbench, execute: Execute) -> None:
    write(wb, "two", 2)
    wb.run(wb.journal.append("two", [JournalEntry({"oops": 1})], 2))
    write(wb, "two", 5, start=3)
    execute("DELETE FROM events WHERE persistence_id = 'two' AND sequence_nr = 7")
    assert row(wb.check_streams(), "two")["problem"] == "gap"
    found = row(wb.check_streams(BEHAVIOUR), "two")
    assert (found["problem"], found["sequence_nr"]) == ("on_event_failed", 3)


def test_actor_classes_are_accepted(wb: lab.Workbench) -> None:
    lab.demo.seed_bank(wb, accounts=3, operations=30)
    assert wb.check_streams(lab.demo.Account)["ok"].all()
    assert wb.check_streams(lab.demo.Account())["ok"].all()


def test_persistence_ids_filter_and_bad_input(wb: lab.Workbench, execute: Execute) -> None:
    write(wb, "a", 3)
    write(wb, "b", 3)
    execute("DELETE FROM events WHERE persistence_id = 'b' AND sequence_nr = 2")
    assert wb.check_streams(persistence_ids="a")["persistence_id"].tolist() == ["a"]
    only_b = wb.check_streams(BEHAVIOUR, persistence_ids=["b"])
    assert only_b["problem"].tolist() == ["gap"]
    assert wb.check_streams(only_problems=True)["persistence_id"].tolist() == ["b"]
    with pytest.raises(ValueError, match="persistence"):
        wb.check_streams(persistence_ids=[""])
    with pytest.raises(TypeError, match="persistence_ids"):
        wb.check_streams(persistence_ids=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on_event"):
        wb.check_streams(object)


def test_streams_frame_has_health_columns(wb: lab.Workbench, execute: Execute) -> None:
    write(wb, "a", 3)
    write(wb, "b", 3)
    execute("DELETE FROM events WHERE persistence_id = 'b' AND sequence_nr = 2")
    frame = wb.streams_frame(health=True)
    assert {"ok", "problem", "problem_seq", "problem_message"} <= set(frame.columns)
    assert frame["ok"].tolist() == [True, False]
    assert frame["problem"].tolist() == [None, "gap"]
    assert frame["problem_seq"].tolist()[1] == 2
    assert frame["problem_message"].iloc[0] == ""
    assert str(frame["persistence_id"].dtype) == "category"
    assert "ok" not in wb.streams_frame(health=False).columns
    assert "ok" not in wb.streams_frame().columns  # the default overview stays O(streams)
    assert "ok" in wb.streams_frame(stats=True).columns
