"""The in-memory durable-state store: one record per key with revision compare-and-set."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .._codec import JsonCodec, decode_stored, default_codec
from .._errors import DurableStateConcurrencyError
from .._types import DurableStateRecord
from .._validation import Limits, check_non_negative_int, check_payload_size, check_persistence_id
from .._write_attempts import report_write_attempt
from ._clock import now_ms

__all__ = ["InMemoryDurableStateStore"]


class InMemoryDurableStateStore:
    """Durable state in a dict with revision compare-and-set."""

    def __init__(self, *, codec: JsonCodec | None = None,
                 limits: Limits | Mapping[str, Any] | None = None) -> None:
        self.codec = codec or default_codec
        self.limits = Limits.of(limits)
        self._records: dict[str, tuple[int, str, int]] = {}

    @classmethod
    def sharing(cls, store: InMemoryDurableStateStore) -> InMemoryDurableStateStore:
        """A second store over ``store``'s records (same codec), e.g. for two writers.

        What a second process's store over the same table is to PostgreSQL: a separate
        handle whose compare-and-set meets the same records.
        """
        if not isinstance(store, InMemoryDurableStateStore):
            raise TypeError(
                f"sharing expects an InMemoryDurableStateStore, got {type(store).__name__}"
            )
        twin = cls(codec=store.codec)
        twin._records = store._records
        return twin

    def __repr__(self) -> str:
        return f"<InMemoryDurableStateStore records={len(self._records)}>"

    async def upsert(
        self, persistence_id: str, expected_revision: int, state: Any
    ) -> DurableStateRecord:
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("expected_revision", expected_revision)
        payload = check_payload_size(self.codec.encode(state), self.limits, "durable state")
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
        state = decode_stored(self.codec, payload, what="durable state", persistence_id=pid,
                              sequence_nr=revision, position="revision")
        return DurableStateRecord(pid, revision, state, ts)

    async def delete(self, persistence_id: str) -> None:
        self._records.pop(check_persistence_id(persistence_id), None)

    async def close(self) -> None:
        return None
