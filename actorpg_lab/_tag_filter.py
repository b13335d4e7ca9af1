"""Tag filters used by tag queries and the workbench."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ._validation import check_non_negative_int, check_optional_limit, check_tags

__all__ = [
    "START_KEY",
    "EventKey",
    "TagFilter",
    "as_tag_filter",
    "check_event_key",
    "check_tag_query",
    "split_tags",
]


#: Where a tag query stopped: ``(position, persistence_id, sequence_nr)`` of the last
#: event delivered; tag queries return the events after it in this key's order.
EventKey = tuple[int, str, int]
#: The key before every event (persistence ids are never empty).
START_KEY: EventKey = (0, "", 0)


@dataclass(frozen=True, slots=True, init=False)
class TagFilter:
    """Select events by their tags.

    An event matches when it has every tag in ``all``, at least one tag in ``any``
    (when ``any`` is given) and none of the tags in ``not_``.  Every part is optional:
    ``TagFilter()`` matches every event, ``TagFilter(not_=["archived"])`` every event
    without that tag, and ``TagFilter(any=[])`` (``any`` given, but empty) matches
    nothing — the same rules as a JSON filter ``{}`` / ``{"not": [...]}`` /
    ``{"any": []}``.
    """

    all: tuple[str, ...]
    any: tuple[str, ...]
    not_: tuple[str, ...]
    #: Whether ``any`` was given (an empty ``any`` that was given matches nothing).
    any_given: bool

    def __init__(
        self,
        all: Iterable[str] = (),
        any: Iterable[str] | None = None,
        not_: Iterable[str] = (),
    ) -> None:
        all_t, not_t = check_tags(all), check_tags(not_)
        any_t = check_tags(any) if any is not None else ()
        object.__setattr__(self, "all", all_t)
        object.__setattr__(self, "any", any_t)
        object.__setattr__(self, "not_", not_t)
        object.__setattr__(self, "any_given", any is not None)

    @property
    def candidate_tags(self) -> tuple[str, ...]:
        """Every tag that can make an event match (``all`` then ``any``); empty when the
        filter is not driven by a tag (``TagFilter()``, ``not_`` only)."""
        return tuple(dict.fromkeys(self.all + self.any))

    @property
    def matches_nothing(self) -> bool:
        """``any`` was given empty, or a tag is both required and excluded."""
        return (self.any_given and not self.any) or bool(set(self.all) & set(self.not_))

    def matches(self, tags: Iterable[str]) -> bool:
        """Whether an event carrying ``tags`` matches this filter."""
        present = set(tags)
        return (
            all(t in present for t in self.all)
            and (not self.any_given or any(t in present for t in self.any))
            and not any(t in present for t in self.not_)
        )

    def __repr__(self) -> str:
        parts = [f"{k}={v!r}" for k, v in (("all", self.all), ("any", self.any), ("not_", self.not_))
                 if v or (k == "any" and self.any_given)]
        return f"TagFilter({', '.join(parts)})"


def as_tag_filter(tag_filter: str | TagFilter) -> TagFilter:
    """Accept a single tag or a :class:`TagFilter`."""
    if isinstance(tag_filter, TagFilter):
        return tag_filter
    if isinstance(tag_filter, str):
        return TagFilter(all=(tag_filter,))
    raise TypeError(
        f"tag_filter must be a tag (str) or a TagFilter, got {type(tag_filter).__name__}: "
        f"{tag_filter!r}"
    )


def check_tag_query(
    tag_filter: object, from_timestamp: object, limit: object, after: object = None
) -> EventKey:
    """Validate the arguments of ``Journal.read_by_tag``; returns the key to read after."""
    if not isinstance(tag_filter, TagFilter):
        raise TypeError(f"tag_filter must be a TagFilter, got {tag_filter!r}")
    check_non_negative_int("from_timestamp", from_timestamp)
    check_optional_limit(limit)
    return check_event_key(after)


def check_event_key(after: object) -> EventKey:
    """``None`` (the start) or a ``(position, persistence_id, sequence_nr)`` tuple."""
    if after is None:
        return START_KEY
    if not isinstance(after, tuple) or len(after) != 3:
        raise TypeError(
            f"after must be a (position, persistence_id, sequence_nr) tuple, got {after!r:.200}"
        )
    position, pid, seq = after
    check_non_negative_int("after position", position)
    if not isinstance(pid, str):
        raise TypeError(f"after persistence_id must be a str, got {pid!r:.200}")
    check_non_negative_int("after sequence_nr", seq)
    return (position, pid, seq)


def split_tags(csv: str) -> tuple[str, ...]:
    """The events table's CSV tag mirror (``"a,b"``; ``""`` for none) as a tuple.

    Tags never contain commas (:func:`~actorpg_lab._validation.check_tags`), so the
    mirror splits back exactly.
    """
    return tuple(csv.split(",")) if csv else ()
