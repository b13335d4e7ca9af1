"""Splitting a journal into parts that are loaded independently (at O(streams) cost).

The streams come from ``sql/streams_probe.sql``: a loose index scan of the events
primary key (one index descent per stream) plus index probes of each stream's first and
last event, so planning a split costs O(streams), never O(events), and needs no planner
statistics (a freshly loaded table, or a Citus coordinator whose shell table has none,
splits as well as an analysed one).

* :func:`key_ranges` — contiguous ``persistence_id`` ranges ``[from, to)`` of about equal
  event counts: the partitions of :meth:`Workbench.journal_dask`.  The first range is
  open below and the last open above, so a stream created after the plan still falls in
  exactly one range.
* :func:`pid_bucket` — the stable hash bucket of one persistence id: the Hive partition
  of :meth:`Workbench.export_parquet`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from ..db.session import AdbcSession
from ..db.statements import render
from .filter import text_array

__all__ = ["StreamSize", "key_ranges", "pid_bucket", "stream_sizes"]


@dataclass(frozen=True, slots=True)
class StreamSize:
    """One stream and how many events it holds (``head - first_seq + 1``)."""

    persistence_id: str
    events: int


def pid_bucket(persistence_id: str, buckets: int) -> int:
    """The bucket (``0 .. buckets-1``) of ``persistence_id`` in an exported dataset:
    the first 8 bytes of its BLAKE2b-64 digest (UTF-8) as a big-endian unsigned int,
    modulo ``buckets``.  Stable across processes, machines and Python versions (unlike
    :func:`hash`), so a reader can compute which directory holds a stream::

        bucket = pid_bucket("account-7", 16)   # -> read <path>/pid_bucket=<bucket>/
    """
    if isinstance(buckets, bool) or not isinstance(buckets, int) or buckets < 1:
        raise ValueError(f"buckets must be a positive int, got {buckets!r}")
    digest = hashlib.blake2b(persistence_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % buckets


def key_ranges(streams: Sequence[StreamSize], parts: int
               ) -> list[tuple[str | None, str | None]]:
    """``parts`` (at most one per stream, at least one) contiguous ranges ``[from, to)``
    of ``persistence_id`` in the order PostgreSQL sorts them (``streams`` must come in
    that order), each holding about the same number of events.  ``None`` is an open
    bound: the first range starts at ``None``, the last ends at ``None``."""
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise ValueError(f"the number of partitions must be a positive int, got {parts!r}")
    parts = max(1, min(parts, len(streams)))
    if parts == 1:
        return [(None, None)]
    total = sum(max(s.events, 0) for s in streams)
    bounds: list[str] = []
    seen = 0
    for index, stream in enumerate(streams):
        if len(bounds) == parts - 1:
            break
        # Close a range before this stream once the events before it reach the next
        # share of the total (never two bounds on one stream: ranges are non-empty).
        target = total * (len(bounds) + 1) / parts
        remaining_streams = len(streams) - index
        remaining_bounds = parts - 1 - len(bounds)
        if index > 0 and (seen >= target or remaining_streams <= remaining_bounds):
            bounds.append(stream.persistence_id)
        seen += max(stream.events, 0)
    edges: list[str | None] = [None, *bounds, None]
    return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


def stream_sizes(session: AdbcSession, events_table: str,
                 persistence_ids: Sequence[str] | None) -> list[StreamSize]:
    """The streams of ``events_table`` that hold events (or those of ``persistence_ids``
    that do), with their sizes, in ``persistence_id`` order; O(streams) index probes
    (``sql/journal_streams.sql``).  A missing table has no streams."""
    if not session.table_exists(events_table):
        return []
    ids = None if persistence_ids is None else text_array(persistence_ids)
    table = session.query(render("journal_streams", events=events_table), {"ids": ids})
    return [StreamSize(pid, int(n)) for pid, n in zip(table.column("persistence_id").to_pylist(),
                                                      table.column("events").to_pylist(),
                                                      strict=True)]
