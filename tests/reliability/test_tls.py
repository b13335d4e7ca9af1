"""TLS: ``pool_config={"kwargs": {...}}`` passes libpq's ``sslmode``/``sslrootcert``/...
straight through to every connection of a store's pool.

Usage (also in the report)::

    PostgresJournal(
        url="postgresql://app@db.example.com/app",
        pool_config={"kwargs": {"sslmode": "verify-full",
                                "sslrootcert": "/etc/ssl/certs/db-ca.pem"}},
    )

``verify-full`` checks the certificate chain AND the host name; ``require`` only
encrypts (no server authentication).  Failures are fail-closed ``JournalError`` s with
libpq's error as ``__cause__``.  libpq ignores ``sslmode`` on Unix-domain sockets and
the embedded server is built without OpenSSL, so libpq talks real TLS here to a small
TLS-terminating proxy (``_tls_proxy.py``) in front of the session server, using a
throw-away CA made with the ``openssl`` command.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from actorpg_lab import JournalEntry, JournalError
from actorpg_lab.postgres import PostgresDurableStateStore, PostgresJournal

from ._tls_proxy import TlsProxy

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for localhost/127.0.0.1 it signed, and an unrelated CA."""
    d = Path(tmp_path_factory.mktemp("certs"))
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.crt",
                 "-days", "2", "-subj", f"/CN={ca}", cwd=d)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
             cwd=d)
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext", cwd=d)
    return d


def _unix_socket(dsn: str) -> Path:
    params = conninfo_to_dict(dsn)
    return Path(str(params["host"])) / f".s.PGSQL.{params.get('port') or 5432}"


@pytest.fixture
async def proxy(pg_server: Any, certs: Path) -> AsyncIterator[TlsProxy]:
    if pg_server.kind != "embedded":
        pytest.skip("the proxy relays to the embedded server's Unix socket")
    async with TlsProxy(_unix_socket(pg_server.dsn), certs / "server.crt",
                        certs / "server.key") as p:
        yield p


def _tcp_url(pg_url: str, proxy: TlsProxy, host: str = "127.0.0.1") -> str:
    params = conninfo_to_dict(pg_url)
    return (f"host={host} port={proxy.port} user={params.get('user', 'postgres')} "
            f"dbname={params.get('dbname', 'postgres')} options='{params['options']}'")


async def _tls_of(journal: PostgresJournal) -> bool:
    """Whether libpq says the pooled connection is encrypted."""
    pool = journal.database.pool
    assert pool is not None
    async with pool.connection() as conn:
        return bool(conn.pgconn.ssl_in_use)


async def test_verify_full_passes_through_and_encrypts(proxy: TlsProxy, certs: Path,
                                                       pg_url: str) -> None:
    for host in ("127.0.0.1", "localhost"):  # both names are in the certificate
        journal = PostgresJournal(url=_tcp_url(pg_url, proxy, host), pool_config={
            "min_size": 2,
            "kwargs": {"sslmode": "verify-full", "sslrootcert": str(certs / "ca.crt")}})
        head = await journal.highest_seq("p")
        await journal.append("p", [JournalEntry({"secret": "over TLS"})], head)
        assert await _tls_of(journal)
        await journal.close()
    assert proxy.handshakes >= 4 and proxy.plaintext_sessions == 0  # every pooled connection


async def test_untrusted_certificate_fails_closed(proxy: TlsProxy, certs: Path,
                                                  pg_url: str) -> None:
    journal = PostgresJournal(url=_tcp_url(pg_url, proxy), pool_config={
        "timeout": 1.0,
        "kwargs": {"sslmode": "verify-full", "sslrootcert": str(certs / "other-ca.crt")}})
    with pytest.raises(JournalError, match="certificate verify failed") as info:
        await journal.highest_seq("p")
    assert isinstance(info.value.__cause__, psycopg.OperationalError)
    await journal.close()
    assert proxy.plaintext_sessions == 0


async def test_require_against_a_server_without_tls_fails_closed(
    proxy: TlsProxy, pg_url: str
) -> None:
    proxy.tls = False  # the proxy now answers SSLRequest with 'N', like a server with ssl=off
    store = PostgresDurableStateStore(url=_tcp_url(pg_url, proxy), pool_config={
        "timeout": 1.0, "kwargs": {"sslmode": "require"}})
    with pytest.raises(JournalError, match="SSL") as info:  # no silent downgrade
        await store.load("p")
    assert isinstance(info.value.__cause__, psycopg.OperationalError)
    await store.close()
    assert proxy.plaintext_sessions == 0
    plain = PostgresJournal(url=_tcp_url(pg_url, proxy),
                            pool_config={"kwargs": {"sslmode": "disable"}})
    assert await plain.highest_seq("nobody") == 0  # sslmode=disable works
    assert await _tls_of(plain) is False
    await plain.close()
    assert proxy.plaintext_sessions >= 1


async def test_unix_socket_ignores_sslmode(pg_url: str) -> None:
    """libpq behaviour worth knowing: no TLS on a Unix socket, even with ``require``."""
    journal = PostgresJournal(url=pg_url, pool_config={"kwargs": {"sslmode": "require"}})
    await journal.highest_seq("p")
    assert await _tls_of(journal) is False
    await journal.close()
