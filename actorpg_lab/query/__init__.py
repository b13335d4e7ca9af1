"""Persistence queries: events by tag (finite and live, with exact offsets), by persistence id.

>>> query = PersistenceQuery(journal)                       # doctest: +SKIP
>>> for tagged in await query.current_events_by_tag("bank"):  # doctest: +SKIP
...     handle(tagged.event); offset = tagged.offset
>>> async for tagged in query.events_by_tag("bank", offset):  # live, resumes exactly  # doctest: +SKIP
...     ...

The guarantee
-------------
Resuming a tag query from the offset of the last event processed delivers every
later matching event exactly once, in the same order every time — however long a
writer's transaction takes to commit.  No time window is assumed.

How: positions below the visibility horizon
-------------------------------------------
Every event carries a ``position``: on PostgreSQL the id of the transaction that
wrote it (``pg_current_xact_id()``, the column's default), in memory a counter per
append.  Queries order events by ``(position, persistence_id, sequence_nr)`` and read
only positions below the *visibility horizon*
``pg_snapshot_xmin(pg_current_snapshot())``: the oldest transaction id still running.
Every transaction below it has committed or rolled back, so no event can ever appear
below the horizon after a reader has passed it, and an offset (the last key
delivered) is exact.  Writers are not serialised (no table lock, no counter row) and
pay one 8-byte column plus an index entry per row.

The trade-off: a transaction that stays open holds the horizon back — any
transaction that has written (taken an id), in any table of the database, and also a
prepared (two-phase) transaction.  Events committed after it started are then
delivered only once it ends: live delivery waits, nothing is lost.  Watch it with
:meth:`PersistenceQuery.lag` (``held_back`` and ``lag_ms``) and keep transactions
short (``idle_in_transaction_session_timeout`` helps).

Alternatives considered
-----------------------
* A timestamp plus a backtracking window (the previous design): fast, but an event
  whose transaction commits later than the window after its timestamp is skipped
  for good.  Any window is a guess.
* A global sequence with gap detection (wait for a missing number, give up after a
  timeout): a rolled-back transaction leaves a gap that looks exactly like a slow
  commit, so it is a time window again.
* Serialising writers (a table lock, or one counter row updated in every append, as
  some event stores do): exact and gap-free, but every append waits for the previous
  commit: the 16-writer throughput would collapse to one writer's.
* Commit order from the WAL (logical decoding, ``track_commit_timestamp``): exact, but
  needs server configuration and replication privileges that an application role
  rarely has.

Offsets written by the previous (window-based) version are still read: see
:class:`TagOffset`.
"""

from .._tag_filter import TagFilter
from ._offset import DEFAULT_WINDOW_MS, LegacySkip, TagOffset
from ._persistence_query import ConsumerLag, PersistenceQuery, TaggedEvent

__all__ = [
    "DEFAULT_WINDOW_MS",
    "ConsumerLag",
    "LegacySkip",
    "PersistenceQuery",
    "TagFilter",
    "TagOffset",
    "TaggedEvent",
]
