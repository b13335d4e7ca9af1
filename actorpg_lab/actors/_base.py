"""What event-sourced and durable-state actors share: :class:`PersistenceActorBase`.

The persistence id and its check, the hooks both kinds have (``initial_state``,
``on_command``, ``on_recovery_complete``, ``on_recovery_failure``), the guard that
``persist`` runs only inside ``on_command``, and two helpers for hooks and reprs.
"""

from __future__ import annotations

import inspect
from typing import Any

from .._validation import check_persistence_id
from ._system import Actor

__all__ = ["PersistenceActorBase", "describe", "maybe_await"]


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
            return await maybe_await(self.on_command(self._current_state(), command))
        finally:
            self._in_command = False

    def _current_state(self) -> Any:
        raise NotImplementedError

    async def _on_start_failure(self, exc: BaseException) -> None:
        await maybe_await(self.on_recovery_failure(exc))
