"""Shared fixtures of the DCB tests: a course/student model and journal factories."""

from __future__ import annotations

from dataclasses import dataclass

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
