"""Shared fixtures of the DCB tests: a course/student model and journal factories."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actorpg_lab import JournalEntry, event_type


@event_type("tests.dcb.Seat", aliases=("tests.dcb.OldSeat",))
@dataclass(frozen=True)
class Seat:
    writer: int
    seen: int


@event_type("tests.dcb.A")
@dataclass(frozen=True)
class A:
    info: str


@event_type("tests.dcb.B")
@dataclass(frozen=True)
class B:
    info: str


@event_type("tests.dcb.C")
@dataclass(frozen=True)
class C:
    info: str


SEAT = "tests.dcb.Seat"


def seat(writer: int, seen: int, *tags: str) -> JournalEntry:
    return JournalEntry(Seat(writer, seen), tags=tags)


async def few_distinct_tags(pg_pool: Any, journal: Any, per_stream: int) -> None:
    """Four streams of ``per_stream`` seats all tagged ``common``, analysed: statistics
    saying every event carries one tag and one type (what misleads a generic plan)."""
    for s in range(4):
        await journal.append(f"s{s}", [seat(s, i, "common") for i in range(per_stream)], 0)
    async with pg_pool.connection() as conn:
        await conn.execute("ANALYZE events")
        await conn.execute("ANALYZE events_tags")
