"""Checkpoints of projections over an :class:`~actorpg_lab.InMemoryJournal`.

The twin of :mod:`._postgres_store` with the same rules: leases on a clock (the wall
clock, as the server's on PostgreSQL), compare-and-set on owner and previous key at
commit, dead letters, rebuild state.  A batch's transaction is a
:class:`~actorpg_lab.memory._journal_within.MemoryTransaction`: appends through
``ctx.journal`` and ``ctx.on_commit`` callbacks take effect with the checkpoint or not
at all.  Every runner over one journal (or its :meth:`~InMemoryJournal.sharing` twins)
meets the same checkpoints (kept in ``journal.extensions``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from .._tag_filter import EventKey, TagFilter
from ..memory import InMemoryJournal
from ..memory._clock import now_ms
from ..memory._journal_within import MemoryTransaction
from ._checkpoint import Apply, Checkpoint, DeadLetter, HandlerFailed
from ._projection import ProjectionContext

__all__ = ["MemoryCheckpointStore"]


class _Shared:
    """The checkpoint "tables" of one in-memory journal."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, int], Checkpoint] = {}
        self.dead: dict[tuple[str, int, str, int], DeadLetter] = {}
        self.waiters: set[asyncio.Future[None]] = set()

    def wake(self) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters.clear()


class MemoryCheckpointStore:
    """Checkpoints kept beside an :class:`~actorpg_lab.InMemoryJournal`."""

    def __init__(self, journal: InMemoryJournal, checkpoints_table: str) -> None:
        self.journal = journal
        self.table = checkpoints_table
        self.channel = f"{checkpoints_table}_advanced"
        key = f"projections:{checkpoints_table}"
        shared = journal.extensions.get(key)
        if shared is None:
            shared = journal.extensions[key] = _Shared()
        self._shared: _Shared = shared

    def __repr__(self) -> str:
        return f"<MemoryCheckpointStore table={self.table!r} rows={len(self._shared.rows)}>"

    def _put(self, row: Checkpoint, **changes: Any) -> Checkpoint:
        now = now_ms()
        new = dataclasses.replace(row, updated_ms=now, now_ms=now, **changes)
        self._shared.rows[(row.name, row.version)] = new
        return new

    def _get(self, name: str, version: int) -> Checkpoint | None:
        row = self._shared.rows.get((name, version))
        return None if row is None else dataclasses.replace(row, now_ms=now_ms())

    async def ensure(self, name: str, version: int, tag_filter: str) -> Checkpoint:
        row = self._get(name, version)
        if row is None:
            now = now_ms()
            row = Checkpoint(name, version, tag_filter, 0, "", 0, 0, None, None, "running", None,
                             None, None, None, None, None, None, None, None, None, now, now)
            self._shared.rows[(name, version)] = row
        return row

    async def read(self, name: str | None = None, version: int | None = None) -> list[Checkpoint]:
        now = now_ms()
        return [dataclasses.replace(row, now_ms=now)
                for (n, v), row in sorted(self._shared.rows.items())
                if (name is None or n == name) and (version is None or v == version)]

    async def try_acquire(self, name: str, version: int, owner: str,
                          lease_s: float) -> Checkpoint | None:
        row = self._get(name, version)
        if row is None or (row.owner not in (None, owner) and row.lease_live):
            return None
        now = now_ms()
        return self._put(row, owner=owner, lease_until_ms=now + int(lease_s * 1000),
                         heartbeat_ms=now)

    async def heartbeat(self, name: str, version: int, owner: str,
                        lease_s: float) -> Checkpoint | None:
        row = self._get(name, version)
        if row is None or row.owner != owner:
            return None
        now = now_ms()
        return self._put(row, lease_until_ms=now + int(lease_s * 1000), heartbeat_ms=now)

    async def release(self, name: str, version: int, owner: str) -> None:
        row = self._get(name, version)
        if row is not None and row.owner == owner:
            self._put(row, owner=None, lease_until_ms=None)
            self._shared.wake()

    async def _transaction(self, name: str, version: int, rebuilding: bool,
                           body: Any, commit: Any) -> Any:
        """Run ``await body(ctx)``; then, with no await in between, ``commit()`` decides
        (returns ``None``: roll back) and the transaction commits."""
        tx = MemoryTransaction()
        ctx = ProjectionContext(conn=None, tx=tx, journal=self.journal.within(tx), name=name,
                                version=version, rebuilding=rebuilding)
        try:
            try:
                await body(ctx)
            except HandlerFailed:
                raise
            except Exception as exc:
                raise HandlerFailed(f"{type(exc).__name__}: {exc}") from exc
            result = commit()
        except BaseException:
            tx.rollback()
            raise
        if result is None:
            tx.rollback()
            return None
        tx.commit()
        for callback in ctx._after_commit:
            callback()
        return result

    async def setup(self, name: str, version: int, apply: Apply) -> None:
        await self._transaction(name, version, False, apply, lambda: True)

    async def run_batch(
        self, name: str, version: int, owner: str, lease_s: float, *, after: EventKey,
        last: EventKey, count: int, last_event_ms: int | None, apply: Apply,
        rebuilding: bool, finish_rebuild: bool, keep_error: bool, idle_timeout_s: float,
    ) -> str:
        def fits() -> Checkpoint | None:
            row = self._get(name, version)
            if (row is None or row.owner != owner or row.key != after
                    or row.status in ("paused", "rebuild_requested")):
                return None
            return row

        if fits() is None:  # fenced before the handler runs, as the CAS comes first there
            return ""

        def commit() -> str | None:
            row = fits()
            if row is None:
                return None
            now = now_ms()
            status = "running" if finish_rebuild or row.status == "failed" else row.status
            changes: dict[str, Any] = {
                "position": last[0], "persistence_id": last[1], "sequence_nr": last[2],
                "handled": row.handled + count,
                "last_event_ms": last_event_ms if last_event_ms is not None else row.last_event_ms,
                "committed_ms": now, "heartbeat_ms": now,
                "lease_until_ms": now + int(lease_s * 1000), "status": status,
            }
            if finish_rebuild:
                changes.update(rebuild_total=None, rebuild_horizon=None)
            if not keep_error:
                changes.update(error=None, error_pid=None, error_seq=None, error_ms=None)
            self._put(row, **changes)
            return row.status

        result: str | None = await self._transaction(name, version, rebuilding, apply, commit)
        if result is None:
            return ""
        self._shared.wake()
        return result

    async def record_error(self, name: str, version: int, owner: str, *, pid: str | None,
                           seq: int | None, error: str, failed: bool) -> Checkpoint | None:
        row = self._get(name, version)
        if row is None or row.owner != owner:
            return None
        now = now_ms()
        return self._put(row, error=error[:10_000], error_pid=pid, error_seq=seq, error_ms=now,
                         heartbeat_ms=now, status="failed" if failed else row.status)

    async def dead_letter(self, ctx: ProjectionContext, *, pid: str, seq: int, position: int,
                          error: str) -> None:
        letter = DeadLetter(ctx.name, ctx.version, pid, seq, position, error[:10_000], now_ms())
        ctx.on_commit(lambda: self._shared.dead.__setitem__(
            (ctx.name, ctx.version, pid, seq), letter))

    async def dead_letters(self, name: str | None = None,
                           version: int | None = None) -> list[DeadLetter]:
        return sorted((d for d in self._shared.dead.values()
                       if (name is None or d.name == name)
                       and (version is None or d.version == version)),
                      key=lambda d: (d.at_ms, d.name, d.version, d.position, d.persistence_id,
                                     d.sequence_nr))

    async def set_status(self, name: str, version: int, status: str,
                         from_: tuple[str, ...]) -> Checkpoint | None:
        row = self._get(name, version)
        if row is None or row.status not in from_:
            return None
        return self._put(row, status=status)

    async def start_rebuild(self, name: str, version: int, owner: str, lease_s: float, *,
                            reset: Apply, tag_filter: TagFilter) -> Checkpoint | None:
        horizon, _ = await self.journal.visibility_horizon()
        total = sum(1 for events in self.journal._events.values() for e in events
                    if e.position < horizon and tag_filter.matches(e.tags))

        def commit() -> Checkpoint | None:
            row = self._get(name, version)
            if row is None or row.owner != owner:
                return None
            now = now_ms()
            return self._put(row, position=0, persistence_id="", sequence_nr=0, handled=0,
                             last_event_ms=None, status="rebuilding", rebuild_total=total,
                             rebuild_horizon=horizon, rebuild_started_ms=now, committed_ms=now,
                             heartbeat_ms=now, lease_until_ms=now + int(lease_s * 1000),
                             error=None, error_pid=None, error_seq=None, error_ms=None)

        result: Checkpoint | None = await self._transaction(name, version, True, reset, commit)
        return result

    async def listen(self, timeout: float) -> bool:
        return True

    async def wait_advanced(self, timeout: float) -> bool:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._shared.waiters.add(waiter)
        try:  # asyncio.timeout: a wait_for would swallow a cancellation racing the wake
            async with asyncio.timeout(timeout):
                await waiter
            return True
        except TimeoutError:
            return False
        finally:
            self._shared.waiters.discard(waiter)

    async def blocker(self) -> tuple[int | None, float, str, str] | None:
        if not self.journal._open:
            return None
        return (None, 0.0, "open", f"in-memory transaction at position {min(self.journal._open)}")

    async def close(self) -> None:
        return None
