"""Configuration, the persistence extension's plugin registry and register_postgres_plugins."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest

from actorpg_lab import (
    ActorSystem,
    Config,
    DurableStateActor,
    InMemoryJournal,
    JournalError,
    PersistenceExtension,
    PluginNotFoundError,
)
from tests.runtime._bank import Account, AccountState, Counter

PG_JOURNAL = "actorpg.persistence.journal.postgres"
PG_SNAPSHOTS = "actorpg.persistence.snapshot-store.postgres"
PG_DURABLE = "actorpg.persistence.durable-state-store.postgres"


def test_config_sources_agree() -> None:
    hocon = Config.load(f"""
        actorpg.persistence.journal.plugin = "{PG_JOURNAL}"
        actorpg {{ persistence {{ snapshot-store.plugin = "{PG_SNAPSHOTS}" }} }}
    """)
    nested = Config.load({"actorpg": {"persistence": {"journal": {"plugin": PG_JOURNAL},
                                                      "snapshot-store": {"plugin": PG_SNAPSHOTS}}}})
    dotted = Config.load({"actorpg.persistence.journal.plugin": PG_JOURNAL,
                          "actorpg.persistence.snapshot-store": {"plugin": PG_SNAPSHOTS}})
    for cfg in (hocon, nested, dotted):
        assert cfg.get_str("actorpg.persistence.journal.plugin") == PG_JOURNAL
        assert cfg.get_str("actorpg.persistence.snapshot-store.plugin") == PG_SNAPSHOTS
        # untouched defaults survive the merge
        assert cfg.get_str("actorpg.persistence.durable-state-store.plugin").endswith(".inmem")
    assert hocon.as_dict() == nested.as_dict() == dotted.as_dict()
    assert Config.load(None).get_str("actorpg.persistence.journal.plugin").endswith(".inmem")


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="cannot parse the actor-system configuration as HOCON"):
        Config.load("actorpg { persistence = ")
    with pytest.raises(ValueError, match=re.escape("non-empty dotted strings: 'a..b'")):
        Config.load({"a..b": 1})
    cfg = Config.load({"actorpg.persistence.journal.plugin": 3})
    pattern = re.escape("'actorpg.persistence.journal.plugin' must be a non-empty")
    with pytest.raises(TypeError, match=pattern):
        cfg.get_str("actorpg.persistence.journal.plugin")
    with pytest.raises(KeyError, match=re.escape("no configuration value at 'nope.x'")):
        cfg.get("nope.x")


async def test_unknown_plugin_id_names_it_and_the_registered_ones() -> None:
    system = ActorSystem("bank", config={"actorpg.persistence.journal.plugin": "my.journal"})
    with pytest.raises(PluginNotFoundError) as ei:
        system.spawn(Account("acc"))
    message = str(ei.value)
    assert "'my.journal'" in message
    assert "'actorpg.persistence.journal.inmem'" in message
    assert ei.value.plugin_id == "my.journal"
    assert system.actors == []  # nothing was started
    system.extension(PersistenceExtension).register_journal("my.journal", InMemoryJournal)
    ref = system.spawn(Account("acc"))
    assert await ref.ask(("deposit", 1)) == 1
    await system.terminate()

    pg = ActorSystem("pg", config=f'actorpg.persistence.snapshot-store.plugin = "{PG_SNAPSHOTS}"')
    with pytest.raises(PluginNotFoundError, match="register_postgres_plugins"):
        pg.spawn(Account("acc"))
    await pg.terminate()


async def test_factories_are_lazy_and_owned_instances_closed() -> None:
    created: list[InMemoryJournal] = []

    def factory() -> InMemoryJournal:
        journal = InMemoryJournal()
        created.append(journal)
        return journal

    system = ActorSystem("lazy", config={"actorpg.persistence.journal.plugin": "f"})
    ext = system.extension(PersistenceExtension)
    ext.register_journal("f", factory)
    assert created == []
    system.spawn(Account("a"))
    system.spawn(Account("b"))
    assert len(created) == 1 and ext.journal is created[0]
    with pytest.raises(TypeError, match="must be a Journal or a zero-argument factory"):
        ext.register_journal("bad", 42)  # type: ignore[arg-type]
    await system.terminate()
    with pytest.raises(RuntimeError, match="is closed"):
        _ = ext.journal


@pytest.mark.parametrize("style", ["hocon", "dict"])
async def test_config_selects_postgres_plugins(style: str, pg_pool: Any) -> None:
    from actorpg_lab.postgres import (
        PostgresDurableStateStore,
        PostgresJournal,
        PostgresSnapshotStore,
        register_postgres_plugins,
    )

    config: Any
    if style == "hocon":
        config = f"""
          actorpg.persistence.journal.plugin = "{PG_JOURNAL}"
          actorpg.persistence.snapshot-store.plugin = "{PG_SNAPSHOTS}"
          actorpg.persistence.durable-state-store.plugin = "{PG_DURABLE}"
        """
    else:
        config = {"actorpg": {"persistence": {
            "journal": {"plugin": PG_JOURNAL},
            "snapshot-store": {"plugin": PG_SNAPSHOTS},
            "durable-state-store": {"plugin": PG_DURABLE},
        }}}
    system = ActorSystem("bank", config=config)
    ext = system.extension(PersistenceExtension)
    durable = register_postgres_plugins(
        ext, pool=pg_pool, journal={"events_table": "ledger"}, snapshot_store={"keep_n": 1},
        durable_state_store={"table": "kv"},
    )
    assert isinstance(durable, PostgresDurableStateStore) and ext.durable_state_store is durable
    assert isinstance(ext.journal, PostgresJournal) and ext.journal.events_table == "ledger"
    assert isinstance(ext.snapshot_store, PostgresSnapshotStore) and ext.snapshot_store.keep_n == 1
    ref = system.spawn(Account("acc"))
    counter = system.spawn(Counter("c"))
    assert await ref.ask(("deposit", 4)) == 4
    assert await counter.ask(("add", 2)) == 2
    async with pg_pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM ledger")
        assert (await cur.fetchone())[0] == 1
        cur = await conn.execute("SELECT revision FROM kv WHERE persistence_id = 'c'")
        assert (await cur.fetchone())[0] == 1
    await system.terminate()
    assert not pg_pool.closed  # a shared pool is the caller's


async def test_register_postgres_plugins_with_urls_closes_their_pools(pg_url: str) -> None:
    from actorpg_lab.postgres import register_postgres_plugins

    system = ActorSystem("bank", config={
        "actorpg.persistence.journal.plugin": PG_JOURNAL,
        "actorpg.persistence.snapshot-store.plugin": PG_SNAPSHOTS,
    })
    ext = system.extension(PersistenceExtension)
    small = {"min_size": 1, "max_size": 2}
    durable = register_postgres_plugins(
        ext,
        journal={"url": pg_url, "pool_config": small},
        snapshot_store={"url": pg_url, "pool_config": small, "keep_n": 2},
        durable_state_store={"url": pg_url, "pool_config": small},
    )

    class Settings(DurableStateActor):
        durable_state_store = durable

        async def on_command(self, state: Any, command: Any) -> Any:
            await self.persist(command)
            return self.revision

    ref = system.spawn(Account("acc"))
    settings = system.spawn(Settings("settings"))
    assert await ref.ask(("deposit", 4)) == 4
    assert await settings.ask({"theme": "dark"}) == 1
    journal, snapshots = ext.journal, ext.snapshot_store
    await system.terminate()  # the stores (and the pools they built) are closed
    with pytest.raises(JournalError, match="is closed"):
        await journal.highest_seq("acc")
    with pytest.raises(JournalError, match="is closed"):
        await snapshots.load_latest("acc")
    with pytest.raises(JournalError, match="is closed"):
        await durable.load("settings")

    system2 = ActorSystem("bank", config={"actorpg.persistence.journal.plugin": PG_JOURNAL,
                                          "actorpg.persistence.snapshot-store.plugin": PG_SNAPSHOTS})
    register_postgres_plugins(system2.extension(PersistenceExtension), journal={"url": pg_url},
                              snapshot_store={"url": pg_url}, durable_state_store={"url": pg_url})
    ref2 = system2.spawn(Account("acc"))
    assert await ref2.ask(("get",)) == AccountState(4, (4,))
    await system2.terminate()


def test_register_postgres_plugins_validates_first() -> None:
    from actorpg_lab.postgres import register_postgres_plugins

    ext = ActorSystem("v").extension(PersistenceExtension)
    with pytest.raises(ValueError, match="journal needs a connection"):
        register_postgres_plugins(ext)
    with pytest.raises(TypeError, match="snapshot_store must be a dict"):
        register_postgres_plugins(ext, journal={"url": "x"}, snapshot_store="keep_n=3")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bad journal options"):
        register_postgres_plugins(ext, journal={"url": "x", "bogus": 1},
                                  snapshot_store={"url": "x"}, durable_state_store={"url": "x"})
    with pytest.raises(TypeError, match=re.escape("expects system.extension")):
        register_postgres_plugins(object())  # type: ignore[arg-type]
    assert ext.registered()["journal"] == ["actorpg.persistence.journal.inmem"]


def test_import_does_not_import_psycopg() -> None:
    code = ("import sys, actorpg_lab, actorpg_lab.query; "
            "from actorpg_lab import ActorSystem, PersistenceExtension; "
            "ActorSystem('x').extension(PersistenceExtension); "
            "assert 'psycopg' not in sys.modules, 'psycopg imported'")
    subprocess.run([sys.executable, "-c", code], check=True)



async def test_re_registering_keeps_replaced_owned_stores_for_terminate(pg_url: str) -> None:
    """Re-running a notebook cell that registers the plugins must not leak the old pools."""
    from actorpg_lab.postgres import register_postgres_plugins

    system = ActorSystem("nb", config={"actorpg.persistence.journal.plugin": PG_JOURNAL})
    ext = system.extension(PersistenceExtension)
    urls: dict[str, Any] = {"journal": {"url": pg_url}, "snapshot_store": {"url": pg_url},
            "durable_state_store": {"url": pg_url}}
    register_postgres_plugins(ext, **urls)
    first = ext.journal
    assert await first.highest_seq("x") == 0  # opens its pool
    register_postgres_plugins(ext, **urls)
    second = ext.journal
    assert second is not first and await second.highest_seq("x") == 0
    await system.terminate()
    for journal in (first, second):
        with pytest.raises(JournalError, match="is closed"):
            await journal.highest_seq("x")
