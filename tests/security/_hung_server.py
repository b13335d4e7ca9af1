"""A TCP server that accepts connections and never answers (a hung PostgreSQL), and a
guard that a call against it fails within a bound instead of hanging the suite."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """Listen on a free loopback port (yielded), accept every connection, never answer."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def fails_within(seconds: float, call: Callable[[], Any]) -> BaseException:
    """Run ``call`` in a thread; it must fail within ``seconds``; returns its exception."""
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting for the server after {seconds} s"
    assert outcome, "connecting to a server that never answers succeeded"
    assert time.monotonic() - started < seconds
    return outcome[0]
