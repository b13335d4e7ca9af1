"""Readable reprs: ISO UTC times instead of epoch milliseconds (issue 25)."""

from __future__ import annotations

from datetime import UTC, datetime

from actorpg_lab import DurableStateRecord, PersistentEvent, Snapshot
from actorpg_lab._reprs import iso_utc
from actorpg_lab.query import ConsumerLag

MS = 1_796_628_512_123
ISO = "2026-12-07T07:28:32.123Z"


def test_iso_utc() -> None:
    assert iso_utc(MS) == ISO
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(datetime(2026, 12, 7, 7, 28, 32, 123456, tzinfo=UTC)) == ISO
    assert iso_utc(None) == "None"
    assert iso_utc(10**20) == repr(10**20)  # out of range: the number itself


def test_persistent_event_repr_and_html() -> None:
    ev = PersistentEvent("acc-1", 3, {"amount": 5}, MS, ("bank",), 42, {"correlation_id": "c"})
    text = repr(ev)
    assert text == ("PersistentEvent(persistence_id='acc-1', sequence_nr=3, event={'amount': 5}, "
                    f"timestamp={ISO}, tags=('bank',), position=42, "
                    "metadata={'correlation_id': 'c'})")
    page = ev._repr_html_()
    assert ISO in page and str(MS) not in page
    assert "correlation_id" in page and "&quot;amount&quot;: 5" in page  # pretty JSON
    assert ev.timestamp == MS  # only the display changed


def test_snapshot_durable_state_and_lag_reprs() -> None:
    assert repr(Snapshot("a", 7, {"b": 1}, MS)) == (
        f"Snapshot(persistence_id='a', sequence_nr=7, state={{'b': 1}}, timestamp={ISO})")
    assert repr(DurableStateRecord("a", 2, [1], MS)) == (
        f"DurableStateRecord(persistence_id='a', revision=2, state=[1], timestamp={ISO})")
    for obj in (Snapshot("a", 7, {"b": 1}, MS), DurableStateRecord("a", 2, [1], MS)):
        assert ISO in obj._repr_html_()
    lag = ConsumerLag(3, False, MS, 5, False, 10)
    assert f"oldest_timestamp={ISO}" in repr(lag) and ISO in lag._repr_html_()
    assert "oldest_timestamp=None" in repr(ConsumerLag(0, False, None, 0, False, 10))


def test_html_escapes_values() -> None:
    page = PersistentEvent("<script>", 1, "<b>", MS)._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page
