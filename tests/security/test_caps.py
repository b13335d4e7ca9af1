"""Issue 9, point 5 (store part): payload-size and tags-per-event caps, in memory and on
PostgreSQL alike, rejected with ``ValueError`` before anything is written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from actorpg_lab import (
    InMemoryDurableStateStore,
    InMemoryJournal,
    InMemorySnapshotStore,
    JournalEntry,
    Limits,
)
from actorpg_lab._validation import DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_MAX_TAGS_PER_EVENT
from actorpg_lab.postgres import PostgresDurableStateStore, PostgresJournal, PostgresSnapshotStore


@dataclass
class Stores:
    journal: Any
    snapshots: Any
    durable: Any


@pytest.fixture(params=["memory", "postgres"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A factory ``stores(limits)`` of the three stores of one backend."""
    made: list[Stores] = []

    def make(limits: Any = None) -> Stores:
        if request.param == "memory":
            kit = Stores(InMemoryJournal(limits=limits), InMemorySnapshotStore(limits=limits),
                         InMemoryDurableStateStore(limits=limits))
        else:
            url = request.getfixturevalue("pg_url")
            kit = Stores(PostgresJournal(url=url, limits=limits),
                         PostgresSnapshotStore(url=url, limits=limits),
                         PostgresDurableStateStore(url=url, limits=limits))
        made.append(kit)
        return kit

    yield make
    for kit in made:
        for store in (kit.journal, kit.snapshots, kit.durable):
            await store.close()


async def _nothing_written(kit: Stores) -> None:
    assert await kit.journal.highest_seq("p") == 0
    assert await kit.snapshots.load_latest("p") is None
    assert await kit.durable.load("p") is None


def test_the_defaults_are_the_documented_ones() -> None:
    assert Limits() == Limits(max_payload_bytes=64 * 1024 * 1024, max_tags_per_event=256)
    assert (DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_MAX_TAGS_PER_EVENT) == (64 * 2**20, 256)


async def test_a_payload_over_64_mib_is_rejected_by_default(stores: Any) -> None:
    kit = stores()
    big = "x" * DEFAULT_MAX_PAYLOAD_BYTES  # its JSON text has 2 more bytes (the quotes)
    with pytest.raises(ValueError, match=r"entries\[1\] payload is too large.*max_payload_bytes"):
        await kit.journal.append("p", [JournalEntry("small"), JournalEntry(big)], 0)
    with pytest.raises(ValueError, match="snapshot state is too large"):
        await kit.snapshots.save("p", 1, big)
    with pytest.raises(ValueError, match="durable state is too large"):
        await kit.durable.upsert("p", 0, big)
    await _nothing_written(kit)


async def test_an_event_with_50000_tags_is_rejected_by_default(stores: Any) -> None:
    kit = stores()
    tags = [f"t{i}" for i in range(50_000)]
    with pytest.raises(ValueError, match=r"entries\[0\] has 50000 tags, over the limit of 256"):
        await kit.journal.append("p", [JournalEntry(1, tags=tags)], 0)
    await _nothing_written(kit)
    written = await kit.journal.append("p", [JournalEntry(1, tags=tags[:256])], 0)
    assert len(written[0].tags) == 256  # exactly at the cap is fine


async def test_the_caps_are_configurable_and_count_utf8_bytes(stores: Any) -> None:
    kit = stores(Limits(max_payload_bytes=12, max_tags_per_event=2))
    with pytest.raises(ValueError, match="14 bytes of JSON"):
        await kit.journal.append("p", [JournalEntry("éééééé")], 0)  # 6 chars + quotes, 14 B
    with pytest.raises(ValueError, match="tags"):
        await kit.journal.append("p", [JournalEntry(1, tags=["a", "b", "c"])], 0)
    with pytest.raises(ValueError, match="snapshot state is too large"):
        await kit.snapshots.save("p", 1, "0123456789abc")
    with pytest.raises(ValueError, match="durable state is too large"):
        await kit.durable.upsert("p", 0, "0123456789abc")
    await _nothing_written(kit)
    await kit.journal.append("p", [JournalEntry("ééééé", tags=["a", "b"])], 0)  # 12 bytes
    as_mapping = stores({"max_payload_bytes": 12})
    with pytest.raises(ValueError, match="too large"):
        await as_mapping.durable.upsert("p", 0, "0123456789abc")


@pytest.mark.parametrize(("limits", "error"), [
    ({"max_payload_bytes": 0}, ValueError),
    ({"max_tags": 3}, ValueError),
    ({"max_payload_bytes": "1"}, TypeError),
    (64, TypeError),
])
def test_bad_limits_are_rejected(limits: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        InMemoryJournal(limits=limits)
