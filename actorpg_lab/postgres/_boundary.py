"""Boundary locks: the advisory-lock keys that make conditional appends (DCB) safe.

Every append (one event, a batch, a coalesced group of appends, an append inside a
caller's transaction) takes ``pg_advisory_xact_lock_shared(k)`` for the key of each tag
and of each event type it writes, in ONE global ascending order, inside the statement
that inserts the rows (so before the rows exist) and until its transaction ends.  A
conditional append (:meth:`PostgresJournal.append` with ``condition=``) takes the same
keys of its query EXCLUSIVELY before the statement that checks the condition takes its
snapshot.  Both cannot hold one key at once, so an event a condition could match is
either committed before the check (the check sees it) or written after the conditional
append committed (it cannot have been part of that decision).  Shared locks never wait
for each other: plain appends never wait on plain appends, and appends whose tags and
types are disjoint never wait on each other.

This module is the ONE place that knows how a key is computed:
``K(kind, value) = blake2b(f"{events_table}\\0{kind}\\0{value}", 8 bytes)`` as a signed
int64, ``kind`` ``"t"`` for a tag and ``"y"`` for an event type (the codec's registered
name, and each alias for a condition).  The events table is part of the key, so two
journals in one database never contend.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = ["MAX_SCALAR_KEYS", "append_keys", "boundary_key", "locks_enabled", "set_locks_enabled"]

#: Single-event statements take up to this many keys as scalar parameters (cheaper than
#: an array: measured in bench/); more keys go through the array statement.
MAX_SCALAR_KEYS = 4

_cache: dict[tuple[str, str, str], int] = {}
_CACHE_MAX = 100_000
_enabled = True


def boundary_key(events_table: str, kind: str, value: str) -> int:
    """The advisory-lock key of one tag (``kind="t"``) or event type (``kind="y"``)."""
    memo = (events_table, kind, value)
    key = _cache.get(memo)
    if key is None:
        digest = hashlib.blake2b(f"{events_table}\0{kind}\0{value}".encode(),
                                 digest_size=8).digest()
        key = int.from_bytes(digest, "big", signed=True)
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[memo] = key
    return key


def append_keys(events_table: str, tags: Iterable[str], types: Iterable[str | None]) -> list[int]:
    """The shared keys an append takes: its events' tags and types, distinct, ascending
    (the one global lock order).  Empty when :func:`locks_enabled` is off."""
    if not _enabled:
        return []
    # Distinct values first: a batch repeats its tags and types (one key each).
    keys = {boundary_key(events_table, "t", tag) for tag in set(tags)}
    keys.update(boundary_key(events_table, "y", t) for t in set(types) if t is not None)
    return sorted(keys)


def locks_enabled() -> bool:
    """Whether appends take boundary locks (always, except in a benchmark's A/B round)."""
    return _enabled


def set_locks_enabled(enabled: bool) -> None:
    """Switch the shared locks of plain appends off (``False``) or on, process-wide.

    ONLY for measuring what the locks cost (``bench/``): without them a conditional
    append can miss an event that commits while it decides.
    """
    global _enabled
    _enabled = bool(enabled)
