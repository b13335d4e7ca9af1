"""Tag filters used by tag queries and the workbench."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ._validation import check_non_negative_int, check_optional_limit, check_tags

__all__ = ["TagFilter", "as_tag_filter", "check_tag_query", "split_tags"]


@dataclass(frozen=True, slots=True, init=False)
class TagFilter:
    """Select events by their tags.

    An event matches when it has every tag in ``all``, at least one tag in ``any``
    (when ``any`` is not empty) and none of the tags in ``not_``.  At least one of
    ``all`` and ``any`` must be given.
    """

    all: tuple[str, ...]
    any: tuple[str, ...]
    not_: tuple[str, ...]

    def __init__(
        self,
        all: Iterable[str] = (),
        any: Iterable[str] = (),
        not_: Iterable[str] = (),
    ) -> None:
        all_t, any_t, not_t = check_tags(all), check_tags(any), check_tags(not_)
        if not all_t and not any_t:
            raise ValueError(
                f"a TagFilter needs at least one tag in all= or any=: "
                f"all={all_t!r}, any={any_t!r}, not_={not_t!r}"
            )
        object.__setattr__(self, "all", all_t)
        object.__setattr__(self, "any", any_t)
        object.__setattr__(self, "not_", not_t)

    @property
    def candidate_tags(self) -> tuple[str, ...]:
        """Every tag that can make an event match (``all`` then ``any``)."""
        return tuple(dict.fromkeys(self.all + self.any))

    def matches(self, tags: Iterable[str]) -> bool:
        """Whether an event carrying ``tags`` matches this filter."""
        present = set(tags)
        return (
            all(t in present for t in self.all)
            and (not self.any or any(t in present for t in self.any))
            and not any(t in present for t in self.not_)
        )

    def __repr__(self) -> str:
        parts = [f"{k}={v!r}" for k, v in (("all", self.all), ("any", self.any), ("not_", self.not_)) if v]
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


def check_tag_query(tag_filter: object, from_timestamp: object, limit: object) -> TagFilter:
    """Validate the arguments of ``Journal.read_by_tag``; returns the filter."""
    if not isinstance(tag_filter, TagFilter):
        raise TypeError(f"tag_filter must be a TagFilter, got {tag_filter!r}")
    check_non_negative_int("from_timestamp", from_timestamp)
    check_optional_limit(limit)
    return tag_filter


def split_tags(csv: str) -> tuple[str, ...]:
    """The events table's CSV tag mirror (``"a,b"``; ``""`` for none) as a tuple.

    Tags never contain commas (:func:`~actorpg_lab._validation.check_tags`), so the
    mirror splits back exactly.
    """
    return tuple(csv.split(",")) if csv else ()
