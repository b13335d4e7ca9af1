"""Persistence queries: events by tag (finite and live, with exact offsets), by persistence id.

>>> query = PersistenceQuery(journal)                       # doctest: +SKIP
>>> for tagged in await query.current_events_by_tag("bank"):  # doctest: +SKIP
...     handle(tagged.event); offset = tagged.offset
>>> async for tagged in query.events_by_tag("bank", offset):  # live, resumes exactly
...     ...
"""

from .._tag_filter import TagFilter
from ._offset import DEFAULT_WINDOW_MS, TagOffset
from ._persistence_query import PersistenceQuery, TaggedEvent

__all__ = ["DEFAULT_WINDOW_MS", "PersistenceQuery", "TagFilter", "TagOffset", "TaggedEvent"]
