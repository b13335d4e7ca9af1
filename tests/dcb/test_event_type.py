"""The event type: ``PersistentEvent.event_type`` and the journal's IMMUTABLE type
function with its index (old rows covered, aliases honoured, nothing rewritten)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from actorpg_lab import InMemoryJournal, JournalEntry, PersistentEvent, default_codec, event_type
from actorpg_lab.postgres import PostgresJournal


@event_type("tests.dcb.Joined", aliases=("tests.dcb.Enrolled",))
@dataclass(frozen=True)
class Joined:
    student: str


def test_event_type_of_plain_and_typed_events() -> None:
    assert PersistentEvent("p", 1, Joined("s"), 0).event_type == "tests.dcb.Joined"
    assert PersistentEvent("p", 1, {"a": 1}, 0).event_type is None
    assert PersistentEvent("p", 1, {"a": 1}, 0).metadata == {}


async def test_memory_journal_reads_the_type() -> None:
    journal = InMemoryJournal()
    await journal.append("p", [JournalEntry(Joined("s")), JournalEntry([1])], 0)
    assert [e.event_type for e in await journal.read("p")] == ["tests.dcb.Joined", None]


@pytest.fixture
async def journal(pg_pool: Any) -> Any:
    j = PostgresJournal(pool=pg_pool)
    yield j
    await j.close()


async def test_type_function_and_index(journal: PostgresJournal, pg_pool: Any) -> None:
    await journal.append("p", [JournalEntry(Joined("s")),
                               JournalEntry("plain")], 0)
    # a row written under the alias (as an older version of the code wrote it)
    async with pg_pool.connection() as conn:
        await conn.execute(
            "INSERT INTO events (persistence_id, sequence_nr, payload, tags, timestamp) "
            "VALUES ('old', 1, %s, '', 0)",
            [default_codec.encode(Joined("s")).replace("tests.dcb.Joined", "tests.dcb.Enrolled")])
        cur = await conn.execute("SELECT persistence_id, sequence_nr, events_type_v1(payload) "
                                 "FROM events ORDER BY 1, 2")
        assert await cur.fetchall() == [("old", 1, "tests.dcb.Enrolled"),
                                        ("p", 1, "tests.dcb.Joined"),
                                        ("p", 2, None)]
        cur = await conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'events_by_type'::regclass")
        assert await cur.fetchone() == (True,)
        await conn.execute("SET enable_seqscan = off")
        cur = await conn.execute("EXPLAIN SELECT 1 FROM events WHERE events_type_v1(payload) "
                                 "= 'tests.dcb.Joined'")
        plan = " ".join(r[0] for r in await cur.fetchall())
        assert "events_by_type" in plan
    [old] = await journal.read("old")
    assert old.event == Joined("s") and old.event_type == "tests.dcb.Joined"


async def test_existing_journal_gets_function_and_index(pg_url: str, pg_pool: Any) -> None:
    async with pg_pool.connection() as conn:
        first = PostgresJournal(pool=pg_pool)
        await first.append("p", [JournalEntry(Joined("s"))], 0)
        await first.close()
        await conn.execute("DROP INDEX events_by_type")
        await conn.execute("DROP FUNCTION events_type_v1(text)")
    again = PostgresJournal(url=pg_url)
    try:
        await again.highest_seq("p")  # the schema check builds what is missing
    finally:
        await again.close()
    async with pg_pool.connection() as conn:
        cur = await conn.execute("SELECT events_type_v1(payload) FROM events")
        assert await cur.fetchall() == [("tests.dcb.Joined",)]


@pytest.mark.parametrize("name", ['tests.dcb.q"uote', "tests.dcb.back\\slash", "tests.dcb.ünï",
                                  "tests.dcb." + "x" * 1100, "tests.dcb.tab\t"])
async def test_unusual_type_names(journal: PostgresJournal, pg_pool: Any, name: str) -> None:
    """The fast path (no escapes) and the regular expression agree; a name too long for
    the first 1 KiB has no type (as the regular expression says)."""
    import dataclasses

    from actorpg_lab import Query, QueryItem

    cls = dataclasses.make_dataclass("Odd", [("n", int)], frozen=True)
    cls.__module__ = __name__
    cls.__qualname__ = f"Odd_{abs(hash(name))}"
    default_codec.register(cls, name)
    await journal.append("odd", [JournalEntry(cls(1))], 0)
    async with pg_pool.connection() as conn:
        cur = await conn.execute("SELECT events_type_v1(payload), substring(left(payload, 1024) "
                                 "from '^\\{\"[$]type\":\"((?:[^\"\\\\]|\\\\.)*)\"') FROM events")
        fast, regex = (await cur.fetchone())
        cur = await conn.execute("SELECT payload FROM events")
        (payload,) = (await cur.fetchone())
    assert fast == regex
    import pyarrow as pa

    from actorpg_lab.lab.frames.event_type import event_types

    assert event_types(pa.array([payload, '{"plain": 1}'])).to_pylist() == [fast, None]
    found = await journal.read_matching(Query([QueryItem(types=[name])]))
    assert len(found.events) == (0 if len(name) > 1000 else 1)


def _payloads() -> list[str]:
    """Envelopes whose names end before, at and after the head the frames look at first
    (multi-byte characters across its edge included), escapes, plain JSON and text."""
    out = ['{"plain": 1}', "not json", "", '{"$type":"', '{"$type":"unterminated',
           '{"$type":"a\\"b","$value":{}}', '{"$type":"x\\\\y","$value":{}}']
    for n in range(1, 40):
        for name in ("n" * n, "é" * n, "t." + "ü" * (n // 2) + "x" * (n % 2)):
            out.append('{"$type":"' + name + '","$value":{"amount":' + str(n) + "}}")
    return out


async def test_frame_types_match_the_journal_rule(journal: PostgresJournal,
                                                  pg_pool: Any) -> None:
    """The frames' event_type (one regular expression per distinct payload head, the exact
    rule for a batch with a longer name) is the journal's type function, row by row."""
    import pyarrow as pa

    from actorpg_lab.lab.frames.event_type import (
        HEAD_BYTES,
        LONGER_HEADS,
        event_types,
        exact_event_types,
    )

    payloads = _payloads()
    await journal.append("p", [JournalEntry({"n": 1})], 0)  # creates the type function
    async with pg_pool.connection() as conn:
        cur = await conn.execute("SELECT events_type_v1(p) FROM unnest(%s::text[]) p",
                                 (payloads,))
        server = [row[0] for row in await cur.fetchall()]
    assert event_types(pa.array(payloads)).to_pylist() == server
    assert exact_event_types(pa.array(payloads)).to_pylist() == server
    short = [p for p, name in zip(payloads, server, strict=True)
             if name is None or len(name.encode()) + 11 <= HEAD_BYTES]
    shorter = event_types(pa.array(short))  # the head path: names end inside the head
    assert shorter.to_pylist() == exact_event_types(pa.array(short)).to_pylist()
    assert len(shorter.dictionary) == len(set(shorter.to_pylist()) - {None})
    # names past the first head but inside the longer one: the second try, same names
    medium = [p for p, name in zip(payloads, server, strict=True)
              if name is None or len(name.encode()) + 11 <= LONGER_HEADS[0]]
    assert any(name is not None and len(name.encode()) + 11 > HEAD_BYTES
               for name in (event_types(pa.array(medium)).to_pylist()))
    assert event_types(pa.array(medium)).to_pylist() == \
        exact_event_types(pa.array(medium)).to_pylist()
    assert event_types(pa.array([], pa.string())).to_pylist() == []
