"""What the explorer's stream list shows: :class:`StreamFilter` (id prefix, event type, tag,
time window, order), parsed with the workbench's one filter declaration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Unpack

from ..._reprs import iso_utc
from ..._tag_filter import TagFilter
from ..._validation import MAX_BIGINT
from ..frames.filter import MIN_BIGINT, ExploreKeywords, parse_where

__all__ = ["Order", "StreamFilter"]

Order = Literal["recent", "id"]


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """What the stream list shows: streams whose id starts with ``prefix`` and that have
    an event of ``event_type`` carrying ``tag`` at a time in ``[since, until)`` (epoch
    ms); ``None`` = no condition.  ``order``: ``"recent"`` (latest matching event first)
    or ``"id"`` (ascending; with ``prefix`` as the only filter)."""

    prefix: str | None = None
    event_type: str | None = None
    tag: str | None = None
    since: int | None = None
    until: int | None = None
    order: Order = "recent"

    @classmethod
    def parse(cls, *, prefix: str | None = None, event_type: str | None = None,
              order: str = "recent", **where: Unpack[ExploreKeywords]) -> StreamFilter:
        """Validated.  The time window and the tag are the workbench's filter keywords
        (:class:`~actorpg_lab.lab.frames.filter.ExploreKeywords`: ``since``/``until`` as
        epoch ms, datetimes or ISO strings; ``tags``, one tag), checked like every other
        method's; an empty ``prefix`` or ``event_type`` means "no condition" (what a
        cleared text box gives)."""
        def text(name: str, value: str | None) -> str | None:
            if value is None:
                return None
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a str or None, got {value!r}")
            return value.strip() or None

        if order not in ("recent", "id"):
            raise ValueError(f"order must be 'recent' or 'id', got {order!r}")
        parsed = parse_where("explore", ExploreKeywords, where)
        flt = cls(text("prefix", prefix), text("event_type", event_type), _one_tag(parsed.tags),
                  None if parsed.since_ms == MIN_BIGINT else parsed.since_ms,
                  None if parsed.until_ms == MAX_BIGINT else parsed.until_ms,
                  "id" if order == "id" else "recent")
        if flt.order == "id" and (flt.event_type or flt.tag or flt.since is not None
                                  or flt.until is not None):
            raise ValueError("order='id' lists streams by id prefix only; with an event "
                             "type, tag or time window the list is ordered by recency")
        return flt

    def describe(self) -> str:
        """The filter in words (``"all streams"`` when there is none)."""
        parts = []
        if self.prefix:
            parts.append(f"id starts with {self.prefix!r}")
        if self.event_type:
            parts.append(f"type {self.event_type}")
        if self.tag:
            parts.append(f"tag {self.tag!r}")
        if self.since is not None:
            parts.append(f"since {iso_utc(self.since)}")
        if self.until is not None:
            parts.append(f"until {iso_utc(self.until)}")
        return ", ".join(parts) or "all streams"


def _one_tag(tags: TagFilter | None) -> str | None:
    """The one tag whose index the list walks (``tags="vip"``); a filter of several tags
    (any/not) is refused with its reason rather than half applied."""
    if tags is None:
        return None
    if len(tags.all) == 1 and not tags.any and not tags.not_ and not tags.any_given:
        return tags.all[0]
    raise ValueError(f"the explorer lists the streams of one tag (it walks that tag's "
                     f"index): tags must be one tag, got {tags!r}")
