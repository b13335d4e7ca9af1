"""Concurrency: many OS processes and asyncio tasks racing on the same streams.

Every worker logs what the store told it (acknowledged / rejected); afterwards the
tables are read directly with SQL and compared with those logs: nothing acknowledged
is missing or altered, nothing rejected is present, nothing is present that was not
acknowledged, every stream is contiguous after its deletion mark, and the CSV tag
mirror and the tag table agree both ways.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from actorpg_lab import (
    JournalEntry,
    SnapshotActivity,
    add_snapshot_listener,
    default_codec,
)
from actorpg_lab.postgres import PostgresDurableStateStore, PostgresJournal, PostgresSnapshotStore

from . import _workers
from ._checks import JournalSnapshot, assert_journal_consistent, read_journal_tables

PROCESSES = 8
TASKS_PER_PROCESS = 4  # 8 x 4 = 32 asyncio tasks in all


def run_workers(target: Any, arg_lists: list[tuple[Any, ...]],
                timeout: float) -> list[int | None]:
    """Start one spawned process per argument tuple (plus a shared start barrier)."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(arg_lists))
    procs = [ctx.Process(target=target, args=(*args, barrier), daemon=True) for args in arg_lists]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout)
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()
    return [p.exitcode for p in procs]


def verify_against_logs(snap: JournalSnapshot, records: list[dict[str, Any]]) -> dict[str, int]:
    """Compare the tables with the workers' logs; returns counts for the report."""
    acked: dict[tuple[str, int], tuple[Any, list[str]]] = {}
    rejected_ids: set[tuple[int, int, int, int]] = set()
    counts = {"ack": 0, "rej": 0, "err": 0, "del": 0, "events_acked": 0}
    for rec in records:
        counts[rec["op"]] = counts.get(rec["op"], 0) + 1
        if rec["op"] == "ack":
            for i, (event, tags) in enumerate(zip(rec["events"], rec["tags"], strict=True)):
                key = (rec["pid"], rec["first"] + i)
                assert key not in acked, f"two acknowledged appends claim {key}: lost update"
                acked[key] = (event, tags)
            counts["events_acked"] += len(rec["events"])
        elif rec["op"] == "rej":
            rejected_ids.update((e["w"], e["t"], e["n"], e["i"]) for e in rec["events"])
    lost = 0
    for (pid, seq), (event, tags) in acked.items():
        if seq <= snap.deleted_to.get(pid, 0):
            assert (pid, seq) not in snap.events, f"{pid}@{seq} survived a delete"
            continue
        row = snap.events.get((pid, seq))
        if row is None:
            lost += 1
            continue
        payload, csv, _ = row
        assert payload == default_codec.encode(event), f"{pid}@{seq} payload differs"
        assert orjson.loads(payload) == event
        assert csv == ",".join(tags), f"{pid}@{seq} tags differ: {csv!r} != {tags!r}"
    assert lost == 0, f"{lost} acknowledged events are missing"
    stored_ids = set()
    for (pid, seq), (payload, _, _) in snap.events.items():
        assert (pid, seq) in acked, f"{pid}@{seq} is stored but was never acknowledged"
        e = orjson.loads(payload)
        stored_ids.add((e["w"], e["t"], e["n"], e["i"]))
    assert not rejected_ids & stored_ids, "a rejected append was written"
    counts["lost"] = lost
    counts["events_stored"] = len(snap.events)
    return counts


def _journal_race(pg_url: str, tmp_path: Path, seconds: float) -> dict[str, float]:
    logs = [str(tmp_path / f"journal-{i}.jsonl") for i in range(PROCESSES)]
    started = time.monotonic()
    codes = run_workers(
        _workers.journal_worker,
        [(pg_url, i, TASKS_PER_PROCESS, seconds, logs[i]) for i in range(PROCESSES)],
        timeout=seconds + 120,
    )
    assert codes == [0] * PROCESSES, f"worker exit codes {codes}"
    records = [r for log in logs for r in _workers.read_log(log)]
    snap = read_journal_tables(pg_url)
    assert_journal_consistent(snap)
    counts: dict[str, float] = dict(verify_against_logs(snap, records))
    # Every shared stream really was contended, and every process got work done.
    assert counts["rej"] > 0, "no append was ever rejected: the streams were not contended"
    assert {r["w"] for r in (orjson.loads(p) for p, _, _ in snap.events.values())} == set(
        range(PROCESSES)
    )
    counts["processes"], counts["tasks"] = PROCESSES, PROCESSES * TASKS_PER_PROCESS
    counts["seconds"] = round(time.monotonic() - started, 1)
    print(f"\nFIGURES journal race: {counts}")
    return counts


def test_journal_race_8_processes_32_tasks(pg_url: str, tmp_path: Path) -> None:
    """8 processes x 4 tasks append to 4 shared streams and 32 own streams for ~5 s."""
    _journal_race(pg_url, tmp_path, seconds=5.0)


@pytest.mark.soak
def test_journal_race_soak(pg_url: str, tmp_path: Path) -> None:
    """The same race for two minutes."""
    _journal_race(pg_url, tmp_path, seconds=float(os.environ.get("SOAK_SECONDS", "120")))


def test_durable_state_cas_storm(pg_url: str, tmp_path: Path) -> None:
    """4 processes x 4 tasks plus 8 tasks in this process increment ONE counter.

    Final value == acknowledged increments; the acknowledged revisions are exactly
    1..final (gapless, none acknowledged twice).
    """
    pid = "counter-1"
    seconds = 4.0
    logs = [str(tmp_path / f"cas-{i}.jsonl") for i in range(4)]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(5)
    procs = [
        ctx.Process(target=_workers.durable_worker, args=(pg_url, pid, 4, seconds, log, barrier),
                    daemon=True)
        for log in logs
    ]
    for p in procs:
        p.start()
    local_log = str(tmp_path / "cas-local.jsonl")

    async def local() -> int:
        store = PostgresDurableStateStore(url=pg_url, pool_config={"max_size": 8})
        log = _workers._Log(local_log)
        try:
            await store.load("warm-up")
            await asyncio.to_thread(barrier.wait, 120)
            deadline = time.monotonic() + seconds
            done = await asyncio.gather(*[
                _workers.cas_increments(store, pid, deadline, log, random.Random(t))
                for t in range(8)
            ])
            return sum(done)
        finally:
            log.close()
            await store.close()

    local_acked = asyncio.run(local())
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 4
    records = [r for log in [*logs, local_log] for r in _workers.read_log(log)]
    revisions = sorted(r["revision"] for r in records)

    async def final() -> Any:
        store = PostgresDurableStateStore(url=pg_url)
        try:
            return await store.load(pid)
        finally:
            await store.close()

    record = asyncio.run(final())
    assert record is not None
    assert record.state["count"] == len(revisions), "lost or phantom increments"
    assert record.revision == record.state["count"]
    assert revisions == list(range(1, record.revision + 1)), "revisions not gapless/unique"
    assert all(r["value"] == r["revision"] for r in records)
    assert local_acked > 0 and len(revisions) > local_acked  # both processes and tasks won
    print(f"\nFIGURES cas storm: writers=4x4 processes + 8 tasks, acked={len(revisions)}, "
          f"final revision={record.revision}")


async def test_snapshot_saves_race_pruning_and_delete(pg_url: str) -> None:
    """Saves (3 stores, keep_n=3), deletes and loads race; loads never see a removed snapshot.

    Snapshot sequence numbers are unique and only saved once the journal holds them,
    so ``load_latest``/``load_before`` must never return one that was pruned or
    deleted before the load started, nor one beyond the journal head.
    """
    pid = "snap-race"
    journal = PostgresJournal(url=pg_url)
    stores = [PostgresSnapshotStore(url=pg_url, keep_n=3, pool_config={"max_size": 4})
              for _ in range(3)]
    removed: set[int] = set()
    deleted: set[int] = set()
    deleted_to = 0
    head = 0
    next_seq = 0
    saved: list[int] = []
    loads = 0
    stop = asyncio.Event()

    def on_activity(activity: SnapshotActivity) -> None:
        if activity.persistence_id == pid:
            removed.update(activity.pruned_seqs)

    unsubscribe = add_snapshot_listener(on_activity)

    async def appender() -> None:
        nonlocal head
        while not stop.is_set():
            await journal.append(pid, [JournalEntry({"n": head + i}) for i in range(5)], head)
            head += 5
            await asyncio.sleep(0.002)

    async def saver(store: PostgresSnapshotStore) -> None:
        nonlocal next_seq
        while not stop.is_set():
            if next_seq >= head:
                await asyncio.sleep(0.001)
                continue
            next_seq += 1
            seq = next_seq
            snap = await store.save(pid, seq, {"at": seq})
            assert snap.sequence_nr == seq
            saved.append(seq)

    async def deleter() -> None:
        nonlocal deleted_to
        rng = random.Random(3)
        while not stop.is_set():
            await asyncio.sleep(rng.random() * 0.05)
            if saved:
                to_seq = max(0, max(saved) - rng.randint(2, 6))
                # only saves that completed before the delete began are surely gone: a slower
                # save of a lower sequence number (another store) may commit after it
                done_before = {s for s in saved if s <= to_seq}
                await stores[0].delete(pid, to_seq)
                deleted.update(done_before)
                deleted_to = max(deleted_to, to_seq)

    async def loader(store: PostgresSnapshotStore) -> None:
        nonlocal loads
        rng = random.Random(id(store))
        while not stop.is_set():
            gone = set(removed) | deleted
            if rng.random() < 0.5:
                snap = await store.load_latest(pid)
            else:
                snap = await store.load_before(pid, rng.randint(1, max(1, next_seq + 1)))
            journal_head = await journal.highest_seq(pid)
            loads += 1
            if snap is not None:
                assert snap.sequence_nr not in gone, f"returned pruned snapshot {snap.sequence_nr}"
                assert snap.sequence_nr not in gone, f"returned deleted snapshot {snap.sequence_nr}"
                assert snap.sequence_nr <= journal_head, "snapshot beyond the journal"
                assert snap.state == {"at": snap.sequence_nr}

    try:
        tasks = [asyncio.create_task(appender()), asyncio.create_task(deleter())]
        tasks += [asyncio.create_task(saver(s)) for s in stores]
        tasks += [asyncio.create_task(loader(s)) for s in stores]
        await asyncio.sleep(3.0)
        stop.set()
        await asyncio.gather(*tasks)
        # Quiescent: the newest saved snapshot survived unless deleted; at most keep_n remain.
        latest = await stores[1].load_latest(pid)
        newest = max(saved)
        if newest > deleted_to:
            assert latest is not None and latest.sequence_nr == newest
        remaining = []
        probe = newest + 1
        while (s := await stores[2].load_before(pid, probe)) is not None:
            remaining.append(s.sequence_nr)
            probe = s.sequence_nr
        assert len(remaining) <= 3 and all(s > deleted_to for s in remaining)
        assert removed, "nothing was ever pruned"
        assert loads > 50 and len(saved) > 50
        print(f"\nFIGURES snapshot race: saves={len(saved)} pruned={len(removed)} loads={loads} "
              f"deleted_to={deleted_to}")
    finally:
        unsubscribe()
        for store in stores:
            await store.close()
        await journal.close()
