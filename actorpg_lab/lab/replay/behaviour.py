"""What a replay folds with: an actor class or instance, or ``(on_event, initial_state)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["resolve_behaviour"]


def resolve_behaviour(
    behaviour: Any, persistence_id: str
) -> tuple[Callable[[Any, Any], Any], Any, str]:
    """``(on_event, initial_state, label)`` from an actor class/instance or a pair.

    * a class with ``initial_state()`` and ``on_event(state, event)`` (e.g. a
      ``PersistentActor`` subclass): instantiated with the persistence id when its
      constructor accepts it, otherwise used without running ``__init__``;
    * an instance of such a class;
    * a pair ``(on_event, initial_state)``; a callable ``initial_state`` is called.
    """
    if isinstance(behaviour, tuple):
        if len(behaviour) != 2 or not callable(behaviour[0]):
            raise TypeError(
                f"expected (on_event, initial_state) with a callable on_event, got {behaviour!r}"
            )
        on_event, initial = behaviour
        state = initial() if callable(initial) else initial
        label = getattr(on_event, "__qualname__", repr(on_event))
        return on_event, state, label
    actor: Any = behaviour
    if isinstance(behaviour, type):
        if not (hasattr(behaviour, "on_event") and hasattr(behaviour, "initial_state")):
            raise TypeError(
                f"{behaviour.__qualname__} has no on_event/initial_state: pass an actor class "
                f"or (on_event, initial_state)"
            )
        try:
            actor = behaviour(persistence_id)
        except TypeError:
            actor = object.__new__(behaviour)
            try:
                setattr(actor, "persistence_id", persistence_id)  # noqa: B010
            except AttributeError:  # pragma: no cover - read-only property
                pass
    if not (callable(getattr(actor, "on_event", None))
            and callable(getattr(actor, "initial_state", None))):
        raise TypeError(
            f"cannot replay with {behaviour!r}: pass an actor class or instance with "
            f"initial_state() and on_event(state, event), or a pair (on_event, initial_state)"
        )
    return actor.on_event, actor.initial_state(), type(actor).__qualname__
