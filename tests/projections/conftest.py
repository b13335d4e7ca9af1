"""The two backends of the projection contract suite: PostgreSQL (the session server,
a schema per test) and the in-memory journal."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from actorpg_lab import InMemoryJournal

from ._models import MemorySink, PgSink, Sink


class Backend:
    """Journals over one store and read-model sinks for it."""

    kind = ""

    def journal(self) -> Any:
        """A new journal handle over the same data (another "process")."""
        raise NotImplementedError

    def sink(self, name: str = "") -> Sink:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class MemoryBackend(Backend):
    kind = "memory"

    def __init__(self) -> None:
        self.base = InMemoryJournal()

    def journal(self) -> Any:
        return self.base

    def sink(self, name: str = "") -> Sink:
        return MemorySink()

    async def close(self) -> None:
        return None


class PostgresBackend(Backend):
    kind = "postgres"

    def __init__(self, url: str) -> None:
        self.url = url
        self.journals: list[Any] = []

    def journal(self) -> Any:
        from actorpg_lab.postgres import PostgresJournal

        journal = PostgresJournal(url=self.url, pool_config={"min_size": 1, "max_size": 6})
        self.journals.append(journal)
        return journal

    def sink(self, name: str = "") -> Sink:
        return PgSink(self.url, f"rm_{name or uuid.uuid4().hex[:8]}")

    async def close(self) -> None:
        for journal in self.journals:
            await journal.close()


@pytest.fixture(params=["memory", "postgres"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    chosen: Backend
    if request.param == "memory":
        chosen = MemoryBackend()
    else:
        chosen = PostgresBackend(request.getfixturevalue("pg_url"))
    try:
        yield chosen
    finally:
        await chosen.close()
