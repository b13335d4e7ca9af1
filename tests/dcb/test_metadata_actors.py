"""M2 (actor part): a command's correlation id travels to every event it leads to,
across actors and streams, with each event's causation id = the command that caused
it.  In memory and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from actorpg_lab import ActorRef, ActorSystem, PersistenceExtension, PersistentActor, event_type


@event_type("tests.dcb.Ordered")
@dataclass(frozen=True)
class Ordered:
    item: str


@event_type("tests.dcb.Shipped")
@dataclass(frozen=True)
class Shipped:
    item: str


class Shipping(PersistentActor):
    def initial_state(self) -> int:
        return 0

    def on_event(self, state: int, event: Any) -> int:
        return state + 1

    async def on_command(self, state: int, command: Any) -> Any:
        await self.persist(Shipped(command))
        return self.state


class Orders(PersistentActor):
    shipping: ActorRef

    def initial_state(self) -> int:
        return 0

    def on_event(self, state: int, event: Any) -> int:
        return state + 1

    async def on_command(self, state: int, command: Any) -> Any:
        await self.persist(Ordered(command))
        return await self.shipping.ask(command)  # same request: inherits the correlation


@pytest.fixture(params=["memory", "postgres"])
async def system(request: pytest.FixtureRequest) -> AsyncIterator[ActorSystem]:
    if request.param == "memory":
        sys = ActorSystem("m2")
    else:
        from actorpg_lab.postgres import register_postgres_plugins

        url = request.getfixturevalue("pg_url")
        sys = ActorSystem("m2", config='''
          actorpg.persistence.journal.plugin = "actorpg.persistence.journal.postgres"
          actorpg.persistence.snapshot-store.plugin = "actorpg.persistence.snapshot-store.postgres"
        ''')
        register_postgres_plugins(sys.extension(PersistenceExtension),
                                  journal={"url": url}, snapshot_store={"url": url},
                                  durable_state_store={"url": url})
    yield sys
    await sys.terminate()


async def test_m2_correlation_and_causation_across_actors(system: ActorSystem) -> None:
    shipping = system.spawn(Shipping("shipping-1"))
    orders_actor = Orders("orders-1")
    orders_actor.shipping = shipping
    orders = system.spawn(orders_actor)
    await system.ask(orders, "book", correlation_id="req-1")
    await orders.ask("pen")  # a new request: its own correlation (its command id)
    journal = system.extension(PersistenceExtension).journal
    ordered = await journal.read("orders-1")
    shipped = await journal.read("shipping-1")
    first, second = ordered
    assert first.correlation_id == "req-1" and shipped[0].correlation_id == "req-1"
    assert first.causation_id and shipped[0].causation_id
    assert first.causation_id != shipped[0].causation_id  # each its own command
    assert second.correlation_id == second.causation_id != "req-1"
    assert shipped[1].correlation_id == second.correlation_id
    assert shipped[1].causation_id != second.causation_id
