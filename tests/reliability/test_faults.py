"""Faults: server restarts under load, killed writers, killed connections, pool
exhaustion, statement timeouts and hand-corrupted data.

Restart tests use their OWN embedded server (``own_server``); the shared session
server is never stopped.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import PoolTimeout

from actorpg_lab import (
    DurableStateConcurrencyError,
    EmbeddedPostgres,
    JournalConcurrencyError,
    JournalEntry,
    JournalError,
    JournalIntegrityError,
    PersistenceError,
    SnapshotIntegrityError,
    TagFilter,
    default_codec,
    replay_state,
)
from actorpg_lab.postgres import PostgresDurableStateStore, PostgresJournal, PostgresSnapshotStore

from . import _workers
from ._checks import (
    assert_journal_consistent,
    count_connections,
    read_journal_tables,
    settled_connections,
)


def with_options(url: str, **extra: str) -> str:
    """``url`` with more conninfo keys (``options`` are appended, not replaced)."""
    params = conninfo_to_dict(url)
    if "options" in extra and params.get("options"):
        extra["options"] = f"{params['options']} {extra['options']}"
    return make_conninfo(url, **extra)


# -- server restarts under write load ---------------------------------------------------
async def test_server_restarts_mid_write_load(own_server: EmbeddedPostgres,
                                              own_schema_url: str) -> None:
    """8 tasks on 2 journals append while the server is stopped/started 3 times.

    Acknowledged appends survive; rejected ones are absent; appends that raised a
    JournalError either happened completely (all events, identical) or not at all;
    no event lacks its tag rows (or vice versa); the same store objects keep working.
    """
    await _restarts_under_load(own_server, own_schema_url, ["fast", "immediate", "fast"])


@pytest.mark.soak
async def test_server_restarts_soak(own_server: EmbeddedPostgres, own_schema_url: str) -> None:
    """The same with 20 restarts (fast and immediate alternating) and random downtimes."""
    await _restarts_under_load(own_server, own_schema_url, ["fast", "immediate"] * 10)


async def _restarts_under_load(own_server: EmbeddedPostgres, url: str, modes: list[str]) -> None:
    app = f"restarts-{os.getpid()}"
    url = make_conninfo(url, application_name=app)
    journals = [PostgresJournal(url=url, pool_config={"min_size": 2, "max_size": 4,
                                                      "timeout": 0.5}) for _ in range(2)]
    for j in journals:
        await j.highest_seq("warm-up")
    log: list[dict[str, Any]] = []
    stop = asyncio.Event()
    restarts_done = 0
    ack_after_last_restart: set[int] = set()

    class ListLog:
        def write(self, **record: Any) -> None:
            log.append(record)
            if record["op"] == "ack" and restarts_done == len(modes):
                ack_after_last_restart.add(record["events"][0]["t"])

    async def task(t: int) -> None:
        rng = random.Random(t)
        # run the ordinary worker loop in short slices (w = slice number) so it stops promptly
        w = 0
        while not stop.is_set():
            w += 1
            await _workers._journal_task(journals[t % 2], w, t, time.monotonic() + 0.2,
                                         ListLog(), rng, allow_errors=True)  # type: ignore[arg-type]

    durable = PostgresDurableStateStore(url=url, pool_config={"min_size": 1, "max_size": 3,
                                                              "timeout": 0.5})
    cas = {"acked": 0, "unknown": 0, "errors": 0}

    async def incrementer() -> None:
        """Retry-on-conflict increments of one counter; a JournalError is an outage (if
        raised by load) or an in-doubt write (if raised by upsert)."""
        while not stop.is_set():
            try:
                record = await durable.load("counter")
            except JournalError:
                cas["errors"] += 1
                await asyncio.sleep(0.05)
                continue
            revision = record.revision if record else 0
            count = record.state["count"] if record else 0
            try:
                await durable.upsert("counter", revision, {"count": count + 1})
                cas["acked"] += 1
            except DurableStateConcurrencyError:
                pass
            except JournalError:
                cas["unknown"] += 1
                await asyncio.sleep(0.05)

    tasks = [asyncio.create_task(task(t)) for t in range(8)]
    tasks += [asyncio.create_task(incrementer()) for _ in range(3)]
    try:
        rng = random.Random(len(modes))
        for i, mode in enumerate(modes):
            await asyncio.sleep(0.8 if i < 3 else rng.uniform(0.1, 2.0))
            await asyncio.to_thread(own_server.stop, mode)
            # first longer than the pool timeout (calls must fail meanwhile), then random
            await asyncio.sleep(1.0 if i < 3 else rng.uniform(0.05, 1.5))
            await asyncio.to_thread(own_server.start)
            restarts_done += 1
        deadline = time.monotonic() + 20
        while len(ack_after_last_restart) < 8 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert ack_after_last_restart == set(range(8)), "some tasks never recovered"
    for t in tasks:
        assert t.exception() is None, t.exception()

    snap = read_journal_tables(url)
    assert_journal_consistent(snap)  # no event without its tag rows or vice versa
    by_id = {}
    for (pid, seq), (payload, csv, _) in snap.events.items():
        e = orjson.loads(payload)
        by_id[(e["w"], e["t"], e["n"], e["i"])] = (pid, seq, payload, csv)
    acked = rejected = in_doubt = happened = 0
    for rec in log:
        if rec["op"] == "ack":
            acked += 1
            for i, (event, tags) in enumerate(zip(rec["events"], rec["tags"], strict=True)):
                key = (event["w"], event["t"], event["n"], event["i"])
                assert key in by_id or rec["first"] + i <= snap.deleted_to.get(rec["pid"], 0), (
                    f"acknowledged event lost: {rec['pid']}@{rec['first'] + i}")
                if key in by_id:
                    assert by_id[key] == (rec["pid"], rec["first"] + i,
                                          default_codec.encode(event), ",".join(tags))
        elif rec["op"] == "rej":
            rejected += 1
            assert not any((e["w"], e["t"], e["n"], e["i"]) in by_id for e in rec["events"])
        elif rec["op"] == "err" and rec["phase"] == "append":
            in_doubt += 1
            present = [(e["w"], e["t"], e["n"], e["i"]) in by_id for e in rec["events"]]
            assert all(present) or not any(present), f"half-written append: {rec}"
            if all(present):  # it happened: at the sequence numbers it asked for
                happened += 1
                for i, (event, tags) in enumerate(zip(rec["events"], rec["tags"], strict=True)):
                    assert by_id[(event["w"], event["t"], event["n"], event["i"])] == (
                        rec["pid"], rec["expected"] + 1 + i, default_codec.encode(event),
                        ",".join(tags))
    errors = sum(1 for r in log if r["op"] == "err")
    assert errors > 0, "the restarts were not noticed at all"
    # the pool's 0.5 s timeout is for the outage; after it, a loaded machine may take longer
    # than that to hand out a fresh connection, so the final read retries for a while
    final = None
    for attempt in range(40):
        try:
            final = await durable.load("counter")
            break
        except JournalError:
            if attempt == 39:
                raise
            await asyncio.sleep(0.25)
    assert final is not None and final.revision == final.state["count"]
    # every acknowledged increment counted once; in-doubt ones at most once
    assert cas["acked"] <= final.state["count"] <= cas["acked"] + cas["unknown"], (final, cas)
    await durable.close()
    for j in journals:
        await j.close()
    left, rows = settled_connections(own_server.dsn, app)
    assert left == 0, f"connections leaked: {rows}"
    print(f"\nFIGURES restarts: restarts={len(modes)} ({', '.join(sorted(set(modes)))}) "
          f"tasks=8 acked={acked} "
          f"rejected={rejected} errors={errors} in-doubt appends={in_doubt} "
          f"(of which committed={happened}) lost=0; durable counter: {cas}, "
          f"final={final.state['count']}")


async def test_all_stores_recover_after_restart_without_app_restart(
    own_server: EmbeddedPostgres, own_schema_url: str
) -> None:
    j = PostgresJournal(url=own_schema_url)
    s = PostgresSnapshotStore(url=own_schema_url)
    d = PostgresDurableStateStore(url=own_schema_url)
    await j.append("p", [JournalEntry(1, ("t",))], 0)
    await s.save("p", 1, "s1")
    await d.upsert("p", 0, "d1")
    assert not await j.wait_for_appends(0.05)  # starts the LISTEN connection
    await asyncio.to_thread(own_server.restart)
    # the first call after the restart works (dead pooled connections are not handed out)
    assert [e.event for e in await j.read("p")] == [1]
    await j.append("p", [JournalEntry(2, ("t",))], 1)
    assert [e.event for e in await j.read_by_tag(TagFilter(all=("t",)))] == [1, 2]
    snap = await s.load_latest("p")
    assert snap is not None and snap.state == "s1"
    assert (await d.upsert("p", 1, "d2")).revision == 2
    # the live listener reconnects too: an append is eventually noticed
    woke = False
    for n in range(20):
        task = asyncio.create_task(j.wait_for_appends(0.5))
        await asyncio.sleep(0.1)
        await j.append("p", [JournalEntry(3 + n)], 2 + n)
        if await task:
            woke = True
            break
    assert woke
    for store in (j, s, d):
        await store.close()


async def test_calls_while_the_server_is_down_raise_journal_error(
    own_server: EmbeddedPostgres, own_schema_url: str
) -> None:
    j = PostgresJournal(url=own_schema_url, pool_config={"timeout": 1.0})
    await j.append("p", [JournalEntry(1)], 0)
    await asyncio.to_thread(own_server.stop)
    try:
        with pytest.raises(JournalError) as info:
            await j.append("p", [JournalEntry(2)], 1)
        assert info.value.__cause__ is not None
        with pytest.raises(JournalError):
            await j.read("p")
    finally:
        await asyncio.to_thread(own_server.start)
    assert [e.event for e in await j.read("p")] == [1]  # the failed append did not happen
    await j.append("p", [JournalEntry(2)], 1)
    await j.close()


# -- a writer process SIGKILLed mid-batch --------------------------------------------------
def test_sigkill_mid_batch_is_all_or_nothing(pg_server: Any, pg_url: str,
                                             tmp_path: Path) -> None:
    """A process appending 5,000-event batches is SIGKILLed 3 times, once provably
    while its INSERT runs on the server: every batch is either complete or absent."""
    pid, batch = "bulk", 5000
    app = f"sigkill-{os.getpid()}"
    url = make_conninfo(pg_url, application_name=app)
    ctx = multiprocessing.get_context("spawn")
    acked_batches = 0
    for kill in range(3):
        log_path = str(tmp_path / f"batch-{kill}.jsonl")
        proc = ctx.Process(target=_workers.batch_worker, args=(url, pid, batch, log_path),
                           daemon=True)
        proc.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait for one ack, then for an INSERT in flight
            acks = [r for r in _workers.read_log(log_path) if r["op"] == "ack"]
            if acks and _backend_active(pg_server.dsn, app):
                break
            time.sleep(0.005)
        else:
            proc.kill()
            pytest.fail("the writer never got going")
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        assert proc.exitcode == -signal.SIGKILL
        while count_connections(pg_server.dsn, app) > 0:  # the backend noticed and ended
            time.sleep(0.02)
        acked_batches += sum(1 for r in _workers.read_log(log_path) if r["op"] == "ack")
    snap = read_journal_tables(pg_url)
    assert_journal_consistent(snap)
    seqs = snap.stream(pid)
    assert len(seqs) % batch == 0, f"{len(seqs)} events is not whole batches of {batch}"
    assert len(seqs) // batch >= acked_batches
    for first in range(1, len(seqs) + 1, batch):  # each batch complete and in order
        events = [orjson.loads(snap.events[(pid, s)][0]) for s in range(first, first + batch)]
        assert len({e["b"] for e in events}) == 1
        assert [e["i"] for e in events] == list(range(batch))
    print(f"\nFIGURES sigkill: kills=3 batch={batch} acked batches={acked_batches} "
          f"stored events={len(seqs)} partial batches=0")


def _backend_active(dsn: str, app: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                           "AND state = 'active' AND query ILIKE %s", [app, "%unnest%"]).fetchone()
        return bool(row and row[0])


# -- connections killed server-side, pool exhaustion, statement timeout ------------------
async def test_terminated_backends_are_never_handed_out_again(pg_server: Any,
                                                             pg_url: str) -> None:
    app = f"victim-{os.getpid()}"
    j = PostgresJournal(url=make_conninfo(pg_url, application_name=app),
                        pool_config={"min_size": 3, "max_size": 3})
    d = PostgresDurableStateStore(url=make_conninfo(pg_url, application_name=app),
                                  pool_config={"min_size": 2, "max_size": 2})
    head = 0
    for round_ in range(5):
        await j.append("p", [JournalEntry(round_)], head)
        head += 1
        await d.upsert("p", round_, round_)
        with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
            killed = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                  "WHERE application_name = %s", [app]).fetchone()
        assert killed is not None and killed[0] >= 2
        # every next call works, for each connection in the pools
        results = await asyncio.gather(*[j.highest_seq("p") for _ in range(6)])
        assert results == [head] * 6
        assert (await d.load("p")) is not None
    assert [e.event for e in await j.read("p")] == [0, 1, 2, 3, 4]
    await j.close()
    await d.close()
    left, rows = settled_connections(pg_server.dsn, app)
    assert left == 0, f"connections leaked: {rows}"


async def test_pool_exhaustion_is_a_clear_journal_error(pg_server: Any, pg_url: str) -> None:
    app = f"exhaust-{os.getpid()}"
    j = PostgresJournal(url=make_conninfo(pg_url, application_name=app),
                        pool_config={"min_size": 1, "max_size": 1, "timeout": 0.3})
    await j.append("p", [JournalEntry(1)], 0)
    pool = j.database.pool
    assert pool is not None
    async with pool.connection():  # hold the only connection
        results = await asyncio.gather(
            *[j.append("p", [JournalEntry(2)], 1) for _ in range(5)],
            j.read("p"), j.highest_seq("p"), return_exceptions=True,
        )
        for r in results:
            assert isinstance(r, JournalError), r
            assert "no database connection available" in str(r)
            assert isinstance(r.__cause__, PoolTimeout)
    assert pool.get_stats()["pool_size"] == 1
    assert count_connections(pg_server.dsn, app) == 1  # no leaked connections
    assert await j.highest_seq("p") == 1  # none of the failed appends happened
    await j.append("p", [JournalEntry(2)], 1)
    await j.close()
    assert count_connections(pg_server.dsn, app) == 0


async def test_statement_timeout_is_a_journal_error_with_cause(pg_url: str) -> None:
    options = f"{conninfo_to_dict(pg_url)['options']} -c statement_timeout=300"
    j = PostgresJournal(url=pg_url, pool_config={"kwargs": {"options": options}})
    d = PostgresDurableStateStore(url=pg_url, pool_config={"kwargs": {"options": options}})
    await j.append("p", [JournalEntry(1)], 0)
    await d.upsert("p", 0, 1)
    async with await psycopg.AsyncConnection.connect(pg_url) as blocker:
        await blocker.execute("LOCK TABLE events, durable_state IN ACCESS EXCLUSIVE MODE")
        sleeper = asyncio.create_task(blocker.execute("SELECT pg_sleep(5)"))
        await asyncio.sleep(0.05)
        for call in (j.append("p", [JournalEntry(2)], 1), j.read("p"), d.upsert("p", 1, 2)):
            with pytest.raises(JournalError, match="statement cancelled or timed out") as info:
                await call
            assert isinstance(info.value.__cause__, psycopg.errors.QueryCanceled)
        await blocker.cancel_safe()
        with pytest.raises(psycopg.errors.QueryCanceled):
            await sleeper
        await blocker.rollback()
    assert [e.event for e in await j.read("p")] == [1]
    await j.append("p", [JournalEntry(2)], 1)
    assert (await d.upsert("p", 1, 2)).revision == 2
    await j.close()
    await d.close()


# -- corrupted data inserted by hand -------------------------------------------------------
def _sql(url: str, query: str, params: list[Any] | None = None) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(query.encode(), params)


def _fold(state: list[Any], event: Any) -> list[Any]:
    return [*state, event]


@pytest.fixture
async def corrupt_stores(pg_url: str) -> Any:
    j, s, d = (PostgresJournal(url=pg_url), PostgresSnapshotStore(url=pg_url),
               PostgresDurableStateStore(url=pg_url))
    await j.append("acct-1", [JournalEntry(i, ("t",)) for i in range(1, 6)], 0)
    await s.save("acct-1", 2, [1, 2])
    await d.upsert("acct-1", 0, {"ok": True})
    yield j, s, d
    for store in (j, s, d):
        await store.close()


@pytest.mark.parametrize(("corruption", "error", "sequence_nrs"), [
    pytest.param("DELETE FROM events WHERE persistence_id = 'acct-1' AND sequence_nr = 4",
                 JournalIntegrityError, (4, 5), id="gap-is-a-journal-integrity-error"),
    pytest.param("INSERT INTO snapshots VALUES ('acct-1', 9, '[1]', 0)",
                 SnapshotIntegrityError, (9,), id="snapshot-ahead-is-a-snapshot-integrity-error"),
])
async def test_broken_stream_fails_replay_naming_stream_and_seq(
    corrupt_stores: Any, pg_url: str, corruption: str, error: type[PersistenceError],
    sequence_nrs: tuple[int, ...],
) -> None:
    j, s, _ = corrupt_stores
    _sql(pg_url, corruption)
    with pytest.raises(error) as info:
        await replay_state(j, s, "acct-1", [], _fold)
    assert isinstance(info.value, JournalIntegrityError | SnapshotIntegrityError)
    assert info.value.persistence_id == "acct-1"
    assert info.value.sequence_nr in sequence_nrs
    assert "acct-1" in str(info.value) and str(sequence_nrs[0]) in str(info.value)


@pytest.mark.parametrize("bad_payload", ["{not json", "", "NaN", "[1,", "\"unterminated",
                                         '{"$type": 1, "$value"'])
async def test_non_json_event_payload_is_an_integrity_error(
    corrupt_stores: Any, pg_url: str, bad_payload: str
) -> None:
    j, s, _ = corrupt_stores
    _sql(pg_url, "UPDATE events SET payload = %s WHERE persistence_id = 'acct-1' "
                 "AND sequence_nr = 3", [bad_payload])
    for call in (j.read("acct-1"), j.read_by_tag(TagFilter(all=("t",))),
                 replay_state(j, s, "acct-1", [], _fold)):
        with pytest.raises(JournalIntegrityError) as info:
            await call
        assert info.value.persistence_id == "acct-1" and info.value.sequence_nr == 3
        assert "acct-1" in str(info.value) and "3" in str(info.value)
    assert [e.event for e in await j.read("acct-1", 1, 2)] == [1, 2]  # the rest is readable


async def test_too_deeply_nested_stored_json_is_an_integrity_error(
    corrupt_stores: Any, pg_url: str
) -> None:
    j, _, _ = corrupt_stores
    _sql(pg_url, "UPDATE events SET payload = %s WHERE persistence_id = 'acct-1' "
                 "AND sequence_nr = 5", ["[" * 5000 + "]" * 5000])
    with pytest.raises(JournalIntegrityError) as info:
        await j.read("acct-1")
    assert (info.value.persistence_id, info.value.sequence_nr) == ("acct-1", 5)


async def test_non_json_snapshot_and_durable_payloads_are_integrity_errors(
    corrupt_stores: Any, pg_url: str
) -> None:
    _, s, d = corrupt_stores
    _sql(pg_url, "UPDATE snapshots SET payload = '{oops' WHERE persistence_id = 'acct-1'")
    with pytest.raises(SnapshotIntegrityError) as sinfo:
        await s.load_latest("acct-1")
    assert (sinfo.value.persistence_id, sinfo.value.sequence_nr) == ("acct-1", 2)
    assert "acct-1" in str(sinfo.value)
    _sql(pg_url, "UPDATE durable_state SET payload = 'oops' WHERE persistence_id = 'acct-1'")
    with pytest.raises(PersistenceError) as dinfo:
        await d.load("acct-1")
    assert "acct-1" in str(dinfo.value) and "revision 1" in str(dinfo.value)
    assert not isinstance(dinfo.value, JournalError)  # an integrity problem, not an outage


async def test_integrity_errors_do_not_break_other_streams(corrupt_stores: Any,
                                                           pg_url: str) -> None:
    j, s, _ = corrupt_stores
    await j.append("acct-2", [JournalEntry(10)], 0)
    _sql(pg_url, "UPDATE events SET payload = 'garbage' WHERE persistence_id = 'acct-1'")
    result = await replay_state(j, s, "acct-2", [], _fold)
    assert result.state == [10]
    with pytest.raises(JournalConcurrencyError):  # writes still check the head normally
        await j.append("acct-1", [JournalEntry(6)], 4)


# -- the connection dies after the COMMIT but before the answer ------------------------
@pytest.fixture
async def cutting_proxy(pg_server: Any, tmp_path: Path) -> Any:
    if pg_server.kind != "embedded":
        pytest.skip("the proxy relays to the embedded server's Unix socket")
    from ._tls_proxy import TlsProxy

    params = conninfo_to_dict(pg_server.dsn)
    sock = Path(str(params["host"])) / f".s.PGSQL.{params.get('port') or 5432}"
    # the proxy wants a certificate even when it never speaks TLS: make a throw-away one
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "k.pem", "-out",
                    "c.pem", "-days", "1", "-subj", "/CN=localhost"],
                   cwd=tmp_path, check=True, capture_output=True)
    async with TlsProxy(sock, tmp_path / "c.pem", tmp_path / "k.pem", tls=False) as proxy:
        yield proxy


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
async def test_append_whose_answer_is_lost_after_commit_is_not_duplicated(
    cutting_proxy: Any, pg_url: str
) -> None:
    """The in-doubt case: the append commits, then the connection drops before the client
    hears about it.  The store retries on a fresh connection, finds its own events and
    reports success — exactly once in the journal."""
    journal = PostgresJournal(url=_proxied_url(cutting_proxy, pg_url),
                              pool_config={"min_size": 1, "max_size": 2})
    await journal.append("doubt", [JournalEntry({"n": 1}, ("t",))], 0)
    marker = "CUT-" + os.urandom(4).hex()
    cutting_proxy.cut_marker = marker.encode()
    written = await journal.append(
        "doubt", [JournalEntry({"n": 2, "m": marker}, ("t",)), JournalEntry({"n": 3})], 1)
    cutting_proxy.cut_marker = None
    assert cutting_proxy.cuts == 1, "the fault was not injected"
    assert [(e.sequence_nr, e.event.get("n")) for e in written] == [(2, 2), (3, 3)]
    snap = read_journal_tables(pg_url)
    assert_journal_consistent(snap)
    assert snap.stream("doubt") == [1, 2, 3]  # committed once, not twice, not zero times
    await journal.close()


def _proxied_url(proxy: Any, pg_url: str) -> str:
    params = conninfo_to_dict(pg_url)
    return (f"host=127.0.0.1 port={proxy.port} user={params.get('user', 'postgres')} "
            f"dbname={params.get('dbname', 'postgres')} options='{params['options']}' "
            f"sslmode=disable")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
async def test_upsert_whose_answer_is_lost_after_commit_is_not_a_false_conflict(
    cutting_proxy: Any, pg_url: str
) -> None:
    """A durable-state write that committed but whose answer was lost must not be
    reported as a DurableStateConcurrencyError: a caller's retry-on-conflict loop would
    then apply its change twice (a counter would count one increment double)."""
    store = PostgresDurableStateStore(url=_proxied_url(cutting_proxy, pg_url),
                                      pool_config={"min_size": 1, "max_size": 2})
    acked = 0
    for n in range(1, 4):  # create (INSERT path) and two updates (UPDATE path), all cut
        marker = f"CUT-{n}-{os.urandom(4).hex()}"
        cutting_proxy.cut_marker = marker.encode()
        while True:  # the usual retry-on-conflict increment loop
            record = await store.load("counter")
            revision = record.revision if record else 0
            count = record.state["count"] if record else 0
            try:
                written = await store.upsert("counter", revision,
                                             {"count": count + 1, "m": marker})
            except DurableStateConcurrencyError:
                continue
            except JournalError:  # outcome unknown: acceptable, but then do not count it
                break
            acked += 1
            assert written.revision == revision + 1
            break
        assert cutting_proxy.cuts == n
    final = await store.load("counter")
    assert final is not None
    assert final.state["count"] == final.revision == acked, (
        f"count {final.state['count']} at revision {final.revision}, acknowledged {acked}")
    await store.close()


async def test_cancelled_calls_leak_nothing_and_leave_no_half_writes(
    pg_server: Any, pg_url: str
) -> None:
    """Appends cancelled (asyncio timeouts) while waiting for a pool connection or while
    blocked on a lock inside PostgreSQL: afterwards no connection leaked, the pool hands
    out only healthy connections, and each cancelled append happened completely or not
    at all."""
    app = f"cancel-{os.getpid()}"
    j = PostgresJournal(url=make_conninfo(pg_url, application_name=app),
                        pool_config={"min_size": 2, "max_size": 2, "timeout": 5.0})
    await j.append("c", [JournalEntry({"n": 0}, ("t",))], 0)
    pool = j.database.pool
    assert pool is not None
    # 1) cancelled while waiting for a connection
    async with pool.connection(), pool.connection():
        for _ in range(5):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(j.append("c", [JournalEntry({"n": 1})], 1), 0.05)
    # 2) cancelled while the INSERT waits on a lock held by another session
    async with await psycopg.AsyncConnection.connect(pg_url) as blocker:
        await blocker.execute("LOCK TABLE events IN EXCLUSIVE MODE")
        for n in range(3):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(
                    j.append("c", [JournalEntry({"n": 10 + n, "k": i}, ("t",))
                                   for i in range(3)], 1), 0.2)
        await blocker.rollback()
    await asyncio.sleep(0.3)  # let any statement that outlived its cancelled caller finish
    head = await j.highest_seq("c")
    assert head in (1, 4), f"head {head}: a cancelled 3-event batch was half-written"
    await j.append("c", [JournalEntry({"n": 99})], head)  # healthy connections only
    snap = read_journal_tables(pg_url)
    assert_journal_consistent(snap)
    events = [orjson.loads(snap.events[("c", s)][0]) for s in snap.stream("c")]
    assert events[0]["n"] == 0 and events[-1]["n"] == 99
    if head == 4:  # one cancelled batch committed after the lock went: all of it, in order
        assert len({e["n"] for e in events[1:4]}) == 1 and [e["k"] for e in events[1:4]] == [0, 1, 2]
    print(f"\nFIGURES cancellation: 5 cancelled waiting for a connection, 3 cancelled on a "
          f"lock; batches that committed anyway: {(head - 1) // 3}")
    stats = pool.get_stats()
    assert stats["pool_size"] <= 2
    assert count_connections(pg_server.dsn, app) <= 2
    await j.close()
    assert count_connections(pg_server.dsn, app) == 0
