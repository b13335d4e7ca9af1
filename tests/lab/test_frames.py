"""DataFrame loaders: dtypes, filters, payload expansion, read-only use (the progress bar:
test_frames_progress.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import orjson
import pandas as pd
import pytest

from actorpg_lab import JournalEntry, TagFilter, default_codec, event_type, lab
from actorpg_lab.lab.db.literals import bind_literals


@event_type("test_lab.Moved")
@dataclass(frozen=True)
class Moved:
    x: int
    y: int
    note: str = ""


def seed(wb: lab.Workbench, streams: int = 3, per_stream: int = 5) -> list[str]:
    pids = [f"s-{i}" for i in range(streams)]
    for i, pid in enumerate(pids):
        entries = [
            JournalEntry(Moved(n, i, f"n{n}"), ("walk", f"stream{i}", *(("even",) if n % 2 == 0 else ())))
            for n in range(1, per_stream + 1)
        ]
        wb.run(wb.journal.append(pid, entries, 0))
    return pids


def test_empty_schema_gives_typed_empty_frames_without_creating_tables(wb: lab.Workbench) -> None:
    journal = wb.journal_frame()
    assert list(journal.columns) == ["persistence_id", "sequence_nr", "position", "timestamp",
                                     "tags", "event_type", "correlation_id",
                                     "causation_id", "payload"]
    assert len(journal) == 0
    assert str(journal["timestamp"].dtype) == "datetime64[ms, UTC]"
    assert isinstance(journal["persistence_id"].dtype, pd.CategoricalDtype)
    assert len(wb.tag_frame("x")) == 0
    assert list(wb.snapshots_frame().columns) == ["persistence_id", "sequence_nr", "timestamp", "payload"]
    assert list(wb.durable_state_frame().columns) == ["persistence_id", "revision", "timestamp", "payload"]
    streams = wb.streams_frame()
    assert len(streams) == 0 and "events_to_replay" in streams.columns
    assert not wb.frames.table_exists("events")  # loading never creates tables


def test_journal_frame_columns_dtypes_and_values(wb: lab.Workbench) -> None:
    seed(wb)
    frame = wb.journal_frame()
    assert len(frame) == 15
    assert isinstance(frame["persistence_id"].dtype, pd.CategoricalDtype)
    assert frame["sequence_nr"].dtype == "int64"
    assert str(frame["timestamp"].dtype) == "datetime64[ms, UTC]"
    events = wb.run(wb.journal.read("s-1"))
    rows = frame[frame["persistence_id"] == "s-1"].reset_index(drop=True)
    assert rows["sequence_nr"].tolist() == [e.sequence_nr for e in events]
    assert [list(t) for t in rows["tags"]] == [list(e.tags) for e in events]
    assert isinstance(rows["tags"].iloc[0], list)
    assert [default_codec.decode(p) for p in rows["payload"]] == [e.event for e in events]
    stamps = [int(ts.timestamp() * 1000) for ts in rows["timestamp"]]
    assert stamps == [e.timestamp for e in events]


def test_journal_frame_filters(wb: lab.Workbench) -> None:
    seed(wb)
    assert set(wb.journal_frame(persistence_ids="s-2")["persistence_id"]) == {"s-2"}
    assert set(wb.journal_frame(persistence_ids=["s-0", "s-2"])["persistence_id"]) == {"s-0", "s-2"}
    assert wb.journal_frame(persistence_ids=["nope"]).empty
    ranged = wb.journal_frame(persistence_ids="s-0", from_seq=2, to_seq=4)
    assert ranged["sequence_nr"].tolist() == [2, 3, 4]
    assert len(wb.journal_frame(tags="even")) == 6
    assert len(wb.journal_frame(tags=TagFilter(all=["even", "stream1"]))) == 2
    assert len(wb.journal_frame(tags=TagFilter(any=["stream0", "stream2"], not_=["even"]))) == 6
    assert len(wb.journal_frame(limit=4)) == 4
    everything = wb.journal_frame()
    middle = everything["timestamp"].sort_values().iloc[7]
    since = wb.journal_frame(since=middle)
    assert (since["timestamp"] >= middle).all()
    assert len(since) == int((everything["timestamp"] >= middle).sum())
    until_ms = int(middle.timestamp() * 1000)
    until = wb.journal_frame(until=until_ms)
    assert (until["timestamp"] < middle).all()
    assert len(since) + len(until) == len(everything)
    naive = middle.tz_convert("UTC").tz_localize(None).to_pydatetime()
    assert len(wb.journal_frame(since=naive)) == len(since)
    assert len(wb.journal_frame(since=middle.isoformat())) == len(since)


def test_tag_frame_matches_read_by_tag(wb: lab.Workbench) -> None:
    seed(wb, streams=4, per_stream=6)
    for flt in ("even", TagFilter(any=["stream1", "stream3"]),
                TagFilter(all=["walk"], not_=["even"])):
        expected = wb.run(wb.journal.read_by_tag(flt if isinstance(flt, TagFilter) else TagFilter(all=[flt])))
        frame = wb.tag_frame(flt)
        assert list(zip(frame["persistence_id"].astype(str), frame["sequence_nr"], strict=True)) == [
            (e.persistence_id, e.sequence_nr) for e in expected
        ]
    assert len(wb.tag_frame("even", persistence_ids="s-1")) == 3
    assert len(wb.tag_frame("walk", limit=5)) == 5


def test_expand_typed_plain_nested_and_inconsistent_payloads(wb: lab.Workbench) -> None:
    seed(wb, streams=1, per_stream=3)
    wb.run(wb.journal.append("plain", [
        JournalEntry({"kind": "a", "meta": {"channel": "web", "n": 1}}),
        JournalEntry({"kind": "b", "meta": {"channel": "app", "n": 2}, "extra": True}),
    ], 0))
    frame = wb.journal_frame(expand=True)
    assert "payload" not in frame.columns
    moved = frame[frame["persistence_id"] == "s-0"]
    assert moved["event_type"].tolist() == ["test_lab.Moved"] * 3
    assert moved["x"].tolist() == [1, 2, 3]
    plain = frame[frame["persistence_id"] == "plain"]
    assert plain["meta.channel"].tolist() == ["web", "app"]
    assert plain["kind"].tolist() == ["a", "b"]
    # a field that is a number in one event and a string in another, and a bare value
    wb.run(wb.journal.append("odd", [JournalEntry({"v": 1}), JournalEntry({"v": "one"}),
                                     JournalEntry([1, 2])], 0))
    odd = wb.journal_frame(persistence_ids="odd", expand=True)
    assert odd["v"].tolist()[:2] == [1, "one"]
    assert odd["value"].tolist()[2] == [1, 2]
    # a payload field named like a frame column is kept under payload.<name>
    wb.run(wb.journal.append("clash", [JournalEntry({"timestamp": 5})], 0))
    clash = wb.journal_frame(persistence_ids="clash", expand=True)
    assert clash["payload.timestamp"].tolist() == [5]


def test_snapshots_and_durable_state_frames(wb: lab.Workbench) -> None:
    for seq in (3, 6, 9, 12):
        wb.run(wb.snapshot_store.save("acc", seq, {"balance": seq * 10}))
    wb.run(wb.durable_state_store.upsert("counter", 0, {"value": 1}))
    wb.run(wb.durable_state_store.upsert("counter", 1, {"value": 2}))
    snaps = wb.snapshots_frame()
    assert snaps["sequence_nr"].tolist() == [6, 9, 12]  # keep_n=3 pruned 3
    assert wb.snapshots_frame(from_seq=7)["sequence_nr"].tolist() == [9, 12]
    assert wb.snapshots_frame(expand=True)["balance"].tolist() == [60, 90, 120]
    durable = wb.durable_state_frame(expand=True)
    assert durable[["persistence_id", "revision", "value"]].astype(object).values.tolist() == [
        ["counter", 2, 2]]
    assert orjson.loads(wb.durable_state_frame()["payload"].iloc[0]) == {"value": 2}


def test_streams_frame(wb: lab.Workbench) -> None:
    seed(wb, streams=2, per_stream=6)
    wb.run(wb.snapshot_store.save("s-0", 4, {"x": 1}))
    wb.run(wb.journal.delete("s-1", 2))
    wb.run(wb.journal.append("gone", [JournalEntry({"a": 1})], 0))
    wb.run(wb.journal.delete("gone", 1))
    streams = wb.streams_frame().set_index("persistence_id")
    assert streams.loc["s-0", "events"] == 6 and streams.loc["s-0", "head"] == 6
    assert streams.loc["s-0", "latest_snapshot_seq"] == 4
    assert streams.loc["s-0", "events_to_replay"] == 2
    assert streams.loc["s-1", "events"] == 4 and streams.loc["s-1", "deleted_to"] == 2
    assert streams.loc["s-1", "first_seq"] == 3
    assert streams.loc["s-1", "event_types"] is None  # needs a scan: stats=True
    assert streams.loc["gone", "events"] == 0 and streams.loc["gone", "head"] == 1
    assert str(streams["last_write"].dtype) == "datetime64[ms, UTC]"
    assert list(wb.streams_frame(persistence_ids="s-0")["persistence_id"]) == ["s-0"]
    # The O(streams) overview agrees with the full scan on every column it computes.
    scanned = wb.streams_frame(stats=True, health=False).set_index("persistence_id")
    assert scanned.loc["s-1", "event_types"] == ["test_lab.Moved"]
    assert streams.drop(columns="event_types").equals(scanned.drop(columns="event_types"))


def test_quotes_and_backslashes_in_values_are_bound_safely(wb: lab.Workbench) -> None:
    pid = "o'brien\\x; DROP TABLE events; --"
    wb.run(wb.journal.append(pid, [JournalEntry({"a": 1}, ("it's",))], 0))
    assert wb.journal_frame(persistence_ids=pid)["persistence_id"].tolist() == [pid]
    assert wb.tag_frame("it's")["persistence_id"].tolist() == [pid]
    wb.run(wb.journal.append("Zoë ☃ $1", [JournalEntry({"a": 2}, ("café",))], 0))
    assert wb.tag_frame("café")["persistence_id"].tolist() == ["Zoë ☃ $1"]
    assert bind_literals("SELECT $1::bigint", [-(2**63)]) == "SELECT ( -9223372036854775808)::bigint"
    with pytest.raises(TypeError):
        bind_literals("SELECT $1", [1.5])


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"from_seq": -1}, ValueError),
    ({"to_seq": "3"}, TypeError),
    ({"limit": -2}, ValueError),
    ({"since": "not a time"}, ValueError),
    ({"since": [1]}, TypeError),
    ({"persistence_ids": [""]}, ValueError),
    ({"tags": "a,b"}, ValueError),
])
def test_bad_filters_are_rejected(wb: lab.Workbench, kwargs: dict[str, object],
                                  error: type[Exception]) -> None:
    with pytest.raises(error):
        wb.journal_frame(**kwargs)  # type: ignore[arg-type]


def test_select_only_role_loads_every_frame(wb: lab.Workbench, pg_server: object,
                                            pg_schema: str) -> None:
    import psycopg
    from psycopg import errors, sql
    from psycopg.conninfo import make_conninfo

    seed(wb, streams=2, per_stream=3)
    wb.run(wb.snapshot_store.save("s-0", 2, {"x": 1}))
    wb.run(wb.durable_state_store.upsert("k", 0, {"v": 1}))
    role = f"lab_ro_{uuid.uuid4().hex[:8]}"
    dsn = pg_server.dsn  # type: ignore[attr-defined]
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        except errors.InsufficientPrivilege:
            pytest.skip("the test server's user cannot create roles")
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
            sql.Identifier(pg_schema), sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(
            sql.Identifier(pg_schema), sql.Identifier(role)))
    try:
        url = make_conninfo(dsn, user=role, options=f"-c search_path={pg_schema}")
        with lab.connect(url) as ro:
            assert len(ro.journal_frame()) == 6
            assert len(ro.tag_frame("walk", expand=True)) == 6
            assert len(ro.snapshots_frame()) == 1
            assert len(ro.durable_state_frame()) == 1
            assert ro.streams_frame()["events"].sum() == 6
            replayer = ro.replay((lambda s, e: [*s, e.x], []), "s-1")
            assert replayer.ok and len(replayer.history) == 3
            with pytest.raises(Exception, match="permission denied"):
                ro.run(ro.journal.append("s-1", [JournalEntry({"a": 1})], 3))
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_time_bounds_accept_datetime_types(wb: lab.Workbench) -> None:
    seed(wb, streams=1, per_stream=2)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert wb.journal_frame(since=future).empty
    assert len(wb.journal_frame(until=pd.Timestamp(future))) == 2


def test_expand_payloads_on_a_loaded_frame(wb: lab.Workbench) -> None:
    seed(wb, streams=2, per_stream=3)
    raw = wb.journal_frame()
    expanded = lab.expand_payloads(raw["payload"])
    direct = wb.journal_frame(expand=True)
    assert list(expanded.columns) == ["event_type", "x", "y", "note"]
    assert expanded["x"].tolist() == direct["x"].tolist() == [1, 2, 3, 1, 2, 3]
    assert lab.expand_payloads(raw["payload"].iloc[:0]).shape == (0, 0)


def test_loader_reconnects_after_its_connection_is_killed(wb: lab.Workbench, pg_url: str) -> None:
    import psycopg

    seed(wb, streams=1, per_stream=2)
    pid = wb.frames.query("SELECT pg_backend_pid() AS pid").column(0)[0].as_py()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", [pid])
    assert len(wb.journal_frame()) == 2
    assert wb.frames.query("SELECT pg_backend_pid() AS pid").column(0)[0].as_py() != pid
