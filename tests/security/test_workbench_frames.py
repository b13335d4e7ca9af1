"""Issue 9, the workbench's frame loader: connect timeout (4), size guard (5), corrupt
payloads (9) and out-of-range arguments rejected before any SQL (10, frames part)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from actorpg_lab import JournalEntry, JournalError, JournalIntegrityError, lab
from tests.security._hung_server import fails_within

SECRET = "s3cr3t-Workbench-pw"


def seed(wb: lab.Workbench, streams: int = 4, per_stream: int = 50) -> None:
    for s in range(streams):
        entries = [JournalEntry({"n": n, "s": s}, ("all", f"s{s}")) for n in range(per_stream)]
        wb.run(wb.journal.append(f"p-{s}", entries, 0))


def execute(pg_url: str, statement: str, params: Any = None) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(statement, params)


# -- 4: connect timeout ---------------------------------------------------------------

@pytest.mark.parametrize("timeout", [None, 2])
def test_the_loader_connection_times_out_naming_the_host(
        silent_server: int, timeout: float | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    monkeypatch.setattr("actorpg_lab._dsn.DEFAULT_CONNECT_TIMEOUT", 2)
    url = f"postgresql://app:{SECRET}@127.0.0.1:{silent_server}/app"
    # No schema: the first thing lab.connect opens is the loader's ADBC connection.
    error = fails_within(20, lambda: lab.connect(url, connect_timeout=timeout))
    assert isinstance(error, JournalError), error
    message = str(error)
    assert "host=127.0.0.1" in message and f"port={silent_server}" in message
    assert "timeout" in message
    assert SECRET not in message and SECRET not in repr(error)


def test_a_bad_connect_timeout_is_rejected(pg_url: str) -> None:
    for bad in (0, -1, float("nan"), True):
        with pytest.raises(ValueError, match="connect_timeout"):
            lab.connect(pg_url, connect_timeout=bad)


# -- 5: size guard ----------------------------------------------------------------------
def test_a_load_above_the_caps_is_refused_with_how_to_narrow_it(pg_url: str) -> None:
    with lab.connect(pg_url, max_load_rows=100) as wb:
        seed(wb)  # 200 events
        execute(pg_url, "ANALYZE events; ANALYZE events_tags")
        with pytest.raises(ValueError) as info:
            wb.journal_frame()
        message = str(info.value)
        assert "journal_frame" in message and "100 rows" in message
        for hint in ("persistence_ids=", "since=", "limit=", "allow_large=True"):
            assert hint in message
        with pytest.raises(ValueError, match="allow_large=True"):
            wb.tag_frame("all", progress=False)
        assert len(wb.journal_frame(allow_large=True)) == 200
        assert len(wb.tag_frame("all", allow_large=True)) == 200
        assert len(wb.journal_frame(limit=60)) == 60
        assert len(wb.journal_frame(persistence_ids=["p-1"])) == 50
        assert len(wb.tag_frame("s2")) == 50
    with lab.connect(pg_url, max_load_rows=None, max_load_bytes=2000) as wb:
        with pytest.raises(ValueError, match=r"bytes|KiB"):
            wb.journal_frame()
        assert len(wb.journal_frame(persistence_ids="p-0", limit=5)) == 5
    with lab.connect(pg_url) as wb:  # the documented defaults: 5M rows / 2 GiB
        assert wb.frames.max_load_rows == 5_000_000 and wb.frames.max_load_bytes == 2 << 30
        assert len(wb.journal_frame()) == 200


def test_a_never_analysed_table_is_still_guarded(pg_url: str) -> None:
    with lab.connect(pg_url, max_load_rows=100) as wb:
        seed(wb)
        execute(pg_url, "ALTER TABLE events SET (autovacuum_enabled = false)")
        with pytest.raises(ValueError, match="allow_large"):
            wb.journal_frame(progress=False)


def test_bad_caps_are_rejected(pg_url: str) -> None:
    with pytest.raises(ValueError, match="max_load_rows"):
        lab.connect(pg_url, max_load_rows=0)
    with pytest.raises(ValueError, match="max_load_bytes"):
        lab.connect(pg_url, max_load_bytes=-5)


# -- 9: corrupt payloads ------------------------------------------------------------------
CORRUPT = {
    "invalid JSON": "{not json",
    "nested beyond 1024 levels": '{"a":' * 1100 + "1" + "}" * 1100,
    "nested lists beyond 1024 levels": "[" * 2000 + "]" * 2000,
}


@pytest.mark.parametrize("text", list(CORRUPT.values()), ids=list(CORRUPT))
def test_a_corrupt_payload_names_its_row_or_is_marked(wb: lab.Workbench, pg_url: str,
                                                      text: str) -> None:
    seed(wb, streams=2, per_stream=5)
    execute(pg_url, "UPDATE events SET payload = %s WHERE persistence_id = 'p-1' "
                    "AND sequence_nr = 3", [text])
    assert len(wb.journal_frame()) == 10  # raw payloads load as they are
    with pytest.raises(JournalIntegrityError) as info:
        wb.journal_frame(expand=True)
    assert info.value.persistence_id == "p-1" and info.value.sequence_nr == 3
    assert "'p-1'" in str(info.value) and "sequence_nr 3" in str(info.value)
    assert "errors='mark'" in str(info.value)
    assert not isinstance(info.value.__cause__, JournalIntegrityError)

    frame = wb.journal_frame(expand=True, errors="mark")
    assert len(frame) == 10 and frame.columns[-1] == "payload_error"
    bad = (frame["persistence_id"] == "p-1") & (frame["sequence_nr"] == 3)
    assert frame.loc[bad, "payload_error"].notna().all()
    assert frame.loc[~bad, "payload_error"].isna().all()
    assert frame.loc[bad, "n"].isna().all()
    assert frame.loc[~bad, "n"].notna().all()
    tagged = wb.tag_frame("s1", expand=True, errors="mark")
    assert tagged["payload_error"].notna().sum() == 1


def test_payload_errors_mode_is_validated(wb: lab.Workbench) -> None:
    with pytest.raises(ValueError, match="errors must be"):
        wb.journal_frame(expand=True, errors="ignore")  # type: ignore[arg-type]


def test_a_corrupt_snapshot_names_its_row(wb: lab.Workbench, pg_url: str) -> None:
    wb.run(wb.snapshot_store.save("p-0", 4, {"x": 1}))
    execute(pg_url, "UPDATE snapshots SET payload = '{' WHERE persistence_id = 'p-0'")
    with pytest.raises(JournalIntegrityError, match="'p-0' at sequence_nr 4"):
        wb.snapshots_frame(expand=True)
    marked = wb.snapshots_frame(expand=True, errors="mark")
    assert marked["payload_error"].notna().tolist() == [True]


# -- 10: out-of-range arguments, rejected before any SQL -------------------------------
@pytest.mark.parametrize("kwargs", [
    {"since": float("inf")},
    {"until": float("-inf")},
    {"since": float("nan")},
    {"since": 2**63},
    {"until": -(2**63) - 1},
    {"from_seq": 2**64},
    {"to_seq": 2**63},
    {"limit": 2**64},
    {"since": "99999-01-01"},
], ids=lambda kwargs: ",".join(f"{k}={v!r}" for k, v in kwargs.items()))
def test_out_of_range_arguments_fail_before_any_sql(wb: lab.Workbench,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    kwargs: dict[str, Any]) -> None:
    def no_sql(*args: Any, **kw: Any) -> Any:
        raise AssertionError("SQL ran for an argument that must be rejected first")

    monkeypatch.setattr(wb.frames.session, "query", no_sql)
    monkeypatch.setattr(wb.frames.session, "query_batches", no_sql)
    name = next(iter(kwargs))
    for load in (wb.journal_frame, wb.snapshots_frame,
                 lambda **kw: wb.tag_frame("t", **kw)):
        with pytest.raises(ValueError, match=name):
            load(**kwargs)
    if name in ("since", "until", "limit"):
        with pytest.raises(ValueError, match=name):
            wb.durable_state_frame(**kwargs)
