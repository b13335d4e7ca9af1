"""Conditional appends across streams (Dynamic Consistency Boundaries, DCB).

A decision reads the events of its *boundary* — a :class:`Query` over event types and
tags, across streams — with ``journal.read_matching(query)``, and appends its own
events with ``journal.append(pid, entries, expected_seq,
condition=AppendCondition(fail_if_events_match=query, after=read.token))``: the append
writes nothing and raises :class:`~actorpg_lab.AppendConditionError`, naming the event,
when an event matching the query exists that the decision did not see.

* A :class:`QueryItem` matches an event when the item has no types or the event's type
  (the codec's registered name; aliases included) is one of them, AND every tag of the
  item is among the event's tags.  A :class:`Query` matches when any of its items does;
  :meth:`Query.all` (or an empty ``Query``) matches every event.
* ``after`` says what the decision saw: a :class:`ConsistencyToken` (what
  ``read_matching`` returns: the database snapshot of the read, so every event
  committed before it counts as seen and every later one as unseen — wherever its
  position falls), a :class:`~actorpg_lab.query.TagOffset` (every event whose
  ``(position, persistence_id, sequence_nr)`` key is at or below it), or ``None``
  (nothing seen: any matching event fails the condition).
* A :class:`~actorpg_lab.query.TagOffset` is exact when the boundary's events are
  written by the journal's own appends (their positions follow their commits across a
  boundary: see :mod:`actorpg_lab.postgres._boundary`).  An event appended inside a
  caller's transaction (``append_in_transaction``, ``journal.within(conn)``, a
  projection's ``ctx.journal``) gets the position of that transaction, which may have
  started writing before an event that commits earlier: it can sort *below* an offset
  taken after it was written and before it committed, and then counts as seen.  When
  such writers share a boundary, decide with the token ``read_matching`` returns: it
  counts by what the read saw, not by position.

How it is made safe on PostgreSQL (no table lock, disjoint boundaries in parallel):
:mod:`actorpg_lab.postgres._boundary`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._validation import check_tags

if TYPE_CHECKING:
    from ._codec import JsonCodec
    from ._types import PersistentEvent
    from .query import TaggedEvent, TagOffset

__all__ = ["AppendCondition", "ConsistencyToken", "MatchingRead", "Query", "QueryItem"]


@dataclass(frozen=True, slots=True, init=False)
class QueryItem:
    """Events of any of ``types`` (none: any type) carrying ALL of ``tags``."""

    types: tuple[str, ...]
    tags: tuple[str, ...]

    def __init__(self, types: Iterable[str] = (), tags: Iterable[str] = ()) -> None:
        if isinstance(types, str) or isinstance(tags, str):
            raise TypeError(f"types and tags must be collections of str, not a str: "
                            f"types={types!r:.200}, tags={tags!r:.200}")
        checked_types = tuple(dict.fromkeys(types))
        for t in checked_types:
            if not isinstance(t, str) or not t:
                raise ValueError(f"a query type must be a non-empty str: {t!r:.200}")
        checked_tags = check_tags(tuple(tags))
        object.__setattr__(self, "types", checked_types)
        object.__setattr__(self, "tags", checked_tags)

    @property
    def matches_all(self) -> bool:
        """No types and no tags: every event."""
        return not self.types and not self.tags


@dataclass(frozen=True, slots=True, init=False)
class Query:
    """Items OR-ed together; no items (:meth:`all`) matches every event."""

    items: tuple[QueryItem, ...]

    def __init__(self, items: Iterable[QueryItem] = ()) -> None:
        checked = tuple(items)
        for item in checked:
            if not isinstance(item, QueryItem):
                raise TypeError(f"Query items must be QueryItem, got {item!r:.200}")
        object.__setattr__(self, "items", checked)

    @classmethod
    def all(cls) -> Query:
        """The query every event matches."""
        return cls()

    @classmethod
    def of(cls, *items: QueryItem) -> Query:
        return cls(items)

    @property
    def matches_all(self) -> bool:
        return not self.items or any(item.matches_all for item in self.items)

    def matches(self, event: PersistentEvent, codec: JsonCodec | None = None) -> bool:
        """Whether ``event`` matches (types compared by canonical name: aliases included)."""
        if self.matches_all:
            return True
        canonical = _canonical(event, codec)
        tags = set(event.tags)
        return any(
            (not item.types or canonical in _expand(item.types, codec, canonical_only=True))
            and tags.issuperset(item.tags)
            for item in self.items)

    def __repr__(self) -> str:
        if self.matches_all:
            return "Query.all()"
        return "Query([" + ", ".join(
            f"QueryItem(types={list(i.types)!r}, tags={list(i.tags)!r})"
            for i in self.items) + "])"


@dataclass(frozen=True, slots=True)
class ConsistencyToken:
    """What a decision saw: the snapshot of the read (``xmin:xmax:xip,...`` as
    ``pg_current_snapshot()`` prints it; the in-memory journal uses its positions) and,
    for a read cut off by ``limit``, the key of its last event (``upto``): events past
    it count as unseen.  Opaque to callers; :meth:`to_json` / :meth:`from_json` keep it."""

    snapshot: str
    upto: tuple[int, str, int] | None = None
    _parsed: tuple[int, int, frozenset[int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            xmin_s, xmax_s, xip_s = self.snapshot.split(":")
            xmin, xmax = int(xmin_s), int(xmax_s)
            xip = frozenset(int(x) for x in xip_s.split(",") if x)
        except (ValueError, AttributeError):
            raise ValueError(f"not a consistency token snapshot: {self.snapshot!r:.200}") from None
        if not 0 < xmin <= xmax or any(not xmin <= x < xmax for x in xip):
            raise ValueError(f"not a consistency token snapshot: {self.snapshot!r:.200}")
        object.__setattr__(self, "_parsed", (xmin, xmax, xip))

    @property
    def xmin(self) -> int:
        return self._parsed[0]

    def saw(self, position: int, key: tuple[int, str, int]) -> bool:
        """Whether an event at ``position`` (with ``key``) was seen by the decision."""
        xmin, xmax, xip = self._parsed
        visible = position < xmin or (position < xmax and position not in xip)
        return visible and (self.upto is None or key <= self.upto)

    def to_json(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot, "upto": list(self.upto) if self.upto else None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConsistencyToken:
        upto = data.get("upto")
        return cls(str(data["snapshot"]),
                   (int(upto[0]), str(upto[1]), int(upto[2])) if upto else None)


@dataclass(frozen=True, slots=True)
class AppendCondition:
    """Fail the append if an event matching ``fail_if_events_match`` exists that is not
    covered by ``after`` (see the module docstring)."""

    fail_if_events_match: Query
    after: ConsistencyToken | TagOffset | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.fail_if_events_match, Query):
            raise TypeError(f"fail_if_events_match must be a Query, got "
                            f"{self.fail_if_events_match!r:.200}")
        check_after(self.after)


@dataclass(frozen=True, slots=True)
class MatchingRead:
    """What ``read_matching`` returns: the matching events in position order and the
    token of what this read saw (the ``after`` of the decision's condition)."""

    events: list[TaggedEvent]
    token: ConsistencyToken


def check_after(after: object) -> None:
    from .query import TagOffset

    if after is not None and not isinstance(after, (ConsistencyToken, TagOffset)):
        raise TypeError(f"after must be a ConsistencyToken, a TagOffset or None, got "
                        f"{after!r:.200}")


def _canonical(event: PersistentEvent, codec: JsonCodec | None) -> str | None:
    name = event.event_type
    if name is not None and codec is not None:
        return codec.resolve(name) or name
    return name


def _expand(types: Sequence[str], codec: JsonCodec | None, *,
            canonical_only: bool = False) -> tuple[str, ...]:
    """Each type and, through ``codec``, its canonical name and every alias."""
    if codec is None:
        return tuple(types)
    names: dict[str, None] = {}
    for t in types:
        canonical = codec.resolve(t)
        if canonical is None:
            names[t] = None
            continue
        names[canonical] = None
        if not canonical_only:
            names[t] = None
            for alias in codec.aliases_of(canonical):
                names[alias] = None
    return tuple(names)


def expand_types(types: Sequence[str], codec: JsonCodec) -> tuple[str, ...]:
    """The names stored rows of these types may carry: canonical names and aliases."""
    return _expand(types, codec)
