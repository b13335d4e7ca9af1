"""D11: eventsourcing 9.5.6's DCBRecorderTestCase through the adapter (_es_adapter)."""

from __future__ import annotations

from typing import Any

import pytest

es_dcb = pytest.importorskip("eventsourcing.dcb.tests")  # a module, not the class


@pytest.fixture
def recorder(pg_url: str) -> Any:
    from ._es_adapter import ActorpgDCBRecorder

    rec = ActorpgDCBRecorder(pg_url)
    yield rec
    rec.close()


def test_append_read(recorder: Any) -> None:
    es_dcb.DCBRecorderTestCase()._test_append_read(recorder)


def test_append_subscribe(recorder: Any) -> None:
    es_dcb.DCBRecorderTestCase()._test_append_subscribe(recorder)
