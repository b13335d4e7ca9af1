"""Least privilege and secrets.

* A role with only SELECT/INSERT/UPDATE/DELETE on pre-provisioned tables runs the
  whole store contract suite with ``auto_create_tables=False``.
* A role with only SELECT reads everything and gets a clear ``JournalError``
  (permission denied, driver error as ``__cause__``) on every write.
* Passwords never appear in reprs, error messages, tracebacks or logs — with the
  password in a URL, in key=value form and in ``pool_config`` kwargs, and against a
  private server that really checks passwords (``scram-sha-256`` in ``pg_hba.conf``).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from actorpg_lab import EmbeddedPostgres, JournalEntry, JournalError, TagFilter
from actorpg_lab.postgres import PostgresDurableStateStore, PostgresJournal, PostgresSnapshotStore
from tests.contract.durable_state_contract import DurableStateContract
from tests.contract.journal_contract import JournalContract
from tests.contract.postgres_stores import PostgresStores
from tests.contract.snapshot_contract import SnapshotStoreContract

from ._checks import SECRET


# -- the contract suite as a DML-only role -------------------------------------------------
class AsDmlOnlyRole(PostgresStores):
    """Both handles connect as the role with SELECT/INSERT/UPDATE/DELETE only."""

    @pytest.fixture
    def connect(self, limited_urls: dict[str, str]) -> dict[str, Any]:
        return {"url": limited_urls["rw"], "auto_create_tables": False,
                "pool_config": {"min_size": 1, "max_size": 8}}

    @pytest.fixture
    def other_process(self, connect: dict[str, Any]) -> dict[str, Any]:
        return connect  # the same settings; each store builds its own pool from them


class TestJournalContractAsDmlOnlyRole(AsDmlOnlyRole, JournalContract):
    pass


class TestSnapshotContractAsDmlOnlyRole(AsDmlOnlyRole, SnapshotStoreContract):
    pass


class TestDurableStateContractAsDmlOnlyRole(AsDmlOnlyRole, DurableStateContract):
    pass


async def test_dml_only_role_really_cannot_create_tables(limited_urls: dict[str, str]) -> None:
    """Proves the suite above ran without DDL rights (so auto_create_tables=False mattered)."""
    with psycopg.connect(limited_urls["rw"], autocommit=True) as conn, \
            pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("CREATE TABLE sneaky (id int)")
    journal = PostgresJournal(url=limited_urls["rw"], events_table="fresh_events")
    with pytest.raises(JournalError, match="permission denied") as info:
        await journal.highest_seq("p")  # wants to CREATE fresh_events
    assert isinstance(info.value.__cause__, psycopg.errors.InsufficientPrivilege)
    await journal.close()


async def test_an_earlier_type_function_a_role_may_not_replace_keeps_working(
    pg_url: str, limited_urls: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A DML-only role opening a journal whose type function is an earlier version's
    (STRICT, owned by someone else) cannot replace it: it logs which script the owner
    should run and goes on (appends, reads and conditional appends all work)."""
    from actorpg_lab import AppendCondition, Query, QueryItem

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ALTER FUNCTION events_type_v1(text) STRICT")
    journal = PostgresJournal(url=limited_urls["rw"])  # auto_create_tables=True
    with caplog.at_level(logging.WARNING, logger="actorpg_lab"):
        await journal.append("p", [JournalEntry({"n": 1}, tags=("t",))], 0)
    assert "migrate_dcb.sql" in caplog.text and "events_type_v1" in caplog.text
    q = Query([QueryItem(tags=["t"])])
    read = await journal.read_matching(q)
    assert [t.event.persistence_id for t in read.events] == ["p"]
    await journal.append("p", [JournalEntry({"n": 2}, tags=("t",))], 1,
                         condition=AppendCondition(q, read.token))
    await journal.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        row = conn.execute("SELECT proisstrict FROM pg_proc "
                           "WHERE oid = to_regprocedure('events_type_v1(text)')").fetchone()
    assert row == (True,)


async def test_a_role_that_may_not_create_the_append_if_function_keeps_working(
    pg_url: str, limited_urls: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Tables provisioned by an earlier version (no events_append_if_v1), opened by a
    DML-only role with auto_create_tables=True: the role may not create the function, so
    it logs the script and conditional appends run as a pipeline instead."""
    from actorpg_lab import AppendCondition, AppendConditionError, Query, QueryItem

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP FUNCTION events_append_if_v1")
    journal = PostgresJournal(url=limited_urls["rw"])  # auto_create_tables=True
    with caplog.at_level(logging.WARNING, logger="actorpg_lab"):
        await journal.append("p", [JournalEntry({"n": 1}, tags=("t",))], 0)
    assert "events_append_if_v1" in caplog.text and "migrate_dcb.sql" in caplog.text
    q = Query([QueryItem(tags=["t"])])
    read = await journal.read_matching(q)
    await journal.append("p", [JournalEntry({"n": 2}, tags=("t",))], 1,
                         condition=AppendCondition(q, read.token))
    with pytest.raises(AppendConditionError):
        await journal.append("q", [JournalEntry({"n": 3}, tags=("t",))], 0,
                             condition=AppendCondition(q, read.token))
    assert not journal._append_if_function
    await journal.close()


# -- a SELECT-only role --------------------------------------------------------------------
async def test_select_only_role_reads_and_gets_clear_errors_on_writes(
    pg_url: str, limited_urls: dict[str, str]
) -> None:
    owner = PostgresJournal(url=pg_url)
    await owner.append("acct", [JournalEntry({"n": 1}, ("t",))], 0)
    snapshots, durable = PostgresSnapshotStore(url=pg_url), PostgresDurableStateStore(url=pg_url)
    await snapshots.save("acct", 1, {"s": 1})
    await durable.upsert("acct", 0, {"d": 1})
    for owned in (owner, snapshots, durable):
        await owned.close()
    ro: dict[str, Any] = {"url": limited_urls["ro"], "auto_create_tables": False}
    j, s, d = PostgresJournal(**ro), PostgresSnapshotStore(**ro), PostgresDurableStateStore(**ro)
    assert [e.event for e in await j.read("acct")] == [{"n": 1}]
    assert [e.event for e in await j.read_by_tag(TagFilter(all=("t",)))] == [{"n": 1}]
    assert await j.highest_seq("acct") == 1 and await j.persistence_ids() == ["acct"]
    snap = await s.load_latest("acct")
    assert snap is not None and snap.state == {"s": 1}
    rec = await d.load("acct")
    assert rec is not None and rec.state == {"d": 1}
    writes = [j.append("acct", [JournalEntry(2)], 1), j.delete("acct", 1),
              s.save("acct", 2, {}), s.delete("acct", 1),
              d.upsert("acct", 1, {}), d.upsert("new", 0, {}), d.delete("acct")]
    for write in writes:
        with pytest.raises(JournalError, match="permission denied") as info:
            await write
        assert isinstance(info.value.__cause__, psycopg.errors.InsufficientPrivilege)
        assert SECRET not in str(info.value)
    assert await j.highest_seq("acct") == 1  # nothing changed
    for store in (j, s, d):
        await store.close()


# -- secrets -------------------------------------------------------------------------------
def _assert_no_secret(*things: Any, caplog: pytest.LogCaptureFixture | None = None) -> None:
    for thing in things:
        text = (
            "".join(traceback.format_exception(thing)) + repr(thing)
            if isinstance(thing, BaseException) else f"{thing!r} {thing!s}"
        )
        assert SECRET not in text, f"password leaked in {text[:300]!r}"
        assert "S3cr3t" not in text
    if caplog is not None:
        assert "S3cr3t" not in caplog.text


def _url_forms(base: str, user: str, host: str, dbname: str = "postgres",
               port: str | None = None) -> list[tuple[str, dict[str, Any] | None]]:
    from urllib.parse import quote

    port_part = f"&port={port}" if port else ""
    url = f"postgresql://{user}:{quote(SECRET)}@/{dbname}?host={host}{port_part}"
    kv = make_conninfo(base, user=user, password=SECRET, dbname=dbname)
    no_pw = make_conninfo(base, user=user, dbname=dbname)
    return [(url, None), (kv, None), (no_pw, {"kwargs": {"password": SECRET}})]


async def test_password_never_in_reprs_errors_or_logs(
    pg_server: Any, roles: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Errors on the session server (trust auth): a database that does not exist."""
    caplog.set_level(logging.DEBUG)
    host = conninfo_host(pg_server.dsn)
    for url, pool_config in _url_forms(pg_server.dsn, roles["rw"], host, dbname="no_such_db"):
        kwargs: dict[str, Any] = {"url": url,
                                  "pool_config": {**(pool_config or {}), "timeout": 0.5}}
        stores: list[Any] = [PostgresJournal(**kwargs), PostgresSnapshotStore(**kwargs),
                             PostgresDurableStateStore(**kwargs)]
        _assert_no_secret(*stores, *(s.database for s in stores))
        for store, call in zip(stores, ("highest_seq", "load_latest", "load"), strict=True):
            with pytest.raises(JournalError, match="does not exist") as info:  # says why
                await getattr(store, call)("p")
            _assert_no_secret(info.value, caplog=caplog)
            await store.close()
    with pytest.raises(ValueError) as bad:  # both pool= and url= given: names the url
        PostgresJournal(url=_url_forms(pg_server.dsn, "u", host)[0][0],
                        pool=object())  # type: ignore[arg-type]
    _assert_no_secret(bad.value)


def conninfo_host(dsn: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    return str(conninfo_to_dict(dsn)["host"])


@pytest.fixture(scope="module")
def password_server(own_server: EmbeddedPostgres) -> Iterator[tuple[str, str]]:
    """``own_server`` switched to scram-sha-256 password auth for everyone."""
    role = "app_user"
    with psycopg.connect(own_server.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE app_user LOGIN PASSWORD {}").format(
            sql.Literal(SECRET)))
        conn.execute("GRANT CREATE ON SCHEMA public TO app_user")
        conn.execute("ALTER ROLE postgres PASSWORD 'admin-pw'")
    hba = own_server.pgdata / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text("local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n")
    with psycopg.connect(own_server.dsn, autocommit=True, password="admin-pw") as conn:
        conn.execute("SELECT pg_reload_conf()")
    try:
        yield own_server.dsn, role
    finally:
        hba.write_text(original)
        with psycopg.connect(own_server.dsn, autocommit=True, password="admin-pw") as conn:
            conn.execute("SELECT pg_reload_conf()")


async def test_real_password_auth_works_and_failures_do_not_leak(
    password_server: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dsn, role = password_server
    host = conninfo_host(dsn)
    for url, pool_config in _url_forms(dsn, role, host):
        journal = PostgresJournal(url=url, pool_config=pool_config, events_table="pw_events")
        await journal.append("p", [JournalEntry(1)], await journal.highest_seq("p"))
        _assert_no_secret(journal, journal.database, caplog=caplog)
        await journal.close()
    # the wrong password: a clear JournalError that does not echo either password
    wrong = make_conninfo(dsn, user=role, password=SECRET + "-wrong")
    journal = PostgresJournal(url=wrong, pool_config={"timeout": 0.5})
    with pytest.raises(JournalError, match="password authentication failed") as info:
        await journal.highest_seq("p")
    _assert_no_secret(journal, info.value, caplog=caplog)
    await journal.close()
    # missing password: also clear
    journal = PostgresJournal(url=make_conninfo(dsn, user=role), pool_config={"timeout": 0.5})
    with pytest.raises(JournalError, match="password"):
        await journal.highest_seq("p")
    await journal.close()


@pytest.mark.parametrize("password", ["p@ss:w/rd?x=1&y#z", "with space and 'quote'",
                                      "back\\slash=eq", "ünï🔥"])
async def test_tricky_passwords_are_redacted_in_every_form(
    pg_server: Any, password: str, caplog: pytest.LogCaptureFixture
) -> None:
    from urllib.parse import quote

    caplog.set_level(logging.DEBUG)
    host = conninfo_host(pg_server.dsn)
    forms: list[tuple[str, dict[str, Any] | None]] = [
        (f"postgresql://someone:{quote(password, safe='')}@/no_such_db?host={host}", None),
        (make_conninfo(pg_server.dsn, user="someone", password=password, dbname="no_such_db"),
         None),
        (make_conninfo(pg_server.dsn, user="someone", dbname="no_such_db"),
         {"kwargs": {"password": password}}),
    ]
    needles = {password, quote(password, safe=""), quote(password)}
    for url, pool_config in forms:
        journal = PostgresJournal(url=url, pool_config={**(pool_config or {}), "timeout": 0.3})
        with pytest.raises(JournalError) as info:
            await journal.highest_seq("p")
        with pytest.raises(ValueError) as both:
            PostgresJournal(url=url, pool_config=pool_config, pool=object())  # type: ignore[arg-type]
        texts = [repr(journal), repr(journal.database), str(info.value),
                 "".join(traceback.format_exception(info.value)), str(both.value), caplog.text]
        await journal.close()
        for text in texts:
            for needle in needles:
                assert needle not in text, f"password leaked: {text[:300]!r}"
