"""Hostile and bad input: stored and read back byte-for-byte, or rejected BEFORE writing.

Every value path (persistence id, tags, payload keys and values, table names) is
tried with SQL-injection strings, quotes, unicode (emoji, right-to-left, combining
marks), NUL characters, very long strings, huge payloads, NaN/Infinity, deep
nesting and lone surrogates.  After each rejection the tables are checked to be
untouched; after each acceptance the raw column text is compared with what was sent.
A canary table proves no SQL ran from data.
"""

from __future__ import annotations

import math
import random
import re
import string
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest

from actorpg_lab import JournalEntry, TagFilter, default_codec
from actorpg_lab.postgres import PostgresDurableStateStore, PostgresJournal, PostgresSnapshotStore

INJECTION = [
    "'; DROP TABLE canary; --",
    "\"; DROP TABLE canary; --",
    "x' OR '1'='1",
    "$$; DROP TABLE canary; $$",
    "%s %(pid)s {events} {} %%",
    "\\'; SELECT pg_sleep(10); --",
    "1); DELETE FROM events; --",
    "COPY canary TO PROGRAM 'touch /tmp/pwned'",
    "\\x00\\u0000",
]
UNICODE = [
    "emoji 🔥💾🧪 👩‍👩‍👧‍👦",        # astral plane + zero-width joiners
    "RTL \u202eevil\u202c مرحبا שלום",  # right-to-left override + Arabic/Hebrew
    "combining e\u0301 a\u0308 \u0338",  # combining marks
    "zero\u200bwidth \ufeffBOM",
    "line\u2028sep\u2029para\r\n\t",
    "ctrl \x01\x1b[31m\x7f",
    "CJK 漢字 かな 한국어",
]
VALUES = INJECTION + UNICODE

Stores = tuple[PostgresJournal, PostgresSnapshotStore, PostgresDurableStateStore]


@pytest.fixture
async def stores(pg_url: str) -> AsyncIterator[Stores]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE canary (id int)")
        conn.execute("INSERT INTO canary VALUES (42)")
    j, s, d = (PostgresJournal(url=pg_url), PostgresSnapshotStore(url=pg_url, keep_n=0),
               PostgresDurableStateStore(url=pg_url))
    yield j, s, d
    for store in (j, s, d):
        await store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM canary").fetchone()
        assert row == (42,), "the canary table was modified"


def table_counts(pg_url: str) -> dict[str, int]:
    counts = {}
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for table in ("events", "events_tags", "events_meta", "snapshots", "durable_state"):
            try:
                row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
                counts[table] = int(row[0]) if row else 0
            except psycopg.errors.UndefinedTable:
                counts[table] = 0
    return counts


async def assert_every_store_rejects(
    stores: Stores, *, pid: str = "p", value: Any = "e", match: str | None = None
) -> None:
    """Writing ``value`` under ``pid`` is a ``ValueError`` (matching ``match``) on each store.

    The journal gets a batch whose first entry is fine, so a rejection must refuse the
    whole batch.
    """
    journal, snapshots, durable = stores
    writes: dict[str, Callable[[], Awaitable[Any]]] = {
        "journal.append": lambda: journal.append(pid, [JournalEntry(1), JournalEntry(value)], 0),
        "snapshots.save": lambda: snapshots.save(pid, 1, value),
        "durable.upsert": lambda: durable.upsert(pid, 0, value),
    }
    for name, write in writes.items():
        try:
            await write()
        except ValueError as exc:
            assert match is None or re.search(match, str(exc)), f"{name}: {exc}"
        else:
            pytest.fail(f"{name} accepted {value!r:.80} under persistence_id {pid!r:.80}")


def raw_event(pg_url: str, pid: str, seq: int) -> tuple[str, str, str] | None:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT persistence_id, payload, tags FROM events "
            "WHERE persistence_id = %s AND sequence_nr = %s", [pid, seq]
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])


async def test_hostile_strings_round_trip_on_every_value_path(
    stores: Stores, pg_url: str
) -> None:
    journal, snapshots, durable = stores
    tried = 0
    for i, value in enumerate(VALUES):
        pid = f"{value}#{i}"
        tag = value.replace(",", ";")
        event = {value: value, "list": [value, i], "nul": f"a\x00{value}"}
        written = await journal.append(pid, [JournalEntry(event, (tag, "all"))], 0)
        assert written[0].event == event
        raw = raw_event(pg_url, pid, 1)
        assert raw is not None, f"event of {pid!r} not found by exact id"
        assert raw == (pid, default_codec.encode(event), f"{tag},all")  # byte-for-byte
        [back] = await journal.read(pid)
        assert (back.persistence_id, back.event, back.tags) == (pid, event, (tag, "all"))
        [by_tag] = await journal.read_by_tag(TagFilter(all=(tag,)))
        assert by_tag.persistence_id == pid and by_tag.event == event
        await snapshots.save(pid, 1, event)
        snap = await snapshots.load_latest(pid)
        assert snap is not None and snap.state == event
        await durable.upsert(pid, 0, event)
        rec = await durable.load(pid)
        assert rec is not None and rec.state == event and rec.revision == 1
        tried += 1
    assert sorted(await journal.persistence_ids()) == sorted(f"{v}#{i}" for i, v in
                                                              enumerate(VALUES))
    assert len(await journal.read_by_tag(TagFilter(all=("all",)))) == len(VALUES)
    print(f"\nFIGURES hostile strings: {tried} values x (pid, tag, key, value) on 3 stores")


@pytest.mark.parametrize("bad", [
    "events\"; DROP TABLE canary; --", "events; DROP TABLE canary", "ev ents", "1events",
    "événements", "events-1", "", "x" * 58, "events\x00", "public.events",
])
async def test_injection_in_table_names_is_a_value_error(bad: str, pg_url: str) -> None:
    with pytest.raises(ValueError, match="must"):
        PostgresJournal(url=pg_url, events_table=bad)
    with pytest.raises(ValueError, match="must"):
        PostgresJournal(url=pg_url, tags_table=bad)
    with pytest.raises(ValueError, match="must"):
        PostgresSnapshotStore(url=pg_url, snapshots_table=bad)
    with pytest.raises(ValueError, match="must"):
        PostgresDurableStateStore(url=pg_url, table=bad)


@pytest.mark.parametrize("bad", [None, 1, b"events"])
async def test_non_str_table_names_are_type_errors(bad: Any, pg_url: str) -> None:
    with pytest.raises(TypeError):
        PostgresJournal(url=pg_url, events_table=bad)
    with pytest.raises(TypeError):
        PostgresDurableStateStore(url=pg_url, table=bad)


def _random_text(n: int, seed: int) -> str:
    rng = random.Random(seed)  # incompressible, so PostgreSQL cannot squeeze it into an index
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


MAX_ID_BYTES = 1024  # documented in actorpg_lab._validation


async def test_longest_allowed_ids_and_tags_work_even_incompressible(
    stores: Stores, pg_url: str
) -> None:
    journal, snapshots, durable = stores
    pid = _random_text(MAX_ID_BYTES, 1)
    tags = (_random_text(MAX_ID_BYTES, 2), _random_text(MAX_ID_BYTES - 4, 3) + "🔥")
    await journal.append(pid, [JournalEntry("e", tags)], 0)
    [back] = await journal.read(pid)
    assert back.tags == tags and back.persistence_id == pid
    assert len(await journal.read_by_tag(TagFilter(all=(tags[1],)))) == 1
    await snapshots.save(pid, 1, "s")
    await durable.upsert(pid, 0, "d")
    emoji_pid = "🔥" * (MAX_ID_BYTES // 4)  # 1024 bytes in UTF-8
    await journal.append(emoji_pid, [JournalEntry("e")], 0)


async def test_too_long_ids_and_tags_are_rejected_before_writing(stores: Stores, pg_url: str) -> None:
    journal, _, _ = stores
    before = table_counts(pg_url)
    long_pid = _random_text(MAX_ID_BYTES + 1, 4)
    for pid in (long_pid, "🔥" * (MAX_ID_BYTES // 4) + "x", "x" * 1_000_000):
        await assert_every_store_rejects(stores, pid=pid, match="persistence_id")
    with pytest.raises(ValueError, match="tag"):
        await journal.append("ok", [JournalEntry("e", ("ok",)),
                                    JournalEntry("e", (_random_text(MAX_ID_BYTES + 1, 5),))], 0)
    assert table_counts(pg_url) == before
    assert await journal.highest_seq("ok") == 0


@pytest.mark.parametrize("pid", ["a\x00b", "\x00", ""])
async def test_nul_and_empty_persistence_ids_are_rejected(
    stores: Stores, pid: str,
    pg_url: str,
) -> None:
    await assert_every_store_rejects(stores, pid=pid, match="persistence_id")
    assert table_counts(pg_url)["events"] == 0


@pytest.mark.parametrize("tag", ["a,b", ",", "", "nul\x00", "\ud800"])
async def test_bad_tags_reject_the_whole_batch(
    stores: Stores, tag: str,
    pg_url: str,
) -> None:
    journal, _, _ = stores
    with pytest.raises(ValueError, match="tag"):
        await journal.append("p", [JournalEntry(1, ("fine",)), JournalEntry(2, (tag,))], 0)
    assert await journal.highest_seq("p") == 0
    assert table_counts(pg_url)["events_tags"] == 0


SURROGATES = ["\ud800", "a\udfffb", "\udc80\ud800"]


@pytest.mark.parametrize("s", SURROGATES)
async def test_lone_surrogates_are_value_errors_before_writing(
    stores: Stores, s: str,
    pg_url: str,
) -> None:
    await assert_every_store_rejects(stores, pid=f"pid{s}")
    for value in ({"k": s}, {s: 1}, [s], s):
        await assert_every_store_rejects(stores, value=value)
    assert set(table_counts(pg_url).values()) == {0}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, {"x": [1, math.nan]}])
async def test_nan_and_infinity_are_rejected_before_writing(
    stores: Stores, bad: Any,
    pg_url: str,
) -> None:
    await assert_every_store_rejects(stores, value=bad, match="JSON")
    assert set(table_counts(pg_url).values()) == {0}
    assert await stores[0].persistence_ids() == []


def _nested(depth: int, kind: str) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


@pytest.mark.parametrize("depth", [100, 500, 999, 1000, 1024, 1025, 2000, 10_000, 100_000])
@pytest.mark.parametrize("kind", ["list", "dict"])
async def test_deep_nesting_round_trips_or_is_rejected_cleanly(
    stores: Stores, depth: int,
    kind: str, pg_url: str,
) -> None:
    journal, _, durable = stores
    value = _nested(depth, kind)
    try:
        await journal.append("deep", [JournalEntry(value)], 0)
    except ValueError as exc:
        assert "nested too deeply" in str(exc)
        assert table_counts(pg_url)["events"] == 0
        with pytest.raises(ValueError):
            await durable.upsert("deep", 0, value)
        assert depth >= 500, "reasonable nesting must be accepted"
        return
    [back] = await journal.read("deep")  # whatever was accepted must read back identically
    assert back.event == value
    await durable.upsert("deep", 0, value)
    rec = await durable.load("deep")
    assert rec is not None and rec.state == value


async def test_huge_payload_50_mb_round_trips(
    stores: Stores, pg_url: str
) -> None:
    journal, _, _ = stores
    big = {"blob": _random_text(1000, 6) * 50_000, "tail": "🔥end"}  # 50 MB of text
    text = default_codec.encode(big)
    assert len(text.encode()) >= 50_000_000
    await journal.append("huge", [JournalEntry({"small": 1}), JournalEntry(big, ("huge",))], 0)
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT md5(payload), octet_length(payload) FROM events "
                           "WHERE persistence_id = 'huge' AND sequence_nr = 2").fetchone()
    import hashlib

    assert row == (hashlib.md5(text.encode()).hexdigest(), len(text.encode()))
    [back] = await journal.read("huge", 2, 2)
    assert back.event == big
    del big, back, text


async def test_injection_strings_as_tag_filters_only_match_literally(
    stores: Stores,
) -> None:
    journal, _, _ = stores
    await journal.append("p", [JournalEntry(1, ("plain",))], 0)
    for value in INJECTION:
        tag = value.replace(",", ";")
        assert await journal.read_by_tag(TagFilter(all=(tag,))) == []
        assert await journal.read_by_tag(TagFilter(any=(tag, "nope"))) == []
        got = await journal.read_by_tag(TagFilter(all=("plain",), not_=(tag,)))
        assert [e.event for e in got] == [1]


@pytest.mark.parametrize("number", [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1,
                                    10**30, -(10**40)])
async def test_big_integers_round_trip_exactly_or_are_rejected_before_writing(
    stores: Stores, number: int, pg_url: str
) -> None:
    """JSON has no integer limit but the decoder does (64 bits): a value that would come
    back as a (lossy) float must be refused up front, never silently altered."""
    journal, snapshots, durable = stores
    event = {"n": number, "nested": [{"k": number}]}
    try:
        await journal.append("big", [JournalEntry(event)], 0)
    except ValueError as exc:
        assert str(number) in str(exc)
        assert set(table_counts(pg_url).values()) == {0}
        await assert_every_store_rejects(stores, pid="big", value=event, match=str(number))
        assert set(table_counts(pg_url).values()) == {0}
        return
    [back] = await journal.read("big")
    assert back.event == event and type(back.event["n"]) is int
    await snapshots.save("big", 1, event)
    snap = await snapshots.load_latest("big")
    assert snap is not None and snap.state == event and type(snap.state["n"]) is int
    await durable.upsert("big", 0, event)
    rec = await durable.load("big")
    assert rec is not None and rec.state == event and type(rec.state["n"]) is int
