"""Issue 20, item 8: against a dead server every workbench entry point raises a
``PersistenceError`` subclass with the driver error as ``__cause__`` and the redacted
target in its message -- never a raw driver exception.

The workbench is opened through a TCP relay to the test server; closing the relay (its
listening socket and every relayed connection) makes the server unreachable: each new
connection is refused at once, and every open one is gone.
"""

from __future__ import annotations

import socket
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actorpg_lab import PersistenceError, lab
from actorpg_lab.lab import Workbench
from actorpg_lab.lab.demo import Account
from tests._pg import PgServer

from ..conftest import schema_url

SECRET = "dead-s3cret"


class Relay:
    """Forwards TCP connections on 127.0.0.1 to the test server until :meth:`kill`."""

    def __init__(self, dsn: str) -> None:
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(dsn)
        host = str(params.get("host") or "/tmp")
        port = int(params.get("port") or 5432)
        self._upstream: tuple[int, Any] = (
            (socket.AF_UNIX, f"{host}/.s.PGSQL.{port}") if host.startswith("/")
            else (socket.AF_INET, (host, port)))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._alive = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            family, address = self._upstream
            server = socket.socket(family, socket.SOCK_STREAM)
            try:
                server.connect(address)
            except OSError:
                client.close()
                server.close()
                continue
            with self._lock:
                if not self._alive:
                    client.close()
                    server.close()
                    return
                self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()

    def kill(self) -> None:
        """Close the listening socket and every relayed connection (idempotent)."""
        with self._lock:
            self._alive = False
            sockets, self._sockets = self._sockets, []
        self._listener.close()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _relayed_url(relay: Relay, url: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params.update(host="127.0.0.1", port=str(relay.port))
    params.setdefault("password", SECRET)  # never shown: checked below
    return make_conninfo(**params)  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port: int = sock.getsockname()[1]
    return port  # closed again: connections are refused


def assert_translated(error: BaseException, port: int) -> None:
    """``error`` is the library's, caused by the driver's, and names the target only."""
    assert isinstance(error, PersistenceError), repr(error)
    cause = error.__cause__
    assert cause is not None, f"no __cause__ on {error!r}"
    module = type(cause).__module__.partition(".")[0]
    assert module in {"psycopg", "psycopg_pool", "adbc_driver_manager"}, repr(cause)
    assert "host=127.0.0.1" in str(error) and f"port={port}" in str(error), str(error)
    assert SECRET not in "".join(traceback.format_exception(error))


def _raised(call: Callable[[], Any]) -> BaseException:
    try:
        call()
    except BaseException as exc:
        return exc
    raise AssertionError("no error against a dead server")


def test_connect_to_a_dead_server_raises_a_persistence_error() -> None:
    port = _free_port()
    for url in (f"postgresql://app:{SECRET}@127.0.0.1:{port}/app",
                f"host=127.0.0.1 port={port} user=app password={SECRET} dbname=app"):
        def plain(url: str = url) -> Any:
            return lab.connect(url, connect_timeout=2)

        def with_schema(url: str = url) -> Any:
            return lab.connect(url, schema="x", connect_timeout=2, quiet=True)

        assert_translated(_raised(plain), port)
        assert_translated(_raised(with_schema), port)


#: Every public Workbench method that touches the database, and how to call it.
CALLS: dict[str, Callable[[Workbench, Path], Any]] = {
    "journal_frame": lambda wb, _: wb.journal_frame(),
    "trace": lambda wb, _: wb.trace("req-1"),
    "tag_frame": lambda wb, _: wb.tag_frame("bank"),
    "snapshots_frame": lambda wb, _: wb.snapshots_frame(),
    "durable_state_frame": lambda wb, _: wb.durable_state_frame(),
    "streams_frame": lambda wb, _: wb.streams_frame(),
    "check_streams": lambda wb, _: wb.check_streams(),
    "conflicts_frame": lambda wb, _: wb.conflicts_frame(),
    "pruned_frame": lambda wb, _: wb.pruned_frame(),
    "plot_conflicts": lambda wb, _: wb.plot_conflicts(),
    "plot_pruning": lambda wb, _: wb.plot_pruning(),
    "iter_journal": lambda wb, _: next(wb.iter_journal()),
    "export_parquet": lambda wb, tmp: wb.export_parquet(tmp / "export"),
    "journal_dask": lambda wb, _: wb.journal_dask(),
    "event_types_frame": lambda wb, _: wb.event_types_frame(),
    "decode_check": lambda wb, _: wb.decode_check(),
    "compare_replays": lambda wb, _: wb.compare_replays(Account, Account),
    "replay": lambda wb, _: wb.replay(Account, "account-01"),
    "recovery_cost": lambda wb, _: wb.recovery_cost(),
    "plot_recovery_cost": lambda wb, _: wb.plot_recovery_cost(),
    "what_if": lambda wb, _: wb.what_if(),
    "plot_what_if": lambda wb, _: wb.plot_what_if(),
    "projections_frame": lambda wb, _: wb.projections_frame(),
    "plot_projection_lag": lambda wb, _: wb.plot_projection_lag(),
    "watch_projections": lambda wb, _: wb.watch_projections(),
    "run": lambda wb, _: wb.run(wb.journal.read("account-01")),
    "explore": lambda wb, _: wb.explore(),
    "stream_browser": lambda wb, _: wb.stream_browser().stream_events("account-01"),
}
#: The verbs of ``wb.projections`` that only live there.
PROJECTION_CALLS: dict[str, Callable[[Workbench, Path], Any]] = {
    "statuses": lambda wb, _: wb.projections.statuses(),
    "replay_failed_event": lambda wb, _: wb.projections.replay_failed_event(Account, "balances"),
}
#: Public members that never reach the server (they must still work when it is gone).
OFFLINE: dict[str, Callable[[Workbench, Path], Any]] = {
    "show": lambda wb, _: wb.show(__import__("pandas").DataFrame({"a": [1]})),
    "record_conflicts": lambda wb, _: wb.record_conflicts(persistence_ids="account-01"),
    "record_snapshots": lambda wb, _: wb.record_snapshots(persistence_ids="account-01"),
    "codec": lambda wb, _: wb.codec,
    "pool": lambda wb, _: wb.pool,
    "charts": lambda wb, _: wb.charts,  # its charts load through the frames above
    "close": lambda wb, _: None,  # closed by the fixture, after everything else
    "diagnose": lambda wb, _: wb.diagnose,  # the accessors: their verbs are walked above
    "history": lambda wb, _: wb.history,    # under the workbench's names for them
    "bulk": lambda wb, _: wb.bulk,
    "projections": lambda wb, _: wb.projections,
}


@pytest.fixture
def dead_wb(pg_server: PgServer, pg_schema: str) -> Iterator[tuple[Workbench, int]]:
    relay = Relay(pg_server.dsn)
    wb = lab.connect(_relayed_url(relay, schema_url(pg_server.dsn, pg_schema)), connect_timeout=1)
    try:
        wb.journal_frame()  # opened and working ...
        relay.kill()        # ... then the server is gone
        yield wb, relay.port
    finally:
        relay.kill()
        wb.close()


def test_the_walk_covers_every_public_workbench_member() -> None:
    public = {name for name in dir(Workbench) if not name.startswith("_")}
    assert public == set(CALLS) | set(OFFLINE)
    from actorpg_lab.lab.diagnose.workbench import Diagnosis
    from actorpg_lab.lab.frames.bulk import Bulk
    from actorpg_lab.lab.history.workbench import History

    for accessor in (Diagnosis, History, Bulk):  # each verb is walked under its alias
        verbs = {name for name in dir(accessor) if not name.startswith("_")}
        assert verbs <= public, (accessor, verbs - public)
    from actorpg_lab.lab.projections.workbench import Projections

    verbs = {name for name in dir(Projections) if not name.startswith("_")}
    assert verbs == (verbs & public) | set(PROJECTION_CALLS), verbs - public


def test_every_workbench_method_against_a_dead_server_raises_a_persistence_error(
    dead_wb: tuple[Workbench, int], tmp_path: Path
) -> None:
    wb, port = dead_wb
    for name, call in {**CALLS, **PROJECTION_CALLS}.items():
        error = _raised(lambda call=call: call(wb, tmp_path))  # type: ignore[misc]
        try:
            assert_translated(error, port)
        except AssertionError as failure:
            raise AssertionError(f"wb.{name}: {failure}") from error
    check = _raised(lambda: wb.check_streams(Account))
    assert_translated(check, port)
    for call in OFFLINE.values():
        call(wb, tmp_path)
