"""Persisted write history: rejected writes and pruned snapshots recorded by the Postgres
stores when asked to (opt-in), read back by the workbench from any process."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from actorpg_lab import (
    ActorSystem,
    DurableStateConcurrencyError,
    JournalConcurrencyError,
    JournalEntry,
    PersistenceExtension,
    lab,
)
from actorpg_lab.postgres import (
    PostgresDurableStateStore,
    PostgresJournal,
    PostgresSnapshotStore,
    register_postgres_plugins,
)

Execute = Callable[..., list[tuple[Any, ...]]]


def tables(execute: Execute) -> set[str]:
    rows = execute("SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' "
                   "AND c.relnamespace = current_schema()::regnamespace")
    return {str(r[0]) for r in rows}


async def test_off_by_default_no_tables_no_rows(pg_pool: Any, execute: Execute) -> None:
    journal = PostgresJournal(pool=pg_pool)
    durable = PostgresDurableStateStore(pool=pg_pool)
    snapshots = PostgresSnapshotStore(pool=pg_pool, keep_n=1)
    await journal.append("p", [JournalEntry(1)], 0)
    with pytest.raises(JournalConcurrencyError):
        await journal.append("p", [JournalEntry(2)], 0)
    await durable.upsert("d", 0, 1)
    with pytest.raises(DurableStateConcurrencyError):
        await durable.upsert("d", 0, 2)
    for seq in (1, 2):
        await snapshots.save("p", seq, seq)
    assert not {"events_conflicts", "durable_state_conflicts", "snapshots_pruned"} & tables(execute)
    assert journal.conflict_log is None and durable.conflict_log is None
    assert snapshots.pruning_log is None


async def test_journal_logs_each_rejected_append(pg_pool: Any, execute: Execute) -> None:
    journal = PostgresJournal(pool=pg_pool, log_conflicts=True)
    await journal.append("p", [JournalEntry(1), JournalEntry(2)], 0)
    assert "events_conflicts" in tables(execute)
    assert execute("SELECT count(*) FROM events_conflicts") == [(0,)]  # happy path: no row
    for expected in (0, 1):
        with pytest.raises(JournalConcurrencyError):
            await journal.append("p", [JournalEntry(3)], expected)
    rows = execute("SELECT persistence_id, expected, actual, writer, timestamp "
                   "FROM events_conflicts ORDER BY id")
    assert [r[:3] for r in rows] == [("p", 0, 2), ("p", 1, 2)]
    assert {r[3] for r in rows} == {f"{socket.gethostname()}:{os.getpid()}"}
    assert all(r[4] > 1_600_000_000_000 for r in rows)


async def test_durable_state_logs_each_rejected_upsert_with_its_writer(
        pg_pool: Any, execute: Execute) -> None:
    store = PostgresDurableStateStore(pool=pg_pool, log_conflicts=True, writer="billing-1")
    await store.upsert("k", 0, {"v": 1})
    await store.upsert("k", 1, {"v": 2})
    with pytest.raises(DurableStateConcurrencyError):
        await store.upsert("k", 1, {"v": 3})
    with pytest.raises(DurableStateConcurrencyError):
        await store.upsert("new", 4, {"v": 3})
    rows = execute("SELECT persistence_id, expected, actual, writer FROM durable_state_conflicts "
                   "ORDER BY id")
    assert rows == [("k", 1, 2, "billing-1"), ("new", 4, 0, "billing-1")]


async def test_snapshot_store_logs_each_pruned_snapshot(pg_pool: Any, execute: Execute) -> None:
    store = PostgresSnapshotStore(pool=pg_pool, keep_n=2, log_pruning=True)
    saved = {}
    for seq in (5, 10, 15, 20):
        saved[seq] = (await store.save("a", seq, {"n": seq})).timestamp
    rows = execute("SELECT persistence_id, sequence_nr, saved_at, pruned_at, writer "
                   "FROM snapshots_pruned ORDER BY sequence_nr")
    assert [r[:2] for r in rows] == [("a", 5), ("a", 10)]
    assert [r[2] for r in rows] == [saved[5], saved[10]]
    assert all(r[3] >= r[2] for r in rows)
    keep_all = PostgresSnapshotStore(pool=pg_pool, snapshots_table="all_snaps", keep_n=0,
                                     log_pruning=True)
    await keep_all.save("a", 1, 1)
    assert execute("SELECT count(*) FROM all_snaps_pruned") == [(0,)]


async def test_a_failing_history_write_never_fails_the_store_call(
        pg_pool: Any, execute: Execute, caplog: pytest.LogCaptureFixture) -> None:
    journal = PostgresJournal(pool=pg_pool, log_conflicts=True)
    snapshots = PostgresSnapshotStore(pool=pg_pool, keep_n=1, log_pruning=True)
    durable = PostgresDurableStateStore(pool=pg_pool, log_conflicts=True)
    await journal.append("p", [JournalEntry(1)], 0)
    await snapshots.save("p", 1, 1)
    await durable.upsert("d", 0, 1)
    execute("DROP TABLE events_conflicts, snapshots_pruned, durable_state_conflicts")
    with caplog.at_level(logging.WARNING, logger="actorpg_lab.postgres.history"):
        with pytest.raises(JournalConcurrencyError) as jc:
            await journal.append("p", [JournalEntry(2)], 0)
        assert jc.value.actual_seq == 1
        with pytest.raises(DurableStateConcurrencyError):
            await durable.upsert("d", 0, 2)
        saved = await snapshots.save("p", 2, 2)
    assert saved.sequence_nr == 2
    assert [s.sequence_nr for s in [await snapshots.load_latest("p")] if s] == [2]
    assert execute("SELECT sequence_nr FROM snapshots ORDER BY 1") == [(2,)]  # pruned anyway
    messages = [r.getMessage() for r in caplog.records]
    assert sum("could not record" in m for m in messages) == 3, messages


async def test_least_privilege_role_with_provisioned_tables(
        pg_pool: Any, pg_url: str, pg_schema: str, execute: Execute) -> None:
    owner_journal = PostgresJournal(pool=pg_pool, log_conflicts=True)
    owner_durable = PostgresDurableStateStore(pool=pg_pool, log_conflicts=True)
    owner_snaps = PostgresSnapshotStore(pool=pg_pool, log_pruning=True)
    await owner_journal.highest_seq("x")
    await owner_durable.load("x")
    await owner_snaps.load_latest("x")
    role = f"diag_rw_{pg_schema[-8:]}"
    execute(f'CREATE ROLE {role} LOGIN')
    try:
        execute(f'GRANT USAGE ON SCHEMA "{pg_schema}" TO {role}')
        execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{pg_schema}" '
                f'TO {role}')
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        params = conninfo_to_dict(pg_url)
        params["user"] = role
        url = make_conninfo(**params)  # type: ignore[arg-type]
        journal = PostgresJournal(url=url, auto_create_tables=False, log_conflicts=True)
        durable = PostgresDurableStateStore(url=url, auto_create_tables=False,
                                            log_conflicts=True)
        snaps = PostgresSnapshotStore(url=url, auto_create_tables=False, keep_n=1,
                                      log_pruning=True)
        try:
            await journal.append("p", [JournalEntry(1)], 0)
            with pytest.raises(JournalConcurrencyError):
                await journal.append("p", [JournalEntry(1)], 0)
            await durable.upsert("d", 0, 1)
            with pytest.raises(DurableStateConcurrencyError):
                await durable.upsert("d", 0, 1)
            await snaps.save("p", 1, 1)
            await snaps.save("p", 2, 2)
        finally:
            for store in (journal, durable, snaps):
                await store.close()
        assert execute("SELECT count(*) FROM events_conflicts") == [(1,)]
        assert execute("SELECT count(*) FROM durable_state_conflicts") == [(1,)]
        assert execute("SELECT writer FROM snapshots_pruned") != []
    finally:
        execute(f'DROP OWNED BY {role}')
        execute(f'DROP ROLE {role}')


async def test_bad_writer_and_unsafe_table_names(pg_pool: Any) -> None:
    with pytest.raises(TypeError, match="writer"):
        PostgresJournal(pool=pg_pool, log_conflicts=True, writer=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="writer"):
        PostgresDurableStateStore(pool=pg_pool, log_conflicts=True, writer="")
    with pytest.raises(ValueError, match="table"):
        PostgresSnapshotStore(pool=pg_pool, snapshots_table="x;drop", log_pruning=True)


async def test_plugins_switch_it_on_from_dicts_and_hocon(pg_pool: Any, execute: Execute) -> None:
    system = ActorSystem("diag-history", config='''
      actorpg.persistence.journal.postgres.log-conflicts = true
      actorpg.persistence.snapshot-store.postgres.log-pruning = true
      actorpg.persistence.writer = "from-config"
    ''')
    try:
        ext = system.extension(PersistenceExtension)
        durable = register_postgres_plugins(ext, pool=pg_pool,
                                            durable_state_store={"log_conflicts": True,
                                                                 "writer": "from-dict"})
        journal = ext.journal_for("actorpg.persistence.journal.postgres")
        snapshots = ext.snapshot_store_for("actorpg.persistence.snapshot-store.postgres")
        assert isinstance(journal, PostgresJournal) and journal.conflict_log is not None
        assert journal.conflict_log.writer == "from-config"
        assert isinstance(snapshots, PostgresSnapshotStore) and snapshots.pruning_log is not None
        assert durable.conflict_log is not None and durable.conflict_log.writer == "from-dict"
        await durable.upsert("d", 0, 1)
        with pytest.raises(DurableStateConcurrencyError):
            await durable.upsert("d", 0, 1)
    finally:
        await system.terminate()
    assert execute("SELECT writer FROM durable_state_conflicts") == [("from-dict",)]
    bad = ActorSystem("diag-bad", config={"actorpg.persistence.journal.postgres.log-conflicts":
                                          "yes"})
    try:
        with pytest.raises(TypeError, match="log-conflicts"):
            register_postgres_plugins(bad.extension(PersistenceExtension), pool=pg_pool)
    finally:
        await bad.terminate()


def test_workbench_reads_history_written_by_another_process(
        wb: lab.Workbench, pg_url: str) -> None:
    assert wb.conflicts_frame().empty and wb.pruned_frame().empty  # no tables yet
    env = {**os.environ, "ACTORPG_DSN": pg_url}
    done = subprocess.run([sys.executable, "-m", "actorpg_lab.lab", "--no-browser", "--summary"],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    conflicts = wb.conflicts_frame()
    assert list(conflicts.columns) == ["store", "persistence_id", "expected", "actual",
                                       "writer", "timestamp", "kind",
                                       "conflict_persistence_id", "conflict_sequence_nr",
                                       "conflict_position", "query"]
    assert set(conflicts["kind"]) == {"head"}
    assert set(conflicts["store"]) == {"journal", "durable_state"}
    assert set(conflicts["persistence_id"]) == {"counter-a", "counter-b", "race-1"}
    assert (conflicts["actual"] > conflicts["expected"]).all()
    writers = set(conflicts["writer"].astype(str))
    assert len(writers) > 2 and all(":" in w and "/" in w for w in writers)
    assert os.getpid() not in {int(w.split(":")[1].split("/")[0]) for w in writers}
    assert str(conflicts["timestamp"].dtype) == "datetime64[ms, UTC]"
    only = wb.conflicts_frame(persistence_ids=["race-1"])
    assert set(only["store"]) == {"journal"} and len(only) > 0
    pruned = wb.pruned_frame()
    assert len(pruned) > 0 and (pruned["lifetime"] >= pruned["lifetime"] * 0).all()
    stored = wb.snapshots_frame()
    kept = set(zip(stored["persistence_id"].astype(str), stored["sequence_nr"], strict=True))
    gone = set(zip(pruned["persistence_id"].astype(str), pruned["sequence_nr"], strict=True))
    assert not kept & gone  # what was pruned is not stored any more
    assert wb.plot_conflicts("counter-a").get_title().startswith("rejected writes")
    assert "pruned" in wb.plot_pruning().get_title()


def test_plots_accept_recorder_frames_and_reject_others(wb: lab.Workbench) -> None:
    with wb.record_conflicts() as rec:
        lab.demo.seed_counters(wb, keys=["c"], writers=3, increments=3)
    ax = lab.plot_conflict_timeline(rec.frame())
    assert ax.get_title().endswith("on c") or "no conflicts" in ax.get_title()
    with wb.record_snapshots() as snaps:
        lab.demo.seed_bank(wb, accounts=2, operations=30)
    assert "pruned" in lab.plot_pruning_history(snaps.lifetimes()).get_title()
    import pandas as pd

    with pytest.raises(ValueError, match="conflicts_frame"):
        lab.plot_conflict_timeline(pd.DataFrame({"x": [1]}))
    with pytest.raises(ValueError, match="pruned_frame"):
        lab.plot_pruning_history(pd.DataFrame({"x": [1]}))
