"""Fixtures for the scale tests: a Workbench in the test's own schema and a seeder."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from actorpg_lab import JournalEntry
from actorpg_lab.lab import Workbench, connect

#: Streams with awkward ids: path separators, Hive syntax, escapes, quotes, unicode.
HOSTILE_IDS = (
    "../../escape",
    "a/b=c",
    "pid_bucket=3",
    "x%2Fy",
    "new\nline",
    "tab\there",
    "quote'\"",
    "back\\slash",
    "ünï 🚀",
    ".hidden",
    "_underscore",
)

Seed = Callable[..., list[str]]


@pytest.fixture
def wb(pg_url: str) -> Iterator[Workbench]:
    workbench = connect(pg_url, quiet=True)
    try:
        yield workbench
    finally:
        workbench.close()


@pytest.fixture
def seed(wb: Workbench) -> Seed:
    """``seed(streams=.., per_stream=.., ids=..)``: append tagged and untagged events
    through the journal (one batch per stream) and return the ids."""

    def run(streams: int = 6, per_stream: int = 20, ids: tuple[str, ...] = ()) -> list[str]:
        pids = [*ids, *(f"s-{k:03d}" for k in range(streams))]
        for pid in pids:
            entries = [JournalEntry({"n": i, "pid": pid}, tags=("even",) if i % 2 == 0 else ())
                       for i in range(per_stream)]
            wb.run(wb.journal.append(pid, entries, 0))
        return pids

    return run
