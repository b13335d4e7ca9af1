"""The time window of the explorer's stream list, found on the position index.

There is no index on ``timestamp`` to use: positions grow with time, so a binary search
over the position index (about 20 probes) finds where the window starts and ends, with
:data:`WINDOW_SLACK_MS` of slack for transactions that were open a while; the walk then
filters its rows on their exact time.
"""

from __future__ import annotations

from .pages import Cursor
from .statements import ExploreSql
from .stream_filter import StreamFilter

__all__ = ["WINDOW_SLACK_MS", "first_position_at", "window_floor", "window_start"]

#: How far (ms) an event's time may lag its position's place in time: the binary search
#: of a time window widens the window by this much before the exact filter on time.
WINDOW_SLACK_MS = 60_000


def window_start(db: ExploreSql, flt: StreamFilter) -> Cursor:
    """Where the walk starts: the top, or just below the first position whose events
    are all later than ``until`` (plus the slack)."""
    if flt.until is None:
        return Cursor(None, None, None)
    ceiling = first_position_at(db, flt.until + WINDOW_SLACK_MS)
    return Cursor(None if ceiling is None else max(ceiling - 1, 0), None, None)


def window_floor(db: ExploreSql, flt: StreamFilter) -> int | None:
    """The lowest position the walk goes down to (``None``: the bottom)."""
    if flt.since is None:
        return None
    return first_position_at(db, flt.since - WINDOW_SLACK_MS) or 0


def first_position_at(db: ExploreSql, ms: int) -> int | None:
    """The smallest position whose first event is at or after ``ms`` (``None``: no
    event is), by a binary search over the position index (positions grow with
    time); at most ~64 probes, ~20 on a journal of a few million transactions."""
    at = db.statement("explore_position_at")
    span = db.statement("explore_position_range")

    async def search() -> int | None:
        async with db.pool.connection() as conn:
            low, high = await (await conn.execute(span)).fetchone()
            if low is None:
                return None
            lo, hi = int(low), int(high) + 1
            while lo < hi:
                mid = (lo + hi) // 2
                row = await (await conn.execute(at, {"pos": str(mid)})).fetchone()
                if row is None or row[1] >= ms:
                    hi = mid
                else:
                    lo = int(row[0]) + 1
            return None if lo > int(high) else lo

    result: int | None = db.call(search())
    return result
