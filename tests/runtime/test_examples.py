"""The documented examples run as written.

* the actor API in its shared-pool form (``register_postgres_plugins(ext, pool=pool)``),
  as the API reference shows it;
* README.md's actor example, extracted from README.md itself at test time (the block
  the README says this file runs), so the documentation cannot drift from what works.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
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


async def test_actor_api_example_with_a_shared_pool(pg_pool: Any) -> None:
    pool = pg_pool
    command = 25
    # ---- the API reference's "Actors" example, verbatim ---------------------------------
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


README = Path(__file__).parents[2] / "README.md"
#: The README sentence that introduces the block this file runs.
README_MARKER = "this very\nblock is run by `tests/runtime/test_examples.py`"


def readme_example() -> str:
    """The python block right after the README sentence saying this file runs it."""
    readme = README.read_text(encoding="utf-8")
    assert readme.count(README_MARKER) == 1, "README.md no longer introduces the tested example"
    after = readme.split(README_MARKER, 1)[1]
    assert after.split("```", 1)[0].strip().endswith(":"), "the example must follow the sentence"
    return after.split("```python\n", 1)[1].split("\n```\n", 1)[0]


def test_readme_example_runs(pg_url: str, tmp_path: Path) -> None:
    script = tmp_path / "bank.py"
    script.write_text(readme_example())
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


def test_readme_follow_an_event_names_files_and_names_that_exist() -> None:
    """Every file in README's "Follow an event" table exists under actorpg_lab/, and every
    name in parentheses after a file is defined (``def``/``class``) in that file."""
    readme = README.read_text(encoding="utf-8")
    table = readme.split("### Follow an event\n", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) >= 6, table
    package = README.parent / "actorpg_lab"
    checked = 0
    for row in rows:
        where = row.rstrip(" |").rsplit(" | ", 1)[1]
        current: Path | None = None
        for token in re.findall(r"`([^`]+)`", where):
            if token.endswith((".py", ".sql")):
                candidates = [package / token, package / "postgres" / "sql" / token]
                found = [c for c in candidates if c.is_file()]
                assert found, f"README names {token!r}, which does not exist under {package}"
                current = found[0]
            else:
                assert current is not None and current.suffix == ".py", (row, token)
                source = current.read_text(encoding="utf-8")
                assert re.search(rf"^\s*(async def|def|class) {re.escape(token)}\b", source, re.M), (
                    f"README says {token!r} is in {current.relative_to(package)}, it is not")
            checked += 1
    assert checked >= 15
