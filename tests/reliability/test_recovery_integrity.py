"""Corruption seen from the top: actors fail recovery with the specific integrity error
(naming stream and sequence number) instead of folding a broken stream, and the
notebook workbench shows the problem instead of crashing.  Also: a SELECT-only role
can load every workbench DataFrame and gets a clear error on writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from actorpg_lab import (
    ActorSystem,
    JournalEntry,
    JournalError,
    JournalIntegrityError,
    PersistenceExtension,
    RecoveryFailedError,
    SnapshotIntegrityError,
)
from actorpg_lab.postgres import register_postgres_plugins
from tests.runtime._bank import Account, AccountState, Deposited

PID = "acct-corrupt"
CONFIG = """
actorpg.persistence.journal.plugin = "actorpg.persistence.journal.postgres"
actorpg.persistence.snapshot-store.plugin = "actorpg.persistence.snapshot-store.postgres"
"""


@pytest.fixture
async def system(pg_pool: Any) -> AsyncIterator[ActorSystem]:
    system = ActorSystem("integrity", config=CONFIG)
    register_postgres_plugins(system.extension(PersistenceExtension), pool=pg_pool)
    yield system
    await system.terminate()


async def _seed(pg_pool: Any, system: ActorSystem) -> None:
    ref = system.spawn(Account(PID))
    for amount in (1, 2, 3, 4, 5):
        await asyncio.wait_for(ref.ask(("deposit", amount)), 10)
    await asyncio.wait_for(ref.ask(("snapshot",)), 10)
    await system.terminate()


async def _sql(pg_pool: Any, query: str, params: tuple[Any, ...] = ()) -> None:
    async with pg_pool.connection() as conn:
        await conn.execute(query, params)


async def _recover(pg_pool: Any) -> tuple[Account, BaseException]:
    system = ActorSystem("again", config=CONFIG)
    register_postgres_plugins(system.extension(PersistenceExtension), pool=pg_pool)
    actor = Account(PID)
    ref = system.spawn(actor)
    try:
        with pytest.raises(RecoveryFailedError) as info:
            await asyncio.wait_for(ref.ask(("get",)), 10)
        cause = info.value.__cause__
        assert cause is not None and cause is actor.recovery_failure
        return actor, cause
    finally:
        await system.terminate()


@pytest.mark.parametrize("payload", [
    "{not json",
    '{"$type": "test.Deposited", "$value": {"wrong_field": 1}}',  # fields no longer fit
    "[" * 3000 + "]" * 3000,
])
async def test_undecodable_event_fails_recovery_naming_stream_and_seq(
    pg_pool: Any, system: ActorSystem, payload: str
) -> None:
    await _seed(pg_pool, system)
    await _sql(pg_pool, "DELETE FROM snapshots")  # recovery must read the journal
    await _sql(pg_pool, "UPDATE events SET payload = %s WHERE persistence_id = %s "
                        "AND sequence_nr = 4", (payload, PID))
    actor, cause = await _recover(pg_pool)
    assert isinstance(cause, JournalIntegrityError)
    assert (cause.persistence_id, cause.sequence_nr) == (PID, 4)
    assert PID in str(cause) and "4" in str(cause)
    assert actor.recovered_with is None


@pytest.mark.parametrize(("corruption", "error", "sequence_nr"), [
    pytest.param(["UPDATE snapshots SET payload = 'garbage'"], SnapshotIntegrityError, 5,
                 id="undecodable-snapshot"),
    pytest.param(["UPDATE snapshots SET sequence_nr = 50"], SnapshotIntegrityError, 50,
                 id="snapshot-ahead"),
    pytest.param(["DELETE FROM snapshots", "DELETE FROM events WHERE sequence_nr = 2"],
                 JournalIntegrityError, 2, id="gap"),
])
async def test_broken_snapshot_or_stream_fails_recovery(
    pg_pool: Any, system: ActorSystem, corruption: list[str],
    error: type[JournalIntegrityError | SnapshotIntegrityError], sequence_nr: int,
) -> None:
    await _seed(pg_pool, system)
    for statement in corruption:
        await _sql(pg_pool, statement)
    _, cause = await _recover(pg_pool)
    assert isinstance(cause, error)
    assert (cause.persistence_id, cause.sequence_nr) == (PID, sequence_nr)


# -- the workbench -------------------------------------------------------------------------
def _seed_sync(pg_url: str) -> None:
    from actorpg_lab.postgres import PostgresJournal, PostgresSnapshotStore

    async def seed() -> None:
        j, s = PostgresJournal(url=pg_url), PostgresSnapshotStore(url=pg_url)
        await j.append(PID, [JournalEntry(Deposited(a), ("bank",)) for a in (1, 2, 3, 4, 5)], 0)
        await s.save(PID, 2, AccountState(3, (1, 2)))
        await j.close()
        await s.close()

    asyncio.run(seed())


def test_workbench_shows_corruption_instead_of_crashing(pg_url: str) -> None:
    from actorpg_lab import lab

    _seed_sync(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE events SET payload = '{broken' WHERE sequence_nr = 4")
    with lab.connect(url=pg_url, quiet=True) as wb:
        frame = wb.journal_frame()
        assert len(frame) == 5  # the broken row is listed, not fatal
        replayer = wb.replay(Account, PID)
        assert replayer.problems, "the replayer did not report the broken event"
        problem = replayer.problems[0]
        assert isinstance(problem.error, JournalIntegrityError)
        assert problem.sequence_nr == 4 and PID in str(problem.error)
        # folded from the snapshot (seq 2) up to the broken event, not past it
        assert list(replayer.history.index) == [3]
        assert "cannot be decoded" in replayer._repr_html_()  # shown in the notebook


def test_select_only_role_loads_every_frame_and_cannot_write(
    pg_url: str, limited_urls: dict[str, str]
) -> None:
    from actorpg_lab import lab

    _seed_sync(pg_url)
    asyncio.run(_upsert(pg_url))
    with lab.connect(url=limited_urls["ro"], quiet=True) as wb:
        assert len(wb.journal_frame()) == 5
        assert len(wb.tag_frame("bank")) == 5
        assert len(wb.snapshots_frame()) == 1
        assert len(wb.durable_state_frame()) == 1
        assert len(wb.streams_frame()) >= 1
        with pytest.raises(JournalError, match="permission denied"):
            wb.run(wb.journal.append(PID, [JournalEntry(Deposited(6))], 5))
        with pytest.raises(JournalError, match="permission denied"):
            wb.run(wb.durable_state_store.upsert("counter", 1, {"n": 2}))


async def _upsert(pg_url: str) -> None:
    from actorpg_lab.postgres import PostgresDurableStateStore

    d = PostgresDurableStateStore(url=pg_url)
    await d.upsert("counter", 0, {"n": 1})
    await d.close()
