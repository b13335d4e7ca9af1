"""Read models the projection tests use, on PostgreSQL (a table written through
``ctx.conn``) and in memory (a dict updated through ``ctx.on_commit``).

Every model records ``(persistence_id, sequence_nr)`` per handled event with a primary
key (PostgreSQL) or an explicit duplicate check (memory): an event applied twice is an
error at once, not only in the final count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import sql

from actorpg_lab import JournalEntry, PersistentEvent, TagFilter
from actorpg_lab.projections import Projection, ProjectionContext

Key = tuple[str, int]


class DuplicateApplied(AssertionError):
    """An event reached the in-memory read model twice."""


class Sink:
    """Where a :class:`Recorder` writes: one row per handled event."""

    async def setup(self, ctx: ProjectionContext) -> None:
        raise NotImplementedError

    async def insert(self, ctx: ProjectionContext, events: list[PersistentEvent]) -> None:
        raise NotImplementedError

    async def reset(self, ctx: ProjectionContext) -> None:
        raise NotImplementedError

    async def rows(self) -> list[Key]:
        raise NotImplementedError


class MemorySink(Sink):
    def __init__(self) -> None:
        self.seen: dict[Key, int] = {}
        self.order: list[Key] = []

    async def setup(self, ctx: ProjectionContext) -> None:
        return None

    async def insert(self, ctx: ProjectionContext, events: list[PersistentEvent]) -> None:
        keys = [(e.persistence_id, e.sequence_nr) for e in events]

        def commit() -> None:
            for key in keys:
                if key in self.seen:
                    raise DuplicateApplied(f"{key} applied twice")
                self.seen[key] = len(self.order)
                self.order.append(key)

        ctx.on_commit(commit)

    async def reset(self, ctx: ProjectionContext) -> None:
        def commit() -> None:
            self.seen.clear()
            self.order.clear()

        ctx.on_commit(commit)

    async def rows(self) -> list[Key]:
        return list(self.order)


class PgSink(Sink):
    """Rows ``(persistence_id, sequence_nr, n)`` in ``table``; ``n`` numbers them in
    the order they were applied (a sequence), so order can be checked."""

    def __init__(self, url: str, table: str) -> None:
        self.url = url
        self.table = table

    async def setup(self, ctx: ProjectionContext) -> None:
        assert ctx.conn is not None
        await ctx.conn.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (persistence_id TEXT NOT NULL, sequence_nr BIGINT "
            "NOT NULL, n BIGSERIAL, PRIMARY KEY (persistence_id, sequence_nr))").format(
                sql.Identifier(self.table)))

    async def insert(self, ctx: ProjectionContext, events: list[PersistentEvent]) -> None:
        assert ctx.conn is not None
        await ctx.conn.execute(
            sql.SQL("INSERT INTO {} (persistence_id, sequence_nr) "
                    "SELECT p, s FROM unnest(%s::text[], %s::bigint[]) WITH ORDINALITY "
                    "AS u (p, s, o) ORDER BY o").format(sql.Identifier(self.table)),
            [[e.persistence_id for e in events], [e.sequence_nr for e in events]])

    async def reset(self, ctx: ProjectionContext) -> None:
        assert ctx.conn is not None
        await ctx.conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(self.table)))

    async def rows(self) -> list[Key]:
        import psycopg

        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            exists = await (await conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                                               [self.table])).fetchone()
            if not exists or not exists[0]:
                return []
            cur = await conn.execute(sql.SQL(
                "SELECT persistence_id, sequence_nr FROM {} ORDER BY n").format(
                    sql.Identifier(self.table)))
            return [(str(p), int(s)) for p, s in await cur.fetchall()]


Hook = Callable[[ProjectionContext, list[PersistentEvent]], Awaitable[None]]


class Recorder(Projection):
    """Records every handled event in ``sink``; ``fail_on`` keys raise (a poison event);
    ``hook`` runs before the insert (e.g. a barrier or a check)."""

    def __init__(self, sink: Sink, *, name: str = "recorder", version: int = 1,
                 tag_filter: str | TagFilter | None = "t", fail_on: set[Key] | None = None,
                 hook: Hook | None = None) -> None:
        self.sink = sink
        self.name = name
        self.version = version
        self.tag_filter = tag_filter
        self.fail_on = fail_on if fail_on is not None else set()
        self.hook = hook
        self.batches: list[int] = []

    async def setup(self, ctx: ProjectionContext) -> None:
        await self.sink.setup(ctx)

    async def apply(self, ctx: ProjectionContext, events: list[PersistentEvent]) -> None:
        if self.hook is not None:
            await self.hook(ctx, events)
        for event in events:
            if (event.persistence_id, event.sequence_nr) in self.fail_on:
                raise ValueError(f"poison event {event.persistence_id}#{event.sequence_nr}")
        await self.sink.insert(ctx, events)
        self.batches.append(len(events))

    async def reset(self, ctx: ProjectionContext) -> None:
        await self.sink.reset(ctx)


class Forwarder(Projection):
    """A process manager: for every event of tag ``t`` it appends one event tagged
    ``fwd`` to ``out-<pid>`` through ``ctx.journal`` (same transaction)."""

    name = "forwarder"
    tag_filter = "t"

    def __init__(self, fail_after_append: bool = False) -> None:
        self.fail_after_append = fail_after_append

    async def apply(self, ctx: ProjectionContext, events: list[PersistentEvent]) -> None:
        for event in events:
            out = f"out-{event.persistence_id}"
            head = await ctx.journal.highest_seq(out)
            await ctx.journal.append(out, [JournalEntry({"from": event.sequence_nr}, ("fwd",))],
                                     head)
        if self.fail_after_append:
            raise RuntimeError("handler failed after appending")


async def append_tagged(journal: Any, pid: str, n: int, tag: str = "t", *,
                        start: int | None = None) -> list[PersistentEvent]:
    """Append ``n`` events (one per call) tagged ``tag`` to ``pid``; returns them."""
    head = await journal.highest_seq(pid) if start is None else start
    out: list[PersistentEvent] = []
    for i in range(n):
        out.extend(await journal.append(pid, [JournalEntry({"i": head + i}, (tag,))], head + i))
    return out


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float,
                     what: str) -> None:
    """Poll ``check`` until it holds (correctness is asserted by the caller after)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.02)
