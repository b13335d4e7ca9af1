"""Worker entry points run in separate OS processes (``multiprocessing`` 'spawn').

Each worker has its own asyncio loop and its own connection pool, and logs every
outcome it observed as one JSON line per operation (flushed at once, so a killed
worker's log still holds everything it was told before it died):

* ``{"op": "ack", "pid", "first", "events", "tags"}``  – the store acknowledged an append
* ``{"op": "rej", "pid", "expected", "actual", "events"}`` – rejected with a concurrency error
* ``{"op": "err", ...}`` – any other error (a test decides whether that is allowed)
* ``{"op": "del", "pid", "to_seq", "ok"}`` – a prefix delete
* ``{"op": "inc", "revision", "value"}`` – an acknowledged durable-state increment
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from typing import Any, TextIO

SHARED_PIDS = tuple(f"shared-{i}" for i in range(4))
TAGS = ("red", "green", "blue", "a'b", 'q"uote', "ünï-☃", "🔥")


class _Log:
    def __init__(self, path: str) -> None:
        self._file: TextIO = open(path, "a", encoding="utf-8")

    def write(self, **record: Any) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


# -- journal: 4 shared streams plus one own stream per task ------------------------------
async def _journal_task(journal: Any, proc: int, task: int, deadline: float, log: _Log,
                        rng: random.Random, allow_errors: bool) -> None:
    from actorpg_lab import JournalConcurrencyError, JournalEntry, PersistenceError

    own = f"own-{proc}-{task}"
    heads: dict[str, int] = {}
    n = 0
    while time.monotonic() < deadline:
        pid = rng.choice(SHARED_PIDS) if rng.random() < 0.6 else own
        try:
            if pid not in heads or rng.random() < 0.3:
                heads[pid] = await journal.highest_seq(pid)
            if rng.random() < 0.01:
                to_seq = max(0, heads[pid] - rng.randint(0, 30))
                try:
                    await journal.delete(pid, to_seq)
                    log.write(op="del", pid=pid, to_seq=to_seq, ok=True)
                except PersistenceError as exc:
                    log.write(op="del", pid=pid, to_seq=to_seq, ok=False, error=repr(exc))
                continue
        except PersistenceError as exc:
            if not allow_errors:
                raise
            log.write(op="err", pid=pid, error=repr(exc), phase="read")
            await asyncio.sleep(0.05)
            continue
        k = rng.randint(1, 5)
        events = [{"w": proc, "t": task, "n": n, "i": i, "s": "x" * rng.randint(0, 40)}
                  for i in range(k)]
        tags = [sorted(rng.sample(TAGS, rng.randint(0, 3))) for _ in range(k)]
        n += 1
        entries = [JournalEntry(e, tuple(t)) for e, t in zip(events, tags, strict=True)]
        expected = heads[pid]
        try:
            written = await journal.append(pid, entries, expected)
        except JournalConcurrencyError as exc:
            log.write(op="rej", pid=pid, expected=expected, actual=exc.actual_seq, events=events)
            heads[pid] = exc.actual_seq
            continue
        except PersistenceError as exc:
            if not allow_errors:
                raise
            log.write(op="err", pid=pid, expected=expected, events=events, tags=tags,
                      error=repr(exc), phase="append")
            heads.pop(pid, None)
            await asyncio.sleep(0.05)
            continue
        assert [w.sequence_nr for w in written] == list(range(expected + 1, expected + k + 1))
        log.write(op="ack", pid=pid, first=expected + 1, events=events, tags=tags)
        heads[pid] = expected + k


async def _journal_main(url: str, proc: int, tasks: int, seconds: float, log_path: str,
                        barrier: Any, allow_errors: bool) -> None:
    from actorpg_lab.postgres import PostgresJournal

    journal = PostgresJournal(url=url, pool_config={"min_size": 1, "max_size": tasks,
                                                    "timeout": 30.0})
    log = _Log(log_path)
    try:
        await journal.highest_seq("warm-up")  # open the pool (and create tables) first
        if barrier is not None:
            await asyncio.to_thread(barrier.wait, 120)
        deadline = time.monotonic() + seconds
        rng = random.Random(proc * 7919 + os.getpid())
        await asyncio.gather(*[
            _journal_task(journal, proc, t, deadline, log, random.Random(rng.random()),
                          allow_errors)
            for t in range(tasks)
        ])
    finally:
        log.close()
        await journal.close()


def journal_worker(url: str, proc: int, tasks: int, seconds: float, log_path: str,
                   barrier: Any = None, allow_errors: bool = False) -> None:
    """Process entry: ``tasks`` asyncio tasks appending for ``seconds`` seconds."""
    asyncio.run(_journal_main(url, proc, tasks, seconds, log_path, barrier, allow_errors))


# -- durable state: increment one counter with retry on conflict -------------------------
#: How long a starved CAS task keeps trying past its deadline to win once (a loaded
#: machine can schedule one side so rarely that it never wins within the race window).
STARVATION_GRACE_S = 60.0


async def cas_increments(store: Any, pid: str, deadline: float, log: _Log,
                         rng: random.Random) -> int:
    """Increment ``pid``'s counter until ``deadline``; returns the increments acknowledged.

    A task that has not won a single increment by ``deadline`` keeps trying (at most
    :data:`STARVATION_GRACE_S` longer) until it wins once, so "every writer won at least
    once" holds on a loaded machine too; the race itself is unchanged.
    """
    from actorpg_lab import DurableStateConcurrencyError

    acked = 0
    grace_end = deadline + STARVATION_GRACE_S
    while (now := time.monotonic()) < deadline or (acked == 0 and now < grace_end):
        record = await store.load(pid)
        revision = record.revision if record else 0
        value = record.state["count"] if record else 0
        try:
            written = await store.upsert(pid, revision, {"count": value + 1})
        except DurableStateConcurrencyError:
            if rng.random() < 0.2:
                await asyncio.sleep(rng.random() * 0.002)
            continue
        assert written.revision == revision + 1
        log.write(op="inc", revision=written.revision, value=value + 1)
        acked += 1
    return acked


async def _durable_main(url: str, pid: str, tasks: int, seconds: float, log_path: str,
                        barrier: Any) -> None:
    from actorpg_lab.postgres import PostgresDurableStateStore

    store = PostgresDurableStateStore(url=url, pool_config={"min_size": 1, "max_size": tasks})
    log = _Log(log_path)
    try:
        await store.load("warm-up")
        if barrier is not None:
            await asyncio.to_thread(barrier.wait, 120)
        deadline = time.monotonic() + seconds
        await asyncio.gather(*[
            cas_increments(store, pid, deadline, log, random.Random(os.getpid() * 31 + t))
            for t in range(tasks)
        ])
    finally:
        log.close()
        await store.close()


def durable_worker(url: str, pid: str, tasks: int, seconds: float, log_path: str,
                   barrier: Any = None) -> None:
    """Process entry: ``tasks`` tasks incrementing one durable-state counter."""
    asyncio.run(_durable_main(url, pid, tasks, seconds, log_path, barrier))


# -- big batches, for the SIGKILL test ----------------------------------------------------
async def _batch_main(url: str, pid: str, batch: int, log_path: str) -> None:
    from actorpg_lab import JournalEntry
    from actorpg_lab.postgres import PostgresJournal

    journal = PostgresJournal(url=url, pool_config={"min_size": 1, "max_size": 1})
    log = _Log(log_path)
    try:
        expected = await journal.highest_seq(pid)
        n = 0
        while True:
            entries = [JournalEntry({"b": n, "i": i, "pad": "p" * 50}, ("batch", f"b{n}"))
                       for i in range(batch)]
            log.write(op="try", pid=pid, batch=n, first=expected + 1, size=batch)
            await journal.append(pid, entries, expected)
            log.write(op="ack", pid=pid, batch=n, first=expected + 1, size=batch)
            expected += batch
            n += 1
    finally:
        log.close()
        await journal.close()


def batch_worker(url: str, pid: str, batch: int, log_path: str) -> None:
    """Process entry: append batches of ``batch`` events forever (until killed)."""
    asyncio.run(_batch_main(url, pid, batch, log_path))


def read_log(path: str) -> list[dict[str, Any]]:
    """The JSON lines a worker wrote (a torn last line of a killed worker is dropped)."""
    records = []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    except FileNotFoundError:
        return []
    return records
