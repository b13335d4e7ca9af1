"""Event metadata: correlation and causation ids that travel with what caused an event.

Every event may carry a ``Mapping[str, str]`` (``JournalEntry(metadata=...)``, read back
as :attr:`PersistentEvent.metadata`).  Two keys have a meaning:

* ``correlation_id``: the request (conversation) an event belongs to, the same on
  every event it led to, across streams;
* ``causation_id``: what directly caused it (the command's id, or ``"<pid>#<seq>"`` of
  the event that triggered it).

An entry without metadata takes the *current* metadata: what ``with metadata(...)``
sets for a block, and what the actor runtime sets while an actor handles a message
sent with ``ask``/``tell`` (see :mod:`actorpg_lab.actors`).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping
from contextvars import ContextVar, Token
from typing import Any

import orjson

__all__ = ["check_metadata", "current_metadata", "encode_metadata", "message_metadata",
           "metadata", "reset_current_metadata", "set_current_metadata"]

_current: ContextVar[Mapping[str, str] | None] = ContextVar("actorpg_metadata", default=None)

#: Longest metadata JSON per event (bytes).
MAX_METADATA_BYTES = 8192


def current_metadata() -> Mapping[str, str] | None:
    """The metadata new entries without their own take (``None``: none)."""
    return _current.get()


@contextlib.contextmanager
def metadata(correlation_id: str | None = None, causation_id: str | None = None,
             **headers: str) -> Iterator[Mapping[str, str]]:
    """Within the block, entries without metadata of their own carry this metadata
    (``None`` values are left out; nested blocks add to and override the outer one)."""
    merged: dict[str, str] = dict(_current.get() or {})
    for key, value in (("correlation_id", correlation_id), ("causation_id", causation_id),
                       *headers.items()):
        if value is not None:
            merged[key] = value
    checked = check_metadata(merged, "metadata")
    token = _current.set(checked)
    try:
        yield checked
    finally:
        _current.reset(token)


def check_metadata(value: object, what: str) -> dict[str, str]:
    """``value`` as a ``dict[str, str]`` (keys non-empty); TypeError/ValueError naming it."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a mapping of str to str, got "
                        f"{type(value).__name__}: {value!r:.200}")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k:
            raise ValueError(f"{what}: keys must be non-empty str, got {k!r:.100}")
        if not isinstance(v, str):
            raise TypeError(f"{what}[{k!r}] must be a str, got {type(v).__name__}: {v!r:.100}")
        if "\x00" in k or "\x00" in v:
            raise ValueError(f"{what}[{k!r}] must not contain NUL characters")
        out[k] = v
    return out


def encode_metadata(meta: Mapping[str, Any] | None, what: str) -> str | None:
    """The stored JSON text of ``meta`` (``None`` when empty)."""
    if not meta:
        return None
    text = orjson.dumps(meta, option=orjson.OPT_SORT_KEYS).decode()
    if len(text) > MAX_METADATA_BYTES:
        raise ValueError(f"{what} is {len(text)} bytes as JSON, over {MAX_METADATA_BYTES}")
    return text


def message_metadata(correlation_id: str | None) -> dict[str, str]:
    """The metadata of a message sent now: a new command id as ``causation_id``; the
    ``correlation_id`` given, else the current one (a message sent while handling
    another belongs to the same request), else the command id itself."""
    if correlation_id is not None and (not isinstance(correlation_id, str) or not correlation_id):
        raise ValueError(f"correlation_id must be a non-empty str or None: {correlation_id!r:.100}")
    command_id = uuid.uuid4().hex
    current = _current.get()
    inherited = current.get("correlation_id") if current else None
    return {"correlation_id": correlation_id or inherited or command_id,
            "causation_id": command_id}


def set_current_metadata(meta: Mapping[str, str] | None) -> Token[Mapping[str, str] | None]:
    """Make ``meta`` the current metadata (the actor runtime, per message)."""
    return _current.set(meta)


def reset_current_metadata(token: Token[Mapping[str, str] | None]) -> None:
    _current.reset(token)
