"""A tiny TLS-terminating PostgreSQL proxy for tests (TCP 127.0.0.1 -> Unix socket).

The embedded PostgreSQL binaries are built without OpenSSL, and libpq ignores
``sslmode`` on Unix sockets, so to test real TLS from libpq we speak the server side of
PostgreSQL's SSL negotiation ourselves: answer the 8-byte ``SSLRequest`` with ``S`` and
wrap the socket in TLS (or with ``N`` when ``tls=False``), then relay bytes to the real
server.  ``handshakes`` counts completed TLS handshakes.

Fault injection: when a client message contains ``cut_marker`` (one shot), the proxy
forwards it,
swallows the server's answer, waits ``cut_delay`` seconds (the statement runs and
commits) and then drops both connections — the client never learns the outcome.
``cuts`` counts how often that happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from pathlib import Path

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104


class TlsProxy:
    def __init__(self, unix_socket: Path, certfile: Path, keyfile: Path, *, tls: bool = True):
        self.unix_socket = unix_socket
        self.tls = tls
        self.handshakes = 0
        self.plaintext_sessions = 0
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(certfile, keyfile)
        self.cut_marker: bytes | None = None
        self.cut_delay = 0.3
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def __aenter__(self) -> TlsProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                head = await reader.readexactly(8)
                length, code = struct.unpack("!II", head)
                if length == 8 and code == _GSSENC_REQUEST:
                    writer.write(b"N")
                    await writer.drain()
                    continue
                if length == 8 and code == _SSL_REQUEST:
                    writer.write(b"S" if self.tls else b"N")
                    await writer.drain()
                    if self.tls:
                        await writer.start_tls(self._context)
                        self.handshakes += 1
                    continue
                break  # the StartupMessage: relay it and everything after it
            if writer.get_extra_info("ssl_object") is None:
                self.plaintext_sessions += 1
            up_reader, up_writer = await asyncio.open_unix_connection(str(self.unix_socket))
            up_writer.write(head)
            cut = asyncio.Event()
            await asyncio.gather(self._client_to_server(reader, up_writer, writer, cut),
                                 _pipe(up_reader, writer, cut))
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError,
                asyncio.CancelledError):  # cancelled: the proxy is shutting down
            pass
        finally:
            self._tasks.discard(task)
            writer.close()


    async def _client_to_server(self, reader: asyncio.StreamReader,
                                up_writer: asyncio.StreamWriter,
                                client_writer: asyncio.StreamWriter, cut: asyncio.Event) -> None:
        try:
            while data := await reader.read(65536):
                marker = self.cut_marker
                if marker is not None and marker in data:
                    self.cut_marker = None  # one shot: a retry of the same message passes
                    cut.set()  # from now on the server's answers are swallowed
                    up_writer.write(data)
                    await up_writer.drain()
                    await asyncio.sleep(self.cut_delay)
                    self.cuts += 1
                    client_writer.transport.abort()
                    return
                up_writer.write(data)
                await up_writer.drain()
        finally:
            with contextlib.suppress(Exception):
                up_writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                cut: asyncio.Event | None = None) -> None:
    try:
        while data := await reader.read(65536):
            if cut is not None and cut.is_set():
                continue
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.close()
