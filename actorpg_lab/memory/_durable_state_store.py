"""The in-memory durable-state store: one record per key with revision compare-and-set."""

from __future__ import annotations

import time
from typing import Any

from .._codec import JsonCodec, default_codec
from .._errors import DurableStateConcurrencyError
from .._types import DurableStateRecord
from .._validation import check_non_negative_int, check_persistence_id
from .._write_attempts import report_write_attempt
from ._clock import now_ms

__all__ = ["InMemoryDurableStateStore"]


class InMemoryDurableStateStore:
    """Durable state in a dict with revision compare-and-set."""

    def __init__(self, *, codec: JsonCodec | None = None) -> None:
        self.codec = codec or default_codec
        self._records: dict[str, tuple[int, str, int]] = {}

    def __repr__(self) -> str:
        return f"<InMemoryDurableStateStore records={len(self._records)}>"

    async def upsert(
        self, persistence_id: str, expected_revision: int, state: Any
    ) -> DurableStateRecord:
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("expected_revision", expected_revision)
        payload = self.codec.encode(state)
        started = time.time()
        current = self._records.get(pid)
        actual = current[0] if current else 0
        if actual != expected_revision:
            report_write_attempt("durable_state", pid, expected=expected_revision, actual=actual,
                                 written=None, outcome="conflict", started=started)
            raise DurableStateConcurrencyError(pid, expected_revision, actual)
        ts = now_ms()
        revision = expected_revision + 1
        self._records[pid] = (revision, payload, ts)
        report_write_attempt("durable_state", pid, expected=expected_revision, actual=actual,
                             written=revision, outcome="ok", started=started)
        return DurableStateRecord(pid, revision, self.codec.decode(payload), ts)

    async def load(self, persistence_id: str) -> DurableStateRecord | None:
        pid = check_persistence_id(persistence_id)
        record = self._records.get(pid)
        if record is None:
            return None
        revision, payload, ts = record
        return DurableStateRecord(pid, revision, self.codec.decode(payload), ts)

    async def delete(self, persistence_id: str) -> None:
        self._records.pop(check_persistence_id(persistence_id), None)

    async def close(self) -> None:
        return None
