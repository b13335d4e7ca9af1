"""The in-memory snapshot store: the newest ``keep_n`` snapshots per stream in a dict."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .._codec import JsonCodec, decode_stored, default_codec
from .._errors import SnapshotIntegrityError
from .._types import Snapshot
from .._validation import Limits, check_non_negative_int, check_payload_size, check_persistence_id
from .._write_attempts import report_snapshot_activity
from ._clock import now_ms

__all__ = ["InMemorySnapshotStore"]

_log = logging.getLogger("actorpg_lab.memory")


class InMemorySnapshotStore:
    """Snapshots in a dict, keeping the newest ``keep_n`` per id (``keep_n <= 0`` keeps all)."""

    def __init__(self, keep_n: int = 3, *, codec: JsonCodec | None = None,
                 limits: Limits | Mapping[str, Any] | None = None) -> None:
        if isinstance(keep_n, bool) or not isinstance(keep_n, int):
            raise TypeError(f"keep_n must be an int, got {type(keep_n).__name__}: {keep_n!r}")
        self.keep_n = keep_n
        self.codec = codec or default_codec
        self.limits = Limits.of(limits)
        self._snapshots: dict[str, dict[int, tuple[str, int]]] = {}

    def __repr__(self) -> str:
        n = sum(len(v) for v in self._snapshots.values())
        return f"<InMemorySnapshotStore keep_n={self.keep_n} streams={len(self._snapshots)} snapshots={n}>"

    async def save(self, persistence_id: str, sequence_nr: int, state: Any) -> Snapshot:
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("sequence_nr", sequence_nr)
        payload = check_payload_size(self.codec.encode(state), self.limits, "snapshot state")
        ts = now_ms()
        self._snapshots.setdefault(pid, {})[sequence_nr] = (payload, ts)
        try:
            pruned = await self._prune(pid)
        except Exception:
            _log.warning("pruning snapshots of %r failed; the snapshot was saved", pid, exc_info=True)
            report_snapshot_activity(pid, sequence_nr, (), self.keep_n, prune_failed=True)
        else:
            report_snapshot_activity(pid, sequence_nr, pruned, self.keep_n)
        return Snapshot(pid, sequence_nr, self.codec.decode(payload), ts)

    async def _prune(self, persistence_id: str) -> tuple[int, ...]:
        """Delete all but the newest ``keep_n`` snapshots; returns the pruned sequence numbers."""
        if self.keep_n <= 0:
            return ()
        snaps = self._snapshots.get(persistence_id, {})
        pruned = tuple(sorted(snaps, reverse=True)[self.keep_n:])
        for seq in pruned:
            del snaps[seq]
        return tuple(sorted(pruned))

    def _pick(self, pid: str, below: float) -> Snapshot | None:
        snaps = self._snapshots.get(pid, {})
        candidates = [s for s in snaps if s < below]
        if not candidates:
            return None
        seq = max(candidates)
        payload, ts = snaps[seq]
        state = decode_stored(self.codec, payload, what="snapshot", persistence_id=pid,
                              sequence_nr=seq, error=SnapshotIntegrityError)
        return Snapshot(pid, seq, state, ts)

    async def load_latest(self, persistence_id: str) -> Snapshot | None:
        return self._pick(check_persistence_id(persistence_id), float("inf"))

    async def load_before(self, persistence_id: str, sequence_nr: int) -> Snapshot | None:
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("sequence_nr", sequence_nr)
        return self._pick(pid, sequence_nr)

    async def delete(self, persistence_id: str, to_seq: int) -> None:
        pid = check_persistence_id(persistence_id)
        check_non_negative_int("to_seq", to_seq)
        snaps = self._snapshots.get(pid, {})
        for seq in [s for s in snaps if s <= to_seq]:
            del snaps[seq]

    async def close(self) -> None:
        return None
