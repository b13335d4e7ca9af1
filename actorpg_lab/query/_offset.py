"""Exact, resumable offsets for tag queries over a timestamp-ordered journal.

Why not a plain timestamp?  Event timestamps come from the server clock at insert
time, but transactions commit later: an event stamped ``t`` can become visible after
an event stamped ``t + 5`` was already delivered.  A query resuming "after ``t + 5``"
would skip it; resuming "from ``t``" would deliver some events twice.

:class:`TagOffset` therefore carries

* ``timestamp`` – the watermark: the highest timestamp delivered so far;
* ``seen`` – for every persistence id delivered within the backtracking window
  (``timestamp - window_ms`` and later), the highest ``sequence_nr`` delivered;
* ``window_ms`` – the backtracking window, fixed when a stream starts.

A query resumes by re-reading from ``timestamp - window_ms`` and skipping every event
with ``sequence_nr <= seen[persistence_id]``.  That is exact because, per persistence
id, events become visible in sequence order (an append needs the previous head
committed), and a persistence id drops out of ``seen`` only when its last delivered
event is older than the window, i.e. older than anything that will be re-read.
The one assumption: a transaction commits less than ``window_ms`` after its
events were stamped (appends are single statements, so milliseconds in practice).

Offsets are immutable values (``==``, ``hash``) and serialise with :meth:`TagOffset.to_json`.
Internally an offset produced for each delivered event shares structure with its
predecessor, so a long catch-up does not copy ``seen`` per event.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from .._validation import check_non_negative_int, check_persistence_id

__all__ = ["DEFAULT_WINDOW_MS", "TagOffset"]

#: Default backtracking window: 5 seconds.
DEFAULT_WINDOW_MS = 5_000

_FORMAT = 1


class TagOffset:
    """Where a tag query stopped: watermark timestamp + recently seen stream heads."""

    __slots__ = ("_parent", "_pid", "_seen", "_seq", "_timestamp", "_ts", "_window_ms")

    _timestamp: int
    _window_ms: int
    _seen: dict[str, tuple[int, int]] | None
    _parent: TagOffset | None
    _pid: str
    _seq: int
    _ts: int

    def __init__(
        self,
        timestamp: int = 0,
        seen: Mapping[str, int | tuple[int, int]] | None = None,
        *,
        window_ms: int = DEFAULT_WINDOW_MS,
    ) -> None:
        """Build an offset by hand.

        ``seen`` maps persistence id to the highest delivered ``sequence_nr`` (the event
        timestamp is then taken as ``timestamp``) or to ``(sequence_nr, event_timestamp)``.
        """
        check_non_negative_int("timestamp", timestamp)
        check_non_negative_int("window_ms", window_ms)
        entries: dict[str, tuple[int, int]] = {}
        for pid, value in (seen or {}).items():
            check_persistence_id(pid)
            if isinstance(value, tuple):
                seq, ts = value
            else:
                seq, ts = value, timestamp
            check_non_negative_int(f"seen[{pid!r}]", seq)
            check_non_negative_int(f"timestamp of seen[{pid!r}]", ts)
            entries[pid] = (seq, ts)
        self._set(timestamp, window_ms, _prune(entries, timestamp, window_ms), None, "", 0, 0)

    def _set(self, timestamp: int, window_ms: int, seen: dict[str, tuple[int, int]] | None,
             parent: TagOffset | None, pid: str, seq: int, ts: int) -> None:
        setter = object.__setattr__
        setter(self, "_timestamp", timestamp)
        setter(self, "_window_ms", window_ms)
        setter(self, "_seen", seen)
        setter(self, "_parent", parent)
        setter(self, "_pid", pid)
        setter(self, "_seq", seq)
        setter(self, "_ts", ts)

    @classmethod
    def start(cls, window_ms: int = DEFAULT_WINDOW_MS) -> TagOffset:
        """The offset before the first event."""
        return cls(0, None, window_ms=window_ms)

    def _advance(self, pid: str, seq: int, ts: int) -> TagOffset:
        """The offset right after delivering ``(pid, seq)`` stamped ``ts`` (lazy, O(1))."""
        nxt = TagOffset.__new__(TagOffset)
        nxt._set(max(self._timestamp, ts), self._window_ms, None, self, pid, seq, ts)
        return nxt

    def _entries(self) -> dict[str, tuple[int, int]]:
        """pid -> (sequence_nr, event timestamp), materialised and pruned (cached)."""
        if self._seen is None:
            chain: list[TagOffset] = []
            node: TagOffset = self
            while node._seen is None:
                chain.append(node)
                assert node._parent is not None
                node = node._parent
            seen = dict(node._seen)
            for link in reversed(chain):
                seen[link._pid] = (link._seq, link._ts)
            object.__setattr__(self, "_seen", _prune(seen, self._timestamp, self._window_ms))
            object.__setattr__(self, "_parent", None)
        assert self._seen is not None
        return self._seen

    # -- public view -----------------------------------------------------------------
    @property
    def timestamp(self) -> int:
        """The watermark: the highest event timestamp delivered (epoch ms; 0 at the start)."""
        return self._timestamp

    @property
    def window_ms(self) -> int:
        """The backtracking window in milliseconds."""
        return self._window_ms

    @property
    def seen(self) -> Mapping[str, int]:
        """persistence id -> highest delivered sequence_nr, for ids seen within the window."""
        return MappingProxyType({pid: seq for pid, (seq, _) in self._entries().items()})

    @property
    def read_from(self) -> int:
        """The timestamp a resumed query re-reads from (``timestamp - window_ms``, >= 0)."""
        return max(0, self._timestamp - self._window_ms)

    def is_new(self, persistence_id: str, sequence_nr: int) -> bool:
        """Whether an event re-read from :attr:`read_from` was not delivered yet."""
        prev = self._entries().get(persistence_id)
        return prev is None or sequence_nr > prev[0]

    def __iter__(self) -> Iterator[tuple[str, int, int]]:
        for pid, (seq, ts) in sorted(self._entries().items()):
            yield pid, seq, ts

    # -- serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (see :meth:`from_dict`)."""
        return {
            "format": _FORMAT,
            "timestamp": self._timestamp,
            "window_ms": self._window_ms,
            "seen": [[pid, seq, ts] for pid, seq, ts in self],
        }

    def to_json(self) -> str:
        """Serialise for storage (e.g. next to a projection's state)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TagOffset:
        """Rebuild an offset from :meth:`to_dict` output; ``ValueError`` if malformed."""
        try:
            if data.get("format") != _FORMAT:
                raise ValueError(f"unsupported TagOffset format {data.get('format')!r}")
            seen = {str(pid): (int(seq), int(ts)) for pid, seq, ts in data["seen"]}
            return cls(int(data["timestamp"]), seen, window_ms=int(data["window_ms"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a serialised TagOffset: {data!r:.300} ({exc})") from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> TagOffset:
        """Parse :meth:`to_json` output."""
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

    def _key(self) -> tuple[Any, ...]:
        return (self._timestamp, self._window_ms, tuple(self))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TagOffset) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> tuple[Any, ...]:
        return (TagOffset.from_json, (self.to_json(),))

    def __repr__(self) -> str:
        entries = self._entries()
        shown = ", ".join(f"{pid!r}: {seq}" for pid, (seq, _) in list(sorted(entries.items()))[:5])
        more = f", ... {len(entries) - 5} more" if len(entries) > 5 else ""
        return (f"TagOffset(timestamp={self._timestamp}, seen={{{shown}{more}}}, "
                f"window_ms={self._window_ms})")


def _prune(
    seen: dict[str, tuple[int, int]], timestamp: int, window_ms: int
) -> dict[str, tuple[int, int]]:
    cutoff = timestamp - window_ms
    if cutoff <= 0:
        return seen
    return {pid: entry for pid, entry in seen.items() if entry[1] >= cutoff}
