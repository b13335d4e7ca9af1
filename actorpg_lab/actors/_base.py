"""What event-sourced and durable-state actors share: :class:`PersistenceActorBase`.

The persistence id and its check, the hooks both kinds have (``initial_state``,
``on_command``, ``on_recovery_complete``, ``on_recovery_failure``), the guard that
``persist`` runs only inside ``on_command``, the life cycle around loading the state
(start-up, re-sync before a command after a write of unknown outcome, reload after a
concurrent write), the reprs, and two helpers for hooks and reprs.
"""

from __future__ import annotations

import html
import inspect
import logging
from typing import Any

from .._validation import check_persistence_id
from ._system import Actor

__all__ = ["PersistenceActorBase", "describe", "maybe_await"]

_log = logging.getLogger("actorpg_lab.actor")


async def maybe_await(value: Any) -> Any:
    """``await value`` if it is awaitable (a hook written as ``async def``), else ``value``."""
    if inspect.isawaitable(value):
        return await value
    return value


def describe(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (for reprs of actors with big states)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class PersistenceActorBase(Actor):
    """What event-sourced and durable-state actors share: the id, hooks, command guard."""

    #: The stream / key this actor owns (set as a class attribute or via ``__init__``).
    persistence_id: str

    _in_command: bool = False
    _recovered: bool = False
    _state: Any = None
    #: the last write's outcome is unknown, or a reload failed: load before the next command
    _needs_resync: bool = False

    def __init__(self, persistence_id: str | None = None) -> None:
        if persistence_id is not None:
            self.persistence_id = check_persistence_id(persistence_id)

    def actor_name(self) -> str | None:
        return getattr(self, "persistence_id", None)

    def _check_persistence_id(self) -> str:
        pid = getattr(self, "persistence_id", None)
        if pid is None:
            raise TypeError(
                f"{type(self).__name__} has no persistence_id: set it as a class attribute or "
                f"pass it to __init__ (super().__init__(persistence_id))"
            )
        return check_persistence_id(pid)

    @property
    def state(self) -> Any:
        """The current state: as loaded at start-up, then after every ``persist``."""
        return self._state

    # -- hooks -------------------------------------------------------------------------
    def initial_state(self) -> Any:
        """The state of a brand-new entity (default ``None``)."""
        return None

    async def on_command(self, state: Any, command: Any) -> Any:
        """Handle one command; the return value answers ``ask``."""
        raise NotImplementedError(f"{type(self).__name__} must implement on_command(state, command)")

    def on_recovery_complete(self, state: Any) -> Any:
        """Called once recovery finished, before the first command (may be async)."""
        return None

    def on_recovery_failure(self, exc: BaseException) -> Any:
        """Called when recovery failed; the actor then stops (may be async)."""
        return None

    # -- runtime -----------------------------------------------------------------------
    def _require_command(self, what: str) -> None:
        if not self._in_command:
            raise RuntimeError(
                f"{what} may only be called from on_command of {type(self).__name__} "
                f"({getattr(self, 'persistence_id', '?')!r}), while it handles a command"
            )

    async def receive(self, command: Any) -> Any:
        self._in_command = True
        try:
            return await maybe_await(self.on_command(self._state, command))
        finally:
            self._in_command = False

    async def _load(self) -> object:
        """(Re)load the state from the store(s) and clear ``_needs_resync``; returns what
        was loaded (for the debug log)."""
        raise NotImplementedError

    async def _start(self) -> None:
        loaded = await self._load()
        _log.debug("%s recovered: %s", self.persistence_id, loaded)
        self._recovered = True
        await maybe_await(self.on_recovery_complete(self._state))

    async def _before_command(self) -> None:
        if self._needs_resync:
            _log.info("%s: re-syncing from the store before the next command", self.persistence_id)
            await self._load()

    async def _resync_after_conflict(self) -> bool:
        """Reload after another writer won; if that fails, retry before the next command."""
        try:
            await self._load()
        except Exception:
            self._needs_resync = True
            _log.warning("%s: re-sync after a concurrent write failed; retrying before the "
                         "next command", self.persistence_id, exc_info=True)
            return False
        return True

    async def _on_start_failure(self, exc: BaseException) -> None:
        await maybe_await(self.on_recovery_failure(exc))

    # -- display -----------------------------------------------------------------------
    def _position(self) -> str:
        """Where the state stands, e.g. ``last_sequence_nr=5`` or ``revision=2``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} persistence_id={getattr(self, 'persistence_id', None)!r} "
            f"{self._position()} state={describe(self._state)}>"
        )

    def _repr_html_(self) -> str:
        return (
            f"<b>{html.escape(type(self).__name__)}</b> "
            f"<code>{html.escape(str(getattr(self, 'persistence_id', None)))}</code> "
            f"{html.escape(self._position())}<br><pre>{html.escape(describe(self._state, 2000))}</pre>"
        )
