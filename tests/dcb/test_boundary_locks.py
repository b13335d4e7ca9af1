"""Every append path takes its boundary locks (shared, per tag and per type) before it
writes: an exclusive holder of one key holds back exactly the appends that carry it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from actorpg_lab import JournalEntry, event_type
from actorpg_lab.postgres import PostgresJournal
from actorpg_lab.postgres._boundary import append_keys, boundary_key


@event_type("tests.dcb.Locked")
@dataclass(frozen=True)
class Locked:
    n: int


@event_type("tests.dcb.Other")
@dataclass(frozen=True)
class Other:
    n: int


def test_keys_are_stable_distinct_and_sorted() -> None:
    k = boundary_key("events", "t", "course:1")
    assert k == boundary_key("events", "t", "course:1")
    assert -(2**63) <= k < 2**63
    assert k != boundary_key("events", "y", "course:1")  # kind is part of the key
    assert k != boundary_key("other_events", "t", "course:1")  # so is the table
    keys = append_keys("events", ["b", "a", "a"], ["T", None, "T"])
    assert keys == sorted(set(keys)) and len(keys) == 3


async def _held_back(pg_url: str, journal: PostgresJournal, key: int,
                     append: Any) -> None:
    """``append()`` waits while ``key`` is held exclusively, and completes once released."""
    async with await psycopg.AsyncConnection.connect(pg_url) as holder:
        await holder.execute("SELECT pg_advisory_xact_lock(%s)", [key])
        task = asyncio.ensure_future(append())
        await asyncio.sleep(0.4)
        assert not task.done(), "the append did not wait for the exclusive holder"
        await holder.rollback()
        written = await asyncio.wait_for(task, 10)
    assert written


@pytest.fixture
async def journal(pg_pool: Any) -> Any:
    j = PostgresJournal(pool=pg_pool)
    yield j
    await j.close()


async def test_single_untagged_event_locks_its_type(pg_url: str, journal: PostgresJournal) -> None:
    key = boundary_key("events", "y", "tests.dcb.Locked")
    await _held_back(pg_url, journal, key,
                     lambda: journal.append("s-1", [JournalEntry(Locked(1))], 0))


async def test_single_tagged_event_locks_each_tag(pg_url: str, journal: PostgresJournal) -> None:
    for i, tag in enumerate(["a", "b", "c"]):
        key = boundary_key("events", "t", tag)
        await _held_back(pg_url, journal, key, lambda i=i: journal.append(
            "s-1", [JournalEntry(Locked(i), tags=("a", "b", "c"))], i))


async def test_single_event_with_many_keys_uses_the_array(pg_url: str,
                                                           journal: PostgresJournal) -> None:
    tags = tuple(f"t{i}" for i in range(6))  # 7 keys: more than the scalar statement takes
    key = boundary_key("events", "t", "t5")
    await _held_back(pg_url, journal, key,
                     lambda: journal.append("s-1", [JournalEntry(Locked(1), tags=tags)], 0))


async def test_batch_locks_every_events_keys(pg_url: str, journal: PostgresJournal) -> None:
    key = boundary_key("events", "y", "tests.dcb.Other")
    await _held_back(pg_url, journal, key, lambda: journal.append(
        "s-1", [JournalEntry(Locked(1), tags=("x",)), JournalEntry(Other(2))], 0))


async def test_coalesced_appends_lock(pg_url: str, journal: PostgresJournal) -> None:
    key = boundary_key("events", "t", "shared")

    async def many() -> list[Any]:
        # more appends in flight than the journal's slots: some go through append_many
        return await asyncio.gather(*(
            journal.append(f"c-{i}", [JournalEntry(Locked(i), tags=("shared",))], 0)
            for i in range(12)))

    await _held_back(pg_url, journal, key, many)
    assert sum([await journal.highest_seq(f"c-{i}") for i in range(12)]) == 12


async def test_disjoint_and_plain_appends_do_not_wait(pg_url: str,
                                                      journal: PostgresJournal) -> None:
    """An exclusive holder of one tag holds back nothing else; shared never waits on shared."""
    async with await psycopg.AsyncConnection.connect(pg_url) as holder:
        await holder.execute("SELECT pg_advisory_xact_lock(%s)",
                             [boundary_key("events", "t", "busy")])
        async with await psycopg.AsyncConnection.connect(pg_url) as sharer:
            await sharer.execute("SELECT pg_advisory_xact_lock_shared(%s)",
                                 [boundary_key("events", "t", "free")])
            await asyncio.wait_for(journal.append(
                "s-2", [JournalEntry(Locked(1), tags=("free",)), JournalEntry({"plain": 1})],
                0), 5)
            await asyncio.wait_for(journal.append("s-3", [JournalEntry({"plain": 1})], 0), 5)
        await holder.rollback()


async def test_plain_json_takes_no_type_lock(journal: PostgresJournal) -> None:
    assert append_keys("events", [], [journal.codec.type_name(type({"a": 1}))]) == []


async def test_append_in_transaction_locks_until_commit(pg_url: str,
                                                        journal: PostgresJournal) -> None:
    key = boundary_key("events", "t", "tx")
    await _held_back(pg_url, journal, key, lambda: _in_tx(pg_url, journal))
    # held by the caller's transaction until it ends
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        await journal.append_in_transaction(conn, "tx-2", [JournalEntry(Locked(1), tags=("tx",))],
                                            0)
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as probe:
            cur = await probe.execute("SELECT pg_try_advisory_lock(%s)", [key])
            assert await cur.fetchone() == (False,)
        await conn.commit()
    assert await journal.highest_seq("tx-2") == 1


async def _in_tx(pg_url: str, journal: PostgresJournal) -> list[Any]:
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        written = await journal.append_in_transaction(
            conn, "tx-1", [JournalEntry(Locked(1), tags=("tx",))], 0)
        await conn.commit()
    return written
