"""The bench actor (a bank account) and an ActorSystem on the Postgres plugins.

``BenchAccount`` folds ``Deposited`` events into an ``int`` balance.  Commands:
``("deposit", amount)`` persists one event, ``("deposit_many", k)`` persists ``k``
events with one ``persist_all``, ``("get",)`` returns the balance.
"""

from __future__ import annotations

from typing import Any

from actorpg_lab import ActorSystem, PersistenceExtension, PersistentActor, every_n_events

from ._events import NOTE, Deposited, fold

__all__ = ["BenchAccount", "postgres_system"]

_CONFIG = """
actorpg.persistence.journal.plugin = "actorpg.persistence.journal.postgres"
actorpg.persistence.snapshot-store.plugin = "actorpg.persistence.snapshot-store.postgres"
"""


class BenchAccount(PersistentActor):
    def __init__(self, persistence_id: str, snapshot_every: int | None = None) -> None:
        super().__init__(persistence_id)
        self.snapshot_every = snapshot_every
        self.account = persistence_id

    def initial_state(self) -> int:
        return 0

    def on_event(self, state: int, event: Any) -> int:
        return fold(state, event)

    def snapshot_policy(self) -> Any:
        return every_n_events(self.snapshot_every) if self.snapshot_every else None

    async def on_command(self, state: int, command: tuple[Any, ...]) -> Any:
        if command[0] == "deposit":
            await self.persist(Deposited(self.account, command[1], NOTE))
        elif command[0] == "deposit_many":
            await self.persist_all(
                Deposited(self.account, i % 1000 + 1, NOTE) for i in range(command[1])
            )
        return self.state


async def postgres_system(name: str, url: str, pool_size: int) -> ActorSystem:
    """An ActorSystem whose journal and snapshot store share one pool of ``pool_size``."""
    from psycopg_pool import AsyncConnectionPool

    from actorpg_lab.postgres import register_postgres_plugins

    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url, min_size=pool_size, max_size=pool_size, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    system = ActorSystem(name, config=_CONFIG)
    register_postgres_plugins(system.extension(PersistenceExtension), pool=pool)
    system.bench_pool = pool  # type: ignore[attr-defined]
    return system


async def close_system(system: ActorSystem) -> None:
    await system.terminate()
    await system.bench_pool.close()  # type: ignore[attr-defined]
