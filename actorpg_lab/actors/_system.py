"""The asyncio actor runtime: :class:`ActorSystem`, :class:`ActorRef`, mailboxes, extensions.

Design
------
* One :class:`asyncio.Task` and one unbounded :class:`asyncio.Queue` (the mailbox)
  per actor.  The task first runs the actor's start-up (recovery for persistent
  actors), then handles commands one at a time in arrival order.
* ``ref.ask(cmd)`` enqueues ``(cmd, future)`` and awaits the future: it returns what
  the handler returned or raises what it raised.  ``ref.tell(cmd)`` enqueues without a
  future; a failure of a told command is logged (``actorpg_lab.actor``) and the actor
  carries on with the next command.
* Lazy start: ``ActorSystem(...)`` and ``system.spawn(...)`` work without a running
  event loop (plain scripts that call ``asyncio.run`` later).  The actor task starts
  in the first running loop that touches the actor (``ask``, ``tell`` inside a loop,
  ``terminate``); in Jupyter (top-level ``await``) that is at once.
* Start-up failure (e.g. a broken journal): the actor stops, ``on_recovery_failure``
  is called, and every ``ask`` — queued or later — raises :class:`RecoveryFailedError`
  whose ``__cause__`` (and ``cause``) is the original exception.  Nothing hangs.
* ``await system.terminate()`` lets every actor drain the commands already in its
  mailbox (bounded by ``timeout``; then the task is cancelled and the remaining asks
  fail with :class:`ActorStoppedError`), runs the extensions' ``close`` (closing the
  stores the system created), and refuses further spawns.

Extensions are per-system singletons created on first use by
``system.extension(ExtensionClass)`` (``ExtensionClass(system)``); an extension with
an ``async close()`` is closed by ``terminate``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import re
from collections.abc import Mapping
from typing import Any, Final, TypeVar

from .._errors import ActorStoppedError, RecoveryFailedError
from .._metadata import message_metadata, reset_current_metadata, set_current_metadata
from ._config import Config

__all__ = [
    "Actor",
    "ActorRef",
    "ActorStoppedError",
    "ActorSystem",
    "Extension",
    "RecoveryFailedError",
]

_log = logging.getLogger("actorpg_lab.actor")

E = TypeVar("E", bound="Extension")

_SYSTEM_NAME = re.compile(r"[^\s/\x00]+")
_ACTOR_NAME = re.compile(r"[^\x00]+")


class Extension:
    """Base class of system extensions: one instance per system.

    ``system.extension(MyExtension)`` creates it on first use with
    ``MyExtension.create_extension(system)`` if defined, else ``MyExtension(system)``.
    """

    def __init__(self, system: ActorSystem) -> None:
        self.system = system

    async def close(self) -> None:
        """Release resources when the system terminates (default: nothing)."""


class Actor:
    """Base class of everything :meth:`ActorSystem.spawn` runs.

    Subclasses implement :meth:`receive`; :class:`~actorpg_lab.PersistentActor` and
    :class:`~actorpg_lab.DurableStateActor` implement it on top of ``on_command``.
    ``self.system`` and ``self.ref`` are set by ``spawn``.
    """

    #: Set by :meth:`ActorSystem.spawn`.
    system: ActorSystem | None = None
    #: Set by :meth:`ActorSystem.spawn`.
    ref: ActorRef | None = None

    def actor_name(self) -> str | None:
        """The name ``spawn`` uses when none is given (``None``: class name + counter)."""
        return None

    def _attach(self, system: ActorSystem) -> None:
        """Called synchronously by ``spawn``: resolve plugins, fail fast on bad setup."""

    async def _start(self) -> None:
        """Start-up (recovery); runs in the actor task before the first command."""

    async def receive(self, command: Any) -> Any:
        """Handle one command; the return value answers an ``ask``."""
        raise NotImplementedError(f"{type(self).__name__} must implement receive(command)")

    async def _before_command(self) -> None:
        """Hook run before each command (e.g. a pending re-sync)."""

    async def _on_start_failure(self, exc: BaseException) -> None:
        """Called when :meth:`_start` failed; the actor is stopping."""

    async def _stopped(self) -> None:
        """Called once when the actor task ends (normally or not)."""


_STOP: Final = object()


class _Cell:
    """The runtime side of one actor: mailbox, task, state of the life cycle."""

    def __init__(self, system: ActorSystem, actor: Actor, name: str) -> None:
        self.system = system
        self.actor = actor
        self.name = name
        self.queue: asyncio.Queue[
            tuple[Any, asyncio.Future[Any] | None, Mapping[str, str] | None]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.status = "idle"  # idle -> starting -> running -> stopped
        self.failure: BaseException | None = None
        self.stop_reason = "stopped"
        self.processed = 0

    # -- life cycle -----------------------------------------------------------------
    def ensure_started(self) -> None:
        if self.status == "stopped":
            return
        loop = asyncio.get_running_loop()
        if self.task is not None:
            if self.loop is not loop:
                raise RuntimeError(
                    f"actor {self.name!r} runs in another event loop; use it from that loop"
                )
            return
        self.loop = loop
        self.status = "starting"
        self.task = loop.create_task(self._run(), name=f"actor:{self.system.name}/{self.name}")

    async def _run(self) -> None:
        try:
            try:
                await self.actor._start()
            except Exception as exc:
                await self._fail_start(exc)
                return
            self.status = "running"
            while True:
                command, future, meta = await self.queue.get()
                if command is _STOP:
                    if future is not None and not future.done():
                        future.set_result(None)
                    break
                token = set_current_metadata(meta)  # what events persisted now carry
                try:
                    await self._handle(command, future)
                finally:
                    reset_current_metadata(token)
        finally:
            await self._finish()

    async def _handle(self, command: Any, future: asyncio.Future[Any] | None) -> None:
        try:
            await self.actor._before_command()
            result = self.actor.receive(command)
            if inspect.isawaitable(result):
                result = await result
        except asyncio.CancelledError:
            if future is not None and not future.done():
                future.set_exception(self.stopped_error())
            raise
        except Exception as exc:
            if future is None:
                _log.error("actor %s/%s failed on told command %r", self.system.name,
                           self.name, command, exc_info=exc)
            elif not future.done():
                future.set_exception(exc)
        else:
            if future is not None and not future.done():
                future.set_result(result)
        finally:
            self.processed += 1

    async def _fail_start(self, exc: BaseException) -> None:
        self.failure = exc
        self.stop_reason = "recovery failed"
        _log.error("actor %s/%s failed to start (recovery): %s", self.system.name, self.name,
                   exc, exc_info=exc)
        try:
            await self.actor._on_start_failure(exc)
        except Exception:
            _log.exception("on_recovery_failure of %s/%s raised", self.system.name, self.name)

    async def _finish(self) -> None:
        if self.status != "stopped":
            self.status = "stopped"
        self.system._release(self)
        while not self.queue.empty():
            command, future, _ = self.queue.get_nowait()
            if future is not None and not future.done():
                if command is _STOP:
                    future.set_result(None)
                else:
                    future.set_exception(self.stopped_error())
        try:
            await self.actor._stopped()
        except Exception:
            _log.exception("stopping actor %s/%s raised", self.system.name, self.name)

    def stopped_error(self) -> ActorStoppedError:
        """A fresh exception describing why this actor does not run."""
        if self.failure is not None:
            return RecoveryFailedError(
                f"actor {self.system.name}/{self.name} stopped: its recovery failed with "
                f"{type(self.failure).__name__}: {self.failure}",
                actor_name=self.name, cause=self.failure,
            )
        return ActorStoppedError(
            f"actor {self.system.name}/{self.name} is not running ({self.stop_reason})",
            actor_name=self.name,
        )

    # -- messages -------------------------------------------------------------------
    def post(self, command: Any, future: asyncio.Future[Any] | None,
             meta: Mapping[str, str] | None = None) -> None:
        if self.status == "stopped":
            if future is not None:
                future.set_exception(self.stopped_error())
            else:
                _log.warning("dead letter to stopped actor %s/%s: %r", self.system.name,
                             self.name, command)
            return
        self.queue.put_nowait((command, future, meta))

    async def stop(self, timeout: float | None, reason: str) -> None:
        """Drain what is queued, then stop; cancel after ``timeout`` seconds."""
        if self.status == "stopped":
            return
        self.stop_reason = reason
        if self.task is None or self.task.done():
            if self.queue.empty():
                self.status = "stopped"
                await self._finish()
                return
            self.ensure_started()
        assert self.task is not None
        self.queue.put_nowait((_STOP, None, None))
        done, _ = await asyncio.wait({self.task}, timeout=timeout)
        if not done:
            _log.warning("actor %s/%s did not stop within %.1fs; cancelling it",
                         self.system.name, self.name, timeout)
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task


class ActorRef:
    """The handle returned by :meth:`ActorSystem.spawn`: ``ask``, ``tell``, ``stop``."""

    __slots__ = ("_cell",)

    def __init__(self, cell: _Cell) -> None:
        self._cell = cell

    @property
    def name(self) -> str:
        """The actor's name, unique within its system (the persistence id by default)."""
        return self._cell.name

    @property
    def path(self) -> str:
        """``actorpg://<system>/<name>``."""
        return f"actorpg://{self._cell.system.name}/{self._cell.name}"

    @property
    def actor(self) -> Actor:
        """The actor instance (for inspection in notebooks and tests; do not call into it)."""
        return self._cell.actor

    @property
    def status(self) -> str:
        """``idle`` (not started yet), ``starting``, ``running`` or ``stopped``."""
        return self._cell.status

    @property
    def is_alive(self) -> bool:
        """Whether the actor accepts commands."""
        return self._cell.status != "stopped"

    @property
    def failure(self) -> BaseException | None:
        """The exception its start-up (recovery) failed with, if it did."""
        return self._cell.failure

    @property
    def mailbox_size(self) -> int:
        """Commands waiting in the mailbox."""
        return self._cell.queue.qsize()

    async def ask(self, command: Any, *, timeout: float | None = None,
                  correlation_id: str | None = None) -> Any:
        """Send ``command`` and wait for the result of the actor's handler.

        Every event the handler persists carries ``correlation_id`` (given, else the one
        of the message being handled where this is called from, else this command's
        id) and ``causation_id`` = this command's id (see :mod:`actorpg_lab._metadata`).

        Raises what the handler raised, :class:`RecoveryFailedError` when the actor's
        recovery failed, :class:`ActorStoppedError` when it is stopped, or
        :class:`TimeoutError` after ``timeout`` seconds (the command may still run).
        """
        cell = self._cell
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        cell.post(command, future, message_metadata(correlation_id))
        if not future.done():
            cell.ensure_started()
        if timeout is None:
            return await future
        return await asyncio.wait_for(asyncio.shield(future), timeout)

    def tell(self, command: Any, *, correlation_id: str | None = None) -> None:
        """Send ``command`` without waiting (fire and forget); metadata as :meth:`ask`.

        Outside a running event loop the command waits in the mailbox until the
        actor starts.  A failure is logged on ``actorpg_lab.actor``.
        """
        cell = self._cell
        cell.post(command, None, message_metadata(correlation_id))
        with contextlib.suppress(RuntimeError):  # no running loop: start later
            asyncio.get_running_loop()
            cell.ensure_started()

    async def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the actor after the commands already in its mailbox."""
        await self._cell.stop(timeout, "stopped by request")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActorRef) and other._cell is self._cell

    def __hash__(self) -> int:
        return id(self._cell)

    def __repr__(self) -> str:
        return f"<ActorRef {self.path} {self.status} mailbox={self.mailbox_size}>"


class ActorSystem:
    """A named set of actors plus configuration and extensions.

    :param name: a non-empty name without whitespace or ``/``.
    :param config: HOCON text, a dict (nested or with dotted keys) or ``None`` (defaults:
        in-memory persistence plugins).  See :mod:`actorpg_lab.actors._config`.
    """

    def __init__(self, name: str, config: str | Mapping[str, Any] | Config | None = None) -> None:
        if not isinstance(name, str):
            raise TypeError(f"ActorSystem name must be a str, got {type(name).__name__}: {name!r}")
        if not _SYSTEM_NAME.fullmatch(name):
            raise ValueError(
                f"ActorSystem name must be non-empty without whitespace, '/' or NUL: {name!r}"
            )
        self.name = name
        self.config = Config.load(config)
        self._extensions: dict[type[Extension], Extension] = {}
        self._cells: dict[str, _Cell] = {}
        self._persistence_ids: dict[str, _Cell] = {}
        self._counter = itertools.count(1)
        self._terminated = False
        self._terminating = False

    # -- extensions -----------------------------------------------------------------
    def extension(self, extension_class: type[E]) -> E:
        """The single instance of ``extension_class`` for this system (created on first use).

        Created by the class's ``create_extension(system)`` classmethod when it has one,
        else by ``extension_class(system)``.
        """
        if not (isinstance(extension_class, type) and issubclass(extension_class, Extension)):
            raise TypeError(f"extension_class must be an Extension subclass, got {extension_class!r}")
        ext = self._extensions.get(extension_class)
        if ext is None:
            if self._terminated:
                raise RuntimeError(f"actor system {self.name!r} is terminated")
            factory = getattr(extension_class, "create_extension", None)
            ext = factory(self) if callable(factory) else extension_class(self)
            if not isinstance(ext, extension_class):
                raise TypeError(
                    f"{extension_class.__name__}.create_extension returned {type(ext).__name__}"
                )
            self._extensions[extension_class] = ext
        assert isinstance(ext, extension_class)
        return ext

    # -- actors ---------------------------------------------------------------------
    async def ask(self, ref: ActorRef, message: Any, *, correlation_id: str | None = None,
                  timeout: float | None = None) -> Any:
        """``ref.ask(message, correlation_id=..., timeout=...)``."""
        return await ref.ask(message, timeout=timeout, correlation_id=correlation_id)

    def tell(self, ref: ActorRef, message: Any, *, correlation_id: str | None = None) -> None:
        """``ref.tell(message, correlation_id=...)``."""
        ref.tell(message, correlation_id=correlation_id)

    def spawn(self, actor: Actor, *, name: str | None = None) -> ActorRef:
        """Start ``actor`` (an :class:`Actor` instance) and return its :class:`ActorRef`.

        ``name`` defaults to the persistence id (persistent and durable-state actors) or
        the class name plus a counter.  A second live actor with the same name or the
        same persistence id in this system is a ``ValueError``.
        """
        if self._terminated or self._terminating:
            raise RuntimeError(f"actor system {self.name!r} is terminated; cannot spawn {actor!r}")
        if not isinstance(actor, Actor):
            raise TypeError(
                f"spawn expects an actor instance (PersistentActor, DurableStateActor, ...), "
                f"got {type(actor).__name__}: {actor!r:.200}"
            )
        if actor.system is not None:
            raise ValueError(f"{actor!r} was already spawned in system {actor.system.name!r}")
        if name is None:
            name = actor.actor_name() or f"{type(actor).__name__}-{next(self._counter)}"
        if not isinstance(name, str) or not _ACTOR_NAME.fullmatch(name):
            raise ValueError(f"actor name must be a non-empty str without NUL: {name!r}")
        if name in self._cells:
            raise ValueError(f"an actor named {name!r} already runs in system {self.name!r}")
        pid = getattr(actor, "persistence_id", None)
        if pid is not None and pid in self._persistence_ids:
            raise ValueError(
                f"persistence id {pid!r} is already used by actor "
                f"{self._persistence_ids[pid].name!r} in system {self.name!r}; one live actor "
                f"per persistence id"
            )
        actor._attach(self)  # may raise (unknown plugin, bad persistence id): nothing started
        cell = _Cell(self, actor, name)
        ref = ActorRef(cell)
        actor.system = self
        actor.ref = ref
        self._cells[name] = cell
        if pid is not None:
            self._persistence_ids[pid] = cell
        with contextlib.suppress(RuntimeError):  # no running loop: start lazily
            asyncio.get_running_loop()
            cell.ensure_started()
        return ref

    def _release(self, cell: _Cell) -> None:
        if self._cells.get(cell.name) is cell:
            del self._cells[cell.name]
        pid = getattr(cell.actor, "persistence_id", None)
        if pid is not None and self._persistence_ids.get(pid) is cell:
            del self._persistence_ids[pid]

    @property
    def actors(self) -> list[ActorRef]:
        """References to the live actors."""
        return [ActorRef(c) for c in self._cells.values()]

    def actor_for(self, name: str) -> ActorRef | None:
        """The live actor called ``name``, if any."""
        cell = self._cells.get(name)
        return None if cell is None else ActorRef(cell)

    @property
    def is_terminated(self) -> bool:
        return self._terminated

    async def terminate(self, timeout: float | None = None) -> None:
        """Stop every actor (draining queued commands), then close the extensions.

        Each actor gets ``timeout`` seconds (default: ``actorpg.actor.terminate-timeout``)
        before it is cancelled; asks still pending then raise :class:`ActorStoppedError`.
        Idempotent.
        """
        if self._terminated:
            return
        self._terminating = True
        if timeout is None:
            timeout = self.config.get_number("actorpg.actor.terminate-timeout")
        cells = list(self._cells.values())
        await asyncio.gather(
            *(c.stop(timeout, "actor system terminated") for c in cells), return_exceptions=True
        )
        for ext in reversed(list(self._extensions.values())):
            try:
                await ext.close()
            except Exception:
                _log.exception("closing extension %r of system %r failed", ext, self.name)
        self._terminated = True
        _log.debug("actor system %r terminated (%d actors)", self.name, len(cells))

    async def __aenter__(self) -> ActorSystem:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.terminate()

    def __repr__(self) -> str:
        state = "terminated" if self._terminated else f"actors={len(self._cells)}"
        return f"<ActorSystem {self.name!r} {state} {self.config!r}>"

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr><td>{html.escape(c.name)}</td><td>{html.escape(type(c.actor).__name__)}</td>"
            f"<td>{c.status}</td><td>{c.queue.qsize()}</td><td>{c.processed}</td></tr>"
            for c in self._cells.values()
        )
        state = "terminated" if self._terminated else f"{len(self._cells)} actors"
        return (
            f"<b>ActorSystem {html.escape(self.name)}</b> ({state})"
            f"<table><tr><th>name</th><th>class</th><th>status</th><th>mailbox</th>"
            f"<th>handled</th></tr>{rows}</table>"
        )
