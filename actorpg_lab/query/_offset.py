"""Exact, resumable offsets for tag queries: the key of the last event delivered.

A tag query delivers events in ``(position, persistence_id, sequence_nr)`` order (see
:mod:`actorpg_lab.query`), reading only below the visibility horizon, so the events a
consumer has seen are always exactly those up to and including the last one's key.
:class:`TagOffset` is that key; resuming from it reads the events after it.

Offsets are immutable values (``==``, ``hash``, pickle) and serialise with
:meth:`TagOffset.to_json`::

    {"format": 2, "position": 7431, "persistence_id": "acct-1", "sequence_nr": 12}

Offsets written by earlier versions (``"format": 1``: a timestamp watermark, a
backtracking window and the streams seen within it) are converted on reading: the
resumed query re-reads from ``timestamp - window_ms`` (events stamped before that were
delivered under the old version's assumption) and skips, per persistence id, the
sequence numbers the old offset had seen.  Those two rules travel in the converted
offset (``legacy``) until they cannot matter any more.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .._tag_filter import START_KEY, EventKey, check_event_key
from .._validation import check_non_negative_int, check_persistence_id

__all__ = ["DEFAULT_WINDOW_MS", "LegacySkip", "TagOffset"]

#: The backtracking window of format-1 offsets that do not say theirs (5 seconds).
DEFAULT_WINDOW_MS = 5_000

_FORMAT = 2
_LEGACY_FORMAT = 1


class LegacySkip:
    """What a converted format-1 offset still has to skip: events stamped before
    ``from_timestamp``, and per persistence id the sequence numbers up to ``seen``."""

    __slots__ = ("from_timestamp", "seen")

    def __init__(self, from_timestamp: int, seen: Mapping[str, int]) -> None:
        self.from_timestamp = from_timestamp
        self.seen: Mapping[str, int] = MappingProxyType(dict(seen))

    def skips(self, persistence_id: str, sequence_nr: int) -> bool:
        """Whether the old offset had already delivered this event."""
        seen = self.seen.get(persistence_id)
        return seen is not None and sequence_nr <= seen

    def after_delivering(self, persistence_id: str) -> LegacySkip:
        """The rules once an event of ``persistence_id`` past ``seen`` was delivered."""
        if persistence_id not in self.seen:
            return self
        return LegacySkip(self.from_timestamp,
                          {p: s for p, s in self.seen.items() if p != persistence_id})

    def to_dict(self) -> dict[str, Any]:
        return {"from_timestamp": self.from_timestamp,
                "seen": [[pid, seq] for pid, seq in sorted(self.seen.items())]}

    def _key(self) -> tuple[Any, ...]:
        return (self.from_timestamp, tuple(sorted(self.seen.items())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LegacySkip) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"LegacySkip(from_timestamp={self.from_timestamp}, seen={dict(self.seen)!r})"


class TagOffset:
    """Where a tag query stopped: the ``(position, persistence_id, sequence_nr)`` key of
    the last event delivered (``TagOffset()`` is the start)."""

    __slots__ = ("_key", "_legacy")

    _key: EventKey
    _legacy: LegacySkip | None

    def __init__(
        self, position: int = 0, persistence_id: str = "", sequence_nr: int = 0, *,
        legacy: LegacySkip | None = None,
    ) -> None:
        key = check_event_key((position, persistence_id, sequence_nr))
        if persistence_id:
            check_persistence_id(persistence_id)
        if legacy is not None and not isinstance(legacy, LegacySkip):
            raise TypeError(f"legacy must be a LegacySkip or None, got {legacy!r:.200}")
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_legacy", legacy)

    @classmethod
    def start(cls) -> TagOffset:
        """The offset before the first event."""
        return cls()

    @classmethod
    def _after(cls, key: EventKey, legacy: LegacySkip | None) -> TagOffset:
        """The offset right after the event with ``key`` (unchecked: from the journal)."""
        offset = cls.__new__(cls)
        object.__setattr__(offset, "_key", key)
        object.__setattr__(offset, "_legacy", legacy)
        return offset

    # -- public view -----------------------------------------------------------------
    @property
    def position(self) -> int:
        """The last delivered event's position (0 at the start)."""
        return self._key[0]

    @property
    def persistence_id(self) -> str:
        """The last delivered event's persistence id (``""`` at the start)."""
        return self._key[1]

    @property
    def sequence_nr(self) -> int:
        """The last delivered event's sequence number (0 at the start)."""
        return self._key[2]

    @property
    def key(self) -> EventKey:
        """``(position, persistence_id, sequence_nr)``: a resumed query reads after it."""
        return self._key

    @property
    def legacy(self) -> LegacySkip | None:
        """The skip rules of an offset converted from format 1 (``None`` otherwise)."""
        return self._legacy

    @property
    def is_start(self) -> bool:
        return self._key == START_KEY and self._legacy is None

    # -- serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (see :meth:`from_dict`)."""
        data: dict[str, Any] = {"format": _FORMAT, "position": self._key[0],
                                "persistence_id": self._key[1], "sequence_nr": self._key[2]}
        if self._legacy is not None:
            data["legacy"] = self._legacy.to_dict()
        return data

    def to_json(self) -> str:
        """Serialise for storage (e.g. next to a projection's state)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TagOffset:
        """Rebuild an offset from :meth:`to_dict` output, or convert a format-1 offset
        written by an earlier version; ``ValueError`` if malformed."""
        if not isinstance(data, Mapping):
            raise ValueError(f"not a serialised TagOffset: {data!r:.300}")
        fmt = data.get("format")
        try:
            if fmt == _LEGACY_FORMAT:
                return cls._from_legacy(data)
            if fmt != _FORMAT:
                raise ValueError(
                    f"unsupported TagOffset format {fmt!r} (this version reads formats "
                    f"{_LEGACY_FORMAT} and {_FORMAT}; a newer actorpg_lab wrote it?)")
            legacy = None
            if data.get("legacy") is not None:
                raw = data["legacy"]
                legacy = LegacySkip(_int(raw["from_timestamp"]),
                                    {str(pid): _int(seq) for pid, seq in raw["seen"]})
            return cls(_int(data["position"]), str(data["persistence_id"]),
                       _int(data["sequence_nr"]), legacy=legacy)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a serialised TagOffset: {data!r:.300} ({exc})") from exc

    @classmethod
    def _from_legacy(cls, data: Mapping[str, Any]) -> TagOffset:
        timestamp = _int(data["timestamp"])
        window_ms = _int(data.get("window_ms", DEFAULT_WINDOW_MS))
        check_non_negative_int("timestamp", timestamp)
        check_non_negative_int("window_ms", window_ms)
        seen = {}
        for pid, seq, _ts in data["seen"]:
            seen[check_persistence_id(str(pid))] = _int(seq)
        return cls(legacy=LegacySkip(max(0, timestamp - window_ms), seen))

    @classmethod
    def from_json(cls, text: str | bytes) -> TagOffset:
        """Parse :meth:`to_json` output (or a format-1 offset of an earlier version)."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a serialised TagOffset: {text!r:.300}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"not a serialised TagOffset: {text!r:.300}")
        return cls.from_dict(data)

    # -- value semantics -------------------------------------------------------------
    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"TagOffset is immutable (cannot set {name!r})")

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TagOffset) and self._key == other._key
                and self._legacy == other._legacy)

    def __hash__(self) -> int:
        return hash((self._key, self._legacy))

    def __reduce__(self) -> tuple[Any, ...]:
        return (TagOffset.from_json, (self.to_json(),))

    def __repr__(self) -> str:
        legacy = f", legacy={self._legacy!r}" if self._legacy is not None else ""
        return (f"TagOffset(position={self._key[0]}, persistence_id={self._key[1]!r}, "
                f"sequence_nr={self._key[2]}{legacy})")


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an int, got {value!r:.100}")
    return value
