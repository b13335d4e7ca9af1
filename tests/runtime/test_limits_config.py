"""Store caps (``Limits``) from the actor system's HOCON config, in memory and on Postgres."""

from __future__ import annotations

from typing import Any

import pytest

from actorpg_lab import ActorSystem, JournalEntry, Limits, PersistenceExtension
from actorpg_lab.postgres import register_postgres_plugins

POSTGRES_JOURNAL_PLUGIN = "actorpg.persistence.journal.postgres"
POSTGRES_SNAPSHOT_PLUGIN = "actorpg.persistence.snapshot-store.postgres"
POSTGRES_DURABLE_STATE_PLUGIN = "actorpg.persistence.durable-state-store.postgres"

def _limits(store: object) -> Limits:
    """The ``limits`` every built-in store has (not part of the store protocols)."""
    limits = getattr(store, "limits")  # noqa: B009
    assert isinstance(limits, Limits)
    return limits


CONFIG = """
  actorpg.persistence.limits { max-payload-bytes = 64, max-tags-per-event = 3 }
  actorpg.persistence.journal.limits.max-tags-per-event = 1
"""


async def test_hocon_limits_reach_the_in_memory_plugins() -> None:
    system = ActorSystem("caps-memory", config=CONFIG)
    try:
        ext = system.extension(PersistenceExtension)
        assert _limits(ext.journal) == Limits(max_payload_bytes=64, max_tags_per_event=1)
        assert _limits(ext.snapshot_store) == Limits(max_payload_bytes=64, max_tags_per_event=3)
        assert _limits(ext.durable_state_store) == Limits(max_payload_bytes=64,
                                                        max_tags_per_event=3)
        with pytest.raises(ValueError, match="max_tags_per_event"):
            await ext.journal.append("p", [JournalEntry(1, ("a", "b"))], 0)
        with pytest.raises(ValueError, match="max_payload_bytes"):
            await ext.snapshot_store.save("p", 1, "x" * 100)
        assert await ext.journal.append("p", [JournalEntry(1, ("a",))], 0)
    finally:
        await system.terminate()


async def test_hocon_limits_reach_the_postgres_plugins(pg_pool: Any) -> None:
    system = ActorSystem("caps-postgres", config=CONFIG + """
      actorpg.persistence.journal.plugin = "actorpg.persistence.journal.postgres"
    """)
    try:
        ext = system.extension(PersistenceExtension)
        durable = register_postgres_plugins(ext, pool=pg_pool,
                                            snapshot_store={"limits": {"max_payload_bytes": 1000}})
        journal = ext.journal_for(POSTGRES_JOURNAL_PLUGIN)
        snapshots = ext.snapshot_store_for(POSTGRES_SNAPSHOT_PLUGIN)
        assert ext.durable_state_store_for(POSTGRES_DURABLE_STATE_PLUGIN) is durable
        assert _limits(journal) == Limits(max_payload_bytes=64, max_tags_per_event=1)
        # an explicit "limits" in the component's dict wins over the config
        assert _limits(snapshots) == Limits(max_payload_bytes=1000)
        assert durable.limits == Limits(max_payload_bytes=64, max_tags_per_event=3)
        with pytest.raises(ValueError, match="max_tags_per_event"):
            await ext.journal.append("p", [JournalEntry(1, ("a", "b"))], 0)
        with pytest.raises(ValueError, match="max_payload_bytes"):
            await durable.upsert("d", 0, "x" * 100)
        assert await journal.highest_seq("p") == 0  # nothing was written
    finally:
        await system.terminate()


@pytest.mark.parametrize(("config", "error", "match"), [
    ("actorpg.persistence.limits.max-payload = 5", ValueError, "actorpg.persistence.limits.max-payload"),
    ("actorpg.persistence.journal.limits.max-tags-per-event = many", TypeError,
     "actorpg.persistence.journal.limits.max-tags-per-event"),
    ("actorpg.persistence.limits = 5", TypeError, "actorpg.persistence.limits"),
    ("actorpg.persistence.limits.max-tags-per-event = 0", ValueError, "at least 1"),
])
async def test_bad_limits_in_the_config_name_the_path(config: str, error: type[Exception],
                                                      match: str) -> None:
    system = ActorSystem("caps-bad", config=config)
    try:
        with pytest.raises(error, match=match):
            system.extension(PersistenceExtension).journal  # noqa: B018
    finally:
        await system.terminate()
