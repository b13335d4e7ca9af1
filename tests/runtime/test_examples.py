"""The documented examples run as written: API.md's actor example and the README example."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from actorpg_lab import ActorSystem, PersistenceExtension, PersistentActor
from actorpg_lab.postgres import PostgresDurableStateStore, register_postgres_plugins


class Account(PersistentActor):
    """The smallest account: the state is the balance, events are signed amounts."""

    def initial_state(self) -> int:
        return 0

    def on_event(self, state: int, event: Any) -> int:
        return state + int(event)

    async def on_command(self, state: int, command: Any) -> int:
        await self.persist(command)
        balance: int = self.state
        return balance


async def test_api_md_actor_example(pg_pool: Any) -> None:
    pool = pg_pool
    command = 25
    # ---- API.md "Actors", verbatim --------------------------------------------------
    system = ActorSystem("bank", config='''
      actorpg.persistence.journal.plugin = "actorpg.persistence.journal.postgres"
      actorpg.persistence.snapshot-store.plugin = "actorpg.persistence.snapshot-store.postgres"
    ''')                                   # config may also be a dict; no config => in-memory plugins
    ext = system.extension(PersistenceExtension)
    durable = register_postgres_plugins(ext, pool=pool,            # from actorpg_lab.postgres
                                        journal={"events_table": "events"},
                                        snapshot_store={"keep_n": 3},
                                        durable_state_store={})   # returns the durable-state store
    ref = system.spawn(Account("account-1"))   # an actor instance; returns an ActorRef
    await ref.ask(command)                     # returns what on_command returned, or raises what it raised
    ref.tell(command)                          # fire and forget
    await system.terminate()
    # ------------------------------------------------------------------------------------
    assert isinstance(durable, PostgresDurableStateStore)
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT sequence_nr, payload FROM events WHERE persistence_id = 'account-1' "
            "ORDER BY sequence_nr")
        assert await cur.fetchall() == [(1, "25"), (2, "25")]  # the told command ran too


README_EXAMPLE = textwrap.dedent('''
    import asyncio
    import os
    from dataclasses import dataclass

    from actorpg_lab import (ActorSystem, DurableStateActor, EmbeddedPostgres, PersistenceExtension,
                             PersistentActor, event_type, every_n_events)
    from actorpg_lab.postgres import register_postgres_plugins

    @event_type("bank.Deposited")
    @dataclass(frozen=True)
    class Deposited:
        amount: int

    @event_type("bank.Withdrawn")
    @dataclass(frozen=True)
    class Withdrawn:
        amount: int

    class Account(PersistentActor):                      # event sourced: state = fold(events)
        def initial_state(self):
            return 0

        def on_event(self, balance, event):              # pure
            return balance + (event.amount if isinstance(event, Deposited) else -event.amount)

        def snapshot_policy(self):
            return every_n_events(100)

        def tags_for(self, event):
            return ["bank"]

        async def on_command(self, balance, command):
            op, amount = command
            if op == "withdraw" and amount > balance:
                raise ValueError(f"insufficient funds: {balance} < {amount}")
            await self.persist(Deposited(amount) if op == "deposit" else Withdrawn(amount))
            return self.state

    class Preferences(DurableStateActor):                # durable state: one row, a revision
        def initial_state(self):
            return {}

        async def on_command(self, prefs, update):
            await self.persist({**prefs, **update})
            return self.revision

    async def main(url):
        system = ActorSystem("bank", config="""
          actorpg.persistence.journal.plugin = "actorpg.persistence.journal.postgres"
          actorpg.persistence.snapshot-store.plugin = "actorpg.persistence.snapshot-store.postgres"
          actorpg.persistence.durable-state-store.plugin = "actorpg.persistence.durable-state-store.postgres"
        """)
        register_postgres_plugins(system.extension(PersistenceExtension), journal={"url": url},
                                  snapshot_store={"url": url}, durable_state_store={"url": url})
        account = system.spawn(Account("account-1"))
        prefs = system.spawn(Preferences("prefs-1"))
        await account.ask(("deposit", 100))
        print("balance", await account.ask(("withdraw", 30)))
        try:
            await account.ask(("withdraw", 1_000))
        except ValueError as exc:
            print("refused:", exc)
        print("prefs revision", await prefs.ask({"currency": "EUR"}))
        await system.terminate()                         # closes the pools it created

    if __name__ == "__main__":
        url = os.environ.get("ACTORPG_DSN") or EmbeddedPostgres(".actorpg/pg").start()
        asyncio.run(main(url))
''')


def test_readme_example_runs(pg_url: str, tmp_path: Path) -> None:
    script = tmp_path / "bank.py"
    script.write_text(README_EXAMPLE)
    env = {**os.environ, "ACTORPG_DSN": pg_url}
    first = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                           timeout=120, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "balance 70", "refused: insufficient funds: 70 < 1000", "prefs revision 1"]
    second = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert second.returncode == 0, second.stderr  # recovered: the balance carries over
    assert second.stdout.splitlines() == [
        "balance 140", "refused: insufficient funds: 140 < 1000", "prefs revision 2"]
