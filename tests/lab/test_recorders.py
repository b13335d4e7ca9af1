"""Conflict and snapshot-pruning recorders, recovery cost and what-if policies."""

from __future__ import annotations

from typing import Any, cast

import pandas as pd
import pytest

from actorpg_lab import DurableStateConcurrencyError, JournalConcurrencyError, JournalEntry, lab
from actorpg_lab.lab import simulate_policies


def test_conflict_recorder_records_ok_and_conflicts(wb: lab.Workbench) -> None:
    store = wb.durable_state_store
    with wb.record_conflicts() as rec:
        wb.run(store.upsert("k", 0, {"v": 1}))
        with pytest.raises(DurableStateConcurrencyError):
            wb.run(store.upsert("k", 0, {"v": 2}))
        wb.run(wb.journal.append("p", [JournalEntry({"a": 1}), JournalEntry({"a": 2})], 0))
        with pytest.raises(JournalConcurrencyError):
            wb.run(wb.journal.append("p", [JournalEntry({"a": 3})], 1))
    wb.run(store.upsert("k", 1, {"v": 3}))  # after the block: not recorded
    frame = rec.frame()
    assert list(frame.columns) == ["store", "persistence_id", "writer", "outcome", "expected",
                                   "actual", "written", "duration_ms", "events", "started",
                                   "finished", "kind", "conflict_persistence_id",
                                   "conflict_sequence_nr", "conflict_position", "query"]
    rows = frame[["store", "persistence_id", "expected", "actual", "written", "outcome"]]
    assert rows.astype(object).values.tolist() == [
        ["durable_state", "k", 0, 0, 1, "ok"],
        ["durable_state", "k", 0, 1, pd.NA, "conflict"],
        ["journal", "p", 0, 0, 2, "ok"],
        ["journal", "p", 1, 2, pd.NA, "conflict"],
    ]
    assert str(frame["started"].dtype).startswith("datetime64") and (frame["duration_ms"] >= 0).all()
    rates = rec.conflict_rates().set_index(["store", "persistence_id"])
    assert rates.loc[("durable_state", "k"), "conflict_rate"] == 0.5
    assert rates.loc[("journal", "p"), "attempts"] == 2
    assert "conflict=2" in repr(rec) and "<table" in rec._repr_html_()
    ax = rec.plot_timeline()
    assert len(ax.collections) >= 2 and ax.get_ylabel().startswith("writer")


def test_concurrent_counters_conflict_and_still_count_exactly(wb: lab.Workbench) -> None:
    with wb.record_conflicts(stores=["durable_state"]) as rec:
        result = lab.demo.seed_counters(wb, keys=["c1"], writers=3, increments=5)
    frame = rec.frame()
    assert (frame["outcome"] == "ok").sum() == 15
    assert (frame["outcome"] == "conflict").sum() == result["conflicts"]
    assert set(frame["writer"].astype(str).str.split("/").str[1]) == {"writer-1", "writer-2",
                                                                      "writer-3"}
    final = wb.durable_state_frame(expand=True)
    assert final["value"].tolist() == [15] and final["revision"].tolist() == [15]
    ok = frame[frame["outcome"] == "ok"].sort_values("written")
    assert ok["written"].tolist() == list(range(1, 16))  # every revision written exactly once


def test_recorder_filters_and_validation(wb: lab.Workbench) -> None:
    with pytest.raises(ValueError, match="stores"):
        wb.record_conflicts(stores=["nope"])
    rec = wb.record_conflicts(persistence_ids=["only"]).start()
    wb.run(wb.durable_state_store.upsert("other", 0, 1))
    wb.run(wb.durable_state_store.upsert("only", 0, 1))
    rec.stop()
    assert rec.frame()["persistence_id"].tolist() == ["only"]
    assert rec.conflict_rates()["conflict_rate"].tolist() == [0.0]
    empty = wb.record_conflicts()
    assert empty.frame().empty and empty.conflict_rates().empty
    assert empty.plot_timeline().get_title() == "no write attempts recorded"


def test_pruning_recorder_lifetimes(wb: lab.Workbench) -> None:
    with wb.record_snapshots() as rec:
        for seq in range(1, 7):
            wb.run(wb.snapshot_store.save("acc", seq, {"n": seq}))
    frame = rec.frame()
    assert frame["saved_seq"].tolist() == [1, 2, 3, 4, 5, 6]
    assert frame["pruned_seqs"].tolist() == [[], [], [], [1], [2], [3]]
    assert (frame["keep_n"] == 3).all()
    life = rec.lifetimes()
    assert life[life["alive"]]["sequence_nr"].tolist() == [4, 5, 6]
    assert (life["pruned_at"].notna() == ~life["alive"]).all()
    summary = rec.summary().set_index("persistence_id")
    assert cast(Any, summary.loc["acc"]).tolist() == [6, 3, 3, 6]
    assert wb.snapshots_frame()["sequence_nr"].tolist() == [4, 5, 6]
    assert "6 saves, 3 pruned" in repr(rec)
    assert rec.plot().get_xlabel().startswith("sequence_nr")


def test_recovery_cost_and_what_if(wb: lab.Workbench) -> None:
    wb.run(wb.journal.append("a", [JournalEntry({"n": i}) for i in range(10)], 0))
    wb.run(wb.journal.append("b", [JournalEntry({"n": i}) for i in range(25)], 0))
    wb.run(wb.snapshot_store.save("b", 20, {"n": 20}))
    cost = wb.recovery_cost().set_index("persistence_id")
    assert cost.loc["a", "events_to_replay"] == 10 and cost.loc["a", "replay_fraction"] == 1.0
    assert cost.loc["b", "events_to_replay"] == 5 and cost.loc["b", "replay_fraction"] == 0.2
    assert wb.plot_recovery_cost().get_xlabel().startswith("journal length")
    what = wb.what_if(every_n=[None, 10], keep_n=[1, 0]).set_index(["every_n", "keep_n"])
    never = what.iloc[0]  # every_n=None (never snapshot), keep_n=1
    assert never["snapshots_written"] == 0 and never["events_to_replay_total"] == 35
    ten_one: Any = what.loc[(10, 1)]
    # a: snapshots at 10 (1 kept); b: at 10, 20 (1 kept) -> replay 0 and 5
    assert ten_one[["snapshots_written", "snapshots_kept", "pruned"]].tolist() == [3, 2, 1]
    assert ten_one["events_to_replay_max"] == 5 and ten_one["fallback_depth_max"] == 5
    ten_all: Any = what.loc[(10, 0)]
    assert ten_all["snapshots_kept"] == 3 and ten_all["fallback_depth_max"] == 15
    with pytest.raises(ValueError):
        simulate_policies([1], every_n=[-1])


def test_one_string_is_one_id_or_store_everywhere(wb: lab.Workbench) -> None:
    """Issue 20, item 8: ``"account-1"`` is one id, never the characters a-c-c-o-u-n-t."""
    with wb.record_conflicts(persistence_ids="account-1", stores="journal") as rec, \
            wb.record_snapshots(persistence_ids="account-1") as snaps:
        wb.run(wb.journal.append("account-1", [JournalEntry({"a": 1})], 0))
        wb.run(wb.journal.append("account-2", [JournalEntry({"a": 1})], 0))
        wb.run(wb.durable_state_store.upsert("account-1", 0, 1))
        wb.run(wb.snapshot_store.save("account-1", 1, {"n": 1}))
        wb.run(wb.snapshot_store.save("account-2", 1, {"n": 1}))
    assert rec.frame()[["store", "persistence_id"]].astype(str).values.tolist() == [
        ["journal", "account-1"]]
    assert snaps.frame()["persistence_id"].astype(str).tolist() == ["account-1"]
    assert wb.streams_frame(persistence_ids="account-1")["persistence_id"].tolist() == ["account-1"]
    assert wb.check_streams(persistence_ids="account-1")["persistence_id"].tolist() == ["account-1"]
    assert wb.recovery_cost(persistence_ids="account-1")["persistence_id"].tolist() == ["account-1"]


@pytest.mark.parametrize("call", [
    lambda wb: wb.record_conflicts(persistence_ids=5),
    lambda wb: wb.record_conflicts(stores=5),
    lambda wb: wb.record_conflicts(stores=b"journal"),
    lambda wb: wb.record_snapshots(persistence_ids=["ok", 5]),
    lambda wb: wb.journal_frame(persistence_ids=5),
    lambda wb: wb.conflicts_frame(persistence_ids=5),
    lambda wb: wb.decode_check(persistence_ids=5),
], ids=["conflicts-ids", "stores-int", "stores-bytes", "snapshots-item", "journal_frame",
        "conflicts_frame", "decode_check"])
def test_other_non_iterables_are_a_type_error_naming_the_argument(
        wb: lab.Workbench, call: Any) -> None:
    with pytest.raises(TypeError, match=r"persistence_ids|stores") as info:
        call(wb)
    assert "5" in str(info.value) or "b'journal'" in str(info.value)
