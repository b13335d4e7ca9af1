"""Issue 9, points 4 (psycopg part) and 8: connect timeouts and secret redaction."""

from __future__ import annotations

import psycopg
import pytest

from actorpg_lab import JournalError, lab
from actorpg_lab import _dsn as dsn_module
from actorpg_lab._dsn import redact_dsn, with_connect_timeout
from actorpg_lab.postgres import PostgresJournal
from tests.security._hung_server import fails_within

SECRET = "Tr1cky-s3cret"


@pytest.mark.parametrize("dsn", [
    f"host=db.example.com user=app sslpassword={SECRET}",
    f"postgresql://app@db.example.com/app?sslpassword={SECRET}&sslmode=require",
    f"postgresql://app@db.example.com/app?passw%6Frd={SECRET}",  # percent-encoded key
    f"host=db.example.com password=x\\ {SECRET} user=app",  # backslash-escaped space
    f"host=db.example.com password='x {SECRET}' user=app",
    f"host=db.example.com password = {SECRET}",
    f"postgresql://app:{SECRET}@db.example.com:5433/app",
    f"postgresql://app@db.example.com/app?password={SECRET}",
    f"postgresql://app@db.example.com/app?sslmode=require&password={SECRET}",
], ids=["kv-sslpassword", "url-sslpassword", "url-percent-encoded-key", "kv-escaped-space",
        "kv-quoted", "kv-spaced-equals", "url-userinfo", "url-query", "url-query-last"])
def test_every_spelling_of_a_secret_is_masked(dsn: str) -> None:
    redacted = redact_dsn(dsn)
    assert redacted is not None and SECRET not in redacted and "***" in redacted
    assert "db.example.com" in redacted  # still says where it connects
    journal = PostgresJournal(url=dsn)
    assert SECRET not in repr(journal) and SECRET not in repr(journal.database)


def test_a_string_libpq_cannot_parse_is_not_shown() -> None:
    redacted = redact_dsn(f"host=db password='unterminated {SECRET}")
    assert redacted is not None and SECRET not in redacted


def test_secret_connection_kwargs_are_masked_in_errors() -> None:
    config = {"kwargs": {"sslpassword": SECRET, "password": SECRET}}
    with pytest.raises(ValueError) as info:
        PostgresJournal(url="host=db", pool_config=config, pool=object())  # type: ignore[arg-type]
    assert SECRET not in str(info.value) and "***" in str(info.value)


def test_a_dsn_without_secrets_is_shown_unchanged() -> None:
    url = "postgresql://postgres@/postgres?host=/tmp/actorpg-x1"
    assert redact_dsn(url) == url


# -- 4: connect timeouts ----------------------------------------------------------------

def test_the_workbench_does_not_wait_forever_for_a_server(
    silent_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dsn_module, "DEFAULT_CONNECT_TIMEOUT", 1)
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    url = f"postgresql://app:{SECRET}@127.0.0.1:{silent_server}/app"
    error = fails_within(15, lambda: lab.connect(url, schema="s"))
    assert isinstance(error, JournalError)  # the library's error, the driver's as the cause
    assert isinstance(error.__cause__, psycopg.OperationalError)
    assert "host=127.0.0.1" in str(error) and f"port={silent_server}" in str(error)
    assert SECRET not in str(error)


async def test_a_store_pool_connects_with_a_timeout_and_names_the_host(
    silent_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dsn_module, "DEFAULT_CONNECT_TIMEOUT", 1)
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    url = f"postgresql://app:{SECRET}@127.0.0.1:{silent_server}/app"
    journal = PostgresJournal(url=url, pool_config={"timeout": 3})
    try:
        with pytest.raises(JournalError) as info:
            await journal.highest_seq("p")
    finally:
        await journal.close()
    message = str(info.value)
    assert "connection timeout expired" in message  # libpq's own timeout, not the pool's
    assert "host=127.0.0.1" in message and SECRET not in message


def test_the_connect_timeout_is_overridable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    assert with_connect_timeout("host=db")["connect_timeout"] == dsn_module.DEFAULT_CONNECT_TIMEOUT
    assert "connect_timeout" not in with_connect_timeout("host=db connect_timeout=3")
    assert "connect_timeout" not in with_connect_timeout("postgresql://db/x?connect_timeout=0")
    assert with_connect_timeout("host=db", {"connect_timeout": 0}) == {"connect_timeout": 0}
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "7")
    assert "connect_timeout" not in with_connect_timeout("host=db")


def test_secrets_in_driver_messages_are_masked() -> None:
    """Text that is not a connection string (e.g. an error quoting one) is masked too."""
    message = (f"could not connect to postgresql://app:{SECRET}@db/app?sslpassword={SECRET}; "
               f"also tried host=db password='{SECRET} x' and passw%6Frd={SECRET}")
    redacted = redact_dsn(message)
    assert redacted is not None and SECRET not in redacted and "could not connect" in redacted
