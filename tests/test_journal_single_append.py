"""The one-untagged-event append statement (``journal_append_one_untagged.sql``).

It is a plain INSERT guarded by the head check that returns no row on a conflict, so
the journal re-reads the head: these tests pin the outcome that path must keep.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from actorpg_lab import JournalConcurrencyError, JournalEntry, add_write_listener
from actorpg_lab.postgres import PostgresJournal


async def test_conflicts_name_the_head_and_are_reported(pg_pool: Any) -> None:
    journal = PostgresJournal(pool=pg_pool)
    attempts: list[Any] = []
    unsubscribe = add_write_listener(attempts.append)
    try:
        await journal.append("s-1", [JournalEntry({"n": 1})], 0)
        await journal.append("s-1", [JournalEntry({"n": 2})], 1)
        for expected in (0, 1, 7):  # behind and ahead of the head
            with pytest.raises(JournalConcurrencyError) as info:
                await journal.append("s-1", [JournalEntry({"n": 3})], expected)
            assert (info.value.expected_seq, info.value.actual_seq) == (expected, 2)
        await journal.delete("s-1", 2)  # the deletion mark is part of the head
        with pytest.raises(JournalConcurrencyError) as info:
            await journal.append("s-1", [JournalEntry({"n": 3})], 0)
        assert info.value.actual_seq == 2
        written = await journal.append("s-1", [JournalEntry({"n": 3})], 2)
    finally:
        unsubscribe()
    assert [(e.sequence_nr, e.event, e.tags) for e in written] == [(3, {"n": 3}, ())]
    assert [e.event for e in await journal.read("s-1")] == [{"n": 3}]
    assert [(a.outcome, a.expected, a.actual, a.written) for a in attempts] == [
        ("ok", 0, 0, 1), ("ok", 1, 1, 2),
        ("conflict", 0, 2, None), ("conflict", 1, 2, None), ("conflict", 7, 2, None),
        ("conflict", 0, 2, None), ("ok", 2, 2, 3),
    ]


async def test_notifies_only_when_written(pg_url: str, pg_pool: Any) -> None:
    journal = PostgresJournal(pool=pg_pool)
    with psycopg.connect(pg_url, autocommit=True) as listener:
        listener.execute("LISTEN events_appended")
        await journal.append("s-1", [JournalEntry({"n": 1})], 0)
        with pytest.raises(JournalConcurrencyError):
            await journal.append("s-1", [JournalEntry({"n": 2})], 0)
        await journal.append("s-1", [JournalEntry({"n": 2})], 1)
        listener.execute("SELECT 1")  # collects the notifications delivered so far
        got = [n.channel for n in listener.notifies(timeout=0.5, stop_after=3)]
    assert got == ["events_appended", "events_appended"]
    quiet = PostgresJournal(pool=pg_pool, notify=False)
    with psycopg.connect(pg_url, autocommit=True) as listener:
        listener.execute("LISTEN events_appended")
        await quiet.append("s-2", [JournalEntry({"n": 1})], 0)
        listener.execute("SELECT 1")
        assert list(listener.notifies(timeout=0.2)) == []
