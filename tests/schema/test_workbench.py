"""The schema-evolution views of the workbench: event_types_frame, decode_check,
compare_replays (on the real PostgreSQL journal)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import psycopg
import pytest

from actorpg_lab import JournalEntry, JsonCodec, lab
from actorpg_lab.lab import StateDiff
from actorpg_lab.lab.demo import (
    Account,
    AccountState,
    BuggyAccount,
    TransferReceived,
    seed_bank,
)

from ._types import (
    NAME,
    DepositedV1,
    DepositedV2,
    DepositedV3,
    codec_v1,
    codec_v2,
    codec_v3,
    fold,
)


def append(wb: lab.Workbench, codec: JsonCodec, pid: str, *events: Any) -> None:
    """Write ``events`` at the head of ``pid`` with the code that ``codec`` stands for."""
    journal = wb.journal
    journal.codec = codec
    head = wb.run(journal.highest_seq(pid))
    wb.run(journal.append(pid, [JournalEntry(e) for e in events], head))


def corrupt(pg_url: str, pid: str, seq: int, payload: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE events SET payload = %s WHERE persistence_id = %s "
                     "AND sequence_nr = %s", (payload, pid, seq))


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def by_pid(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {row["persistence_id"]: row for row in records(frame)}


def missing(value: Any) -> bool:
    return value is None or value is pd.NA


@dataclass(frozen=True)
class Unknown:
    x: int


@dataclass(frozen=True)
class Drifted:  # the field renamed in place, without a new version
    value: int


# -- empty journal --------------------------------------------------------------------------
def test_empty_journal(wb: lab.Workbench) -> None:
    types = wb.event_types_frame()
    assert types.empty and list(types.columns) == [
        "event_type", "version", "events", "streams", "first_seen", "last_seen", "fields",
        "undecodable", "registration", "current_version", "error"]
    check = wb.decode_check()
    assert check.empty and list(check.columns) == [
        "persistence_id", "sequence_nr", "event_type", "version", "error"]
    compared = wb.compare_replays((fold, 0), (fold, 0))
    assert compared.empty and list(compared.columns) == [
        "persistence_id", "events", "diverged_at", "before_state", "after_state", "diff",
        "before_error", "after_error"]
    listed = wb.compare_replays((fold, 0), (fold, 1), persistence_ids=["nobody"])
    assert listed.to_dict("records") == [{
        "persistence_id": "nobody", "events": 0, "diverged_at": 0, "before_state": 0,
        "after_state": 1, "diff": listed.loc[0, "diff"], "before_error": None,
        "after_error": None}]
    assert isinstance(listed.loc[0, "diff"], StateDiff)


# -- event_types_frame ----------------------------------------------------------------------
def test_event_types_per_type_version_and_fields(wb: lab.Workbench, pg_url: str) -> None:
    append(wb, codec_v1(), "a", DepositedV1(1), DepositedV1(2))
    append(wb, codec_v1(), "b", DepositedV1(3))
    append(wb, codec_v2(), "b", DepositedV2(4, "USD"))
    drifted = JsonCodec()
    drifted.register(Drifted, NAME)
    append(wb, drifted, "c", Drifted(5))
    unknown = JsonCodec()
    unknown.register(Unknown, "schema.Unknown")
    append(wb, unknown, "c", Unknown(1), {"plain": True}, [1, 2], {"plain": False, "n": 1})
    append(wb, codec_v3(), "c", DepositedV3(1, 2, "EUR"), "not json soon", DepositedV3(0, 1, "X"))
    corrupt(pg_url, "c", 7, "{not json")
    corrupt(pg_url, "c", 8, '{"$type":"schema.Deposited","$value":{"amount":')  # truncated
    wb.journal.codec = codec_v3()

    frame = wb.event_types_frame()
    rows = {(r["event_type"], r["version"], r["fields"]): r for r in records(frame)}
    v1 = rows[(NAME, 1, ("amount",))]
    assert [v1[c] for c in ("events", "streams", "undecodable", "registration",
                            "current_version")] == [3, 2, 0, "registered", 3]
    assert v1["first_seen"] <= v1["last_seen"] and str(v1["first_seen"].tz) == "UTC"
    drift = rows[(NAME, 1, ("value",))]
    assert (drift["events"], drift["undecodable"]) == (1, 1)
    assert "v2_to_v3 from version 2 failed (KeyError: 'amount')" in drift["error"]
    assert rows[(NAME, 2, ("amount", "currency"))]["undecodable"] == 0
    assert rows[(NAME, 3, ("cents", "currency", "units"))]["events"] == 1
    gone = rows[("schema.Unknown", 1, ("x",))]
    assert (gone["undecodable"], gone["registration"]) == (1, "unregistered")
    assert "not registered" in gone["error"]
    plain = [r for r in records(frame) if missing(r["event_type"])]
    assert sorted(str(r["fields"]) for r in plain) == [
        "('n', 'plain')", "('plain',)", "()", "None"]
    not_json = next(r for r in plain if r["fields"] is None)
    assert (not_json["events"], not_json["undecodable"]) == (1, 1)
    truncated = rows[(NAME, 1, None)]
    assert (truncated["events"], truncated["undecodable"]) == (1, 1)
    assert truncated["error"] == "the payloads are not JSON"
    assert frame["undecodable"].sum() == 4
    # The codec about to be deployed, checked before deploying it.
    candidate = wb.event_types_frame(codec=codec_v3(with_v1_upcaster=False))
    v1_missing = candidate[(candidate["event_type"] == NAME) & (candidate["version"] == 1)]
    assert v1_missing["undecodable"].tolist() == [3, 1, 1]
    assert "no upcaster from version 1 to 2" in v1_missing["error"].iloc[0]
    only_a = wb.event_types_frame(persistence_ids=["a"])
    assert only_a[["event_type", "version", "events"]].values.tolist() == [[NAME, 1, 2]]


def test_event_types_in_two_halves_equal_one_query(wb: lab.Workbench, pg_url: str) -> None:
    """A journal estimated above parallel_min_rows is grouped as two persistence_id
    halves at once (the helper connection) and merged: the same frame as one query, also
    when a payload that is not JSON sends both halves to the checked rerun."""
    for i in range(12):  # the same groups on both sides of the split, and some on one
        append(wb, codec_v1(), f"s-{i:02d}", DepositedV1(i), DepositedV1(i + 1))
        append(wb, codec_v2(), f"s-{i:02d}", DepositedV2(i, "USD"))
        if i % 3 == 0:
            append(wb, JsonCodec(), f"s-{i:02d}", {"plain": i}, [i])
    drifted = JsonCodec()
    drifted.register(Drifted, NAME)
    append(wb, drifted, "s-11", Drifted(5))
    wb.journal.codec = codec_v3()
    for corrupted in (False, True):
        if corrupted:
            corrupt(pg_url, "s-10", 2, "{not json")
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("ANALYZE events")  # the split value comes from the statistics
        wb.frames.parallel_min_rows = 0
        serial = wb.event_types_frame()
        wb.frames.close()
        assert wb.frames.session._helper is None
        wb.frames.parallel_min_rows = 1
        halves = wb.event_types_frame()
        assert wb.frames.session._helper is not None  # the upper half's connection
        pd.testing.assert_frame_equal(halves, serial)
        assert halves["events"].sum() == 12 * 3 + 4 * 2 + 1
        assert halves["streams"].max() == 12
        # the drifted event (its upcaster fails), then also the payload that is not JSON
        assert halves["undecodable"].sum() == (2 if corrupted else 1)
        # narrowed to streams: one query, the same rows as before
        only = wb.event_types_frame(persistence_ids=["s-00", "s-11"])
        assert only["events"].sum() == 3 + 2 + 4


def test_event_types_show_implicitly_registered_types(wb: lab.Workbench) -> None:
    @dataclass(frozen=True)
    class Adhoc:
        y: int

    codec = JsonCodec(unregistered="register")
    append(wb, codec, "p", Adhoc(1))
    wb.journal.codec = codec
    row = wb.event_types_frame().iloc[0]
    assert row.event_type.endswith("Adhoc") and row.registration == "implicit"
    assert row.undecodable == 0


# -- decode_check ---------------------------------------------------------------------------
def test_decode_check_lists_the_undecodable_row_in_the_middle(
    wb: lab.Workbench, pg_url: str
) -> None:
    append(wb, codec_v1(), "s", DepositedV1(1), DepositedV1(2))
    append(wb, codec_v3(), "s", DepositedV3(0, 3, "EUR"))  # newer than the v1 code
    append(wb, codec_v1(), "s", DepositedV1(4), DepositedV1(5), DepositedV1(6))
    corrupt(pg_url, "s", 5, '{"$type":"schema.Deposited","$value":{"amount":')
    append(wb, codec_v1(), "t", DepositedV1(7))
    wb.journal.codec = codec_v1()
    check = wb.decode_check()
    assert check[["persistence_id", "sequence_nr", "event_type", "version"]].values.tolist() == [
        ["s", 3, NAME, 3], ["s", 5, NAME, 1]]
    errors = [r["error"] for r in records(check)]
    assert "newer code" in errors[0] and "registered version 1" in errors[0]
    assert "JSONDecodeError" in errors[1]
    assert wb.decode_check(persistence_ids=["t"]).empty
    assert wb.decode_check(codec=codec_v3()).sequence_nr.tolist() == [5]
    with pytest.raises(TypeError, match="persistence_ids"):
        wb.decode_check(persistence_ids=42)  # type: ignore[arg-type]


# -- compare_replays ------------------------------------------------------------------------
def test_compare_replays_finds_the_first_divergence_and_errors(
    wb: lab.Workbench, pg_url: str
) -> None:
    append(wb, codec_v1(), "same", DepositedV1(1), DepositedV1(2))
    append(wb, codec_v1(), "diverges", DepositedV1(1), DepositedV1(500), DepositedV1(3))
    append(wb, codec_v1(), "fails", DepositedV1(1), DepositedV1(2), DepositedV1(3))
    corrupt(pg_url, "fails", 2, "{oops")
    wb.journal.codec = codec_v1()

    def capped(state: int, event: Any) -> int:  # the "fix": deposits above 100 are capped
        return state + int(min(event.amount, 100))

    frame = by_pid(wb.compare_replays((fold, 0), (capped, 0)))
    same, diverges, fails = frame["same"], frame["diverges"], frame["fails"]
    assert same["events"] == 2 and missing(same["diverged_at"]) and same["diff"] is None
    assert same["before_state"] == same["after_state"] == 3
    assert diverges["diverged_at"] == 2
    assert (diverges["before_state"], diverges["after_state"]) == (504, 104)
    assert "<root>" in str(diverges["diff"])
    assert missing(fails["diverged_at"])  # both sides fail at the same event
    assert "sequence_nr 2: JSONDecodeError" in fails["before_error"]
    assert fails["before_error"] == fails["after_error"]
    assert (fails["before_state"], fails["after_state"]) == (1, 1)


def test_compare_replays_with_old_and_new_codecs(wb: lab.Workbench, pg_url: str) -> None:
    append(wb, codec_v1(), "p", DepositedV1(150), DepositedV1(250))
    append(wb, codec_v3(), "gap", DepositedV3(1, 0, "EUR"), DepositedV3(2, 0, "EUR"),
           DepositedV3(3, 0, "EUR"))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DELETE FROM events WHERE persistence_id = 'gap' AND sequence_nr = 2")

    def fold_v3(state: int, event: Any) -> int:
        return state + int(event.units * 100 + event.cents)

    frame = by_pid(wb.compare_replays((fold, 0), (fold_v3, 0), before_codec=codec_v1(),
                                      after_codec=codec_v3()))
    p, gap = frame["p"], frame["gap"]
    assert missing(p["diverged_at"]) and p["after_state"] == p["before_state"] == 400
    assert "newer code" in gap["before_error"] and gap["diverged_at"] == 1
    assert "sequence_nr 2: gap (found 3)" in gap["after_error"] and gap["after_state"] == 100
    without_upcaster = by_pid(wb.compare_replays(
        (fold_v3, 0), (fold_v3, 0), persistence_ids=["p"], before_codec=codec_v3(),
        after_codec=codec_v3(with_v1_upcaster=False)))["p"]
    assert without_upcaster["diverged_at"] == 1 and without_upcaster["before_error"] is None
    assert "no upcaster from version 1" in without_upcaster["after_error"]
    with pytest.raises(TypeError, match="after_codec"):
        wb.compare_replays((fold, 0), (fold, 0), after_codec="v3")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        wb.compare_replays(object(), (fold, 0))


def test_compare_replays_of_the_buggy_account_and_its_fix(wb: lab.Workbench) -> None:
    seed_bank(wb, accounts=4, operations=60, seed=7)
    frame = wb.compare_replays(BuggyAccount, Account)
    journal = wb.journal_frame(expand=True)
    received = journal[journal["event_type"] == "bank.TransferReceived"]
    first = received.groupby("persistence_id", observed=True)["sequence_nr"].min().to_dict()
    assert first, "the seed should contain transfers"
    assert len(frame) == 4
    for row in records(frame):
        if row["persistence_id"] in first:
            assert row["diverged_at"] == first[row["persistence_id"]]
            assert row["before_error"].startswith(f"sequence_nr {row['diverged_at']}: KeyError")
            assert TransferReceived.__name__ in row["before_error"]
            assert row["after_error"] is None and row["diff"] is not None
        else:
            assert missing(row["diverged_at"]) and row["before_error"] is None
        assert isinstance(row["after_state"], AccountState) and row["after_state"].open


# -- the replayer ---------------------------------------------------------------------------
def test_replayer_shows_the_stored_version_and_the_upcast_chain(wb: lab.Workbench) -> None:
    append(wb, codec_v1(), "p", DepositedV1(150))
    append(wb, codec_v3(), "p", DepositedV3(1, 0, "EUR"), {"plain": 1})
    wb.journal.codec = codec_v3()

    def fold_any(state: int, event: Any) -> int:
        return state + 1

    replayer = wb.replay((fold_any, 0), "p", snapshot="none")
    replayer.step()
    first = replayer.stored_version()
    assert first is not None
    assert (first.type_name, first.stored_version, first.current_version) == (NAME, 1, 3)
    assert [c.split(" ")[0] for c in first.chain] == ["v1->v2", "v2->v3"]
    assert "read as v3 via v1->v2 tests.schema._types.v1_to_v2" in str(first)
    assert "actorpg-stored-version" in replayer._repr_html_()
    replayer.step()
    second = replayer.stored_version()
    assert second is not None and str(second).endswith("(current version)")
    replayer.step()
    assert replayer.stored_version() is None  # plain JSON has no envelope
    broken = codec_v3(with_v1_upcaster=False)
    described = replayer.stored_version(replayer.steps[0].event)
    assert described is not None and described.chain
    replayer.codec = broken
    missing = replayer.stored_version(replayer.steps[0].event)
    assert missing is not None and "no upcaster from version 1" in str(missing)
