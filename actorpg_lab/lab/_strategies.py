"""How a load fetches its rows: one streamed query, keyset pages, or two halves at once.

* :func:`load` — without a progress bar (``progress=False``) ONE streamed query: no
  count, no pages (record batches are reduced as they arrive, so memory stays bounded
  by the frame itself).  Otherwise one query when the result fits in the progress
  threshold, else that first page, then a count (the bar's total) and keyset pages
  (:func:`load_paged`, a ``tqdm.auto`` bar with rows/s and the newest row's time — with
  its age when it is recent, i.e. when the load follows a live stream).
* :func:`load_halves` — a large unlimited load split by a key value: the upper half on
  the second connection in a worker thread, reduced by its own builder (ADBC decoding
  and Arrow compute release the GIL), the two joined in order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ._arguments import MIN_BIGINT
from ._builder import FrameBuilder, close_stream

__all__ = ["Page", "load", "load_halves", "load_paged", "newest_row"]

#: The bar shows how old the newest row is only when it is younger than this (a live or
#: catch-up read); for history it shows when the newest row was written.
RECENT_SECONDS = 3600.0

_log = logging.getLogger("actorpg_lab.lab.frames")

#: Fetches one keyset page: the keys of the last row loaded (``None`` for the first page)
#: and the page size (``None``: everything) -> its record batches.
Page = Callable[[dict[str, Any] | None, int | None], Iterator[pa.RecordBatch]]


def load(builder: FrameBuilder, page: Page, count: Callable[[], int], *, limit: int | None,
         progress: bool | None, threshold: int, page_size: int, desc: str) -> None:
    """Fill ``builder`` (see the module docstring)."""
    if progress is False:
        builder.add_all(page(None, limit))
        return
    # One row more than the threshold tells "small" (done) from "large" (keep paging)
    # without a count or an extra, empty query.
    first = threshold + 1
    if limit is not None:
        first = min(limit, first)
    got = builder.add_all(page(None, first))
    if got < first or (limit is not None and builder.rows >= limit):
        return
    total = count()
    if limit is not None:
        total = min(total, limit)
    load_paged(builder, page, total, limit=limit, page_size=page_size, desc=desc)


def load_paged(builder: FrameBuilder, page: Page, total: int, *, limit: int | None,
               page_size: int, desc: str, show: bool = True) -> None:
    """Keyset pages after what ``builder`` holds, with a progress bar of ``total`` rows."""
    from tqdm.auto import tqdm

    pages = 0
    newest = MIN_BIGINT
    started = time.perf_counter()
    with tqdm(total=total, initial=builder.rows, desc=desc, unit="rows", unit_scale=True,
              disable=not show, leave=False) as bar:
        while limit is None or builder.rows < limit:
            size = page_size if limit is None else min(page_size, limit - builder.rows)
            got = 0
            batches = page(builder.last or None, size)
            try:
                for batch in batches:
                    builder.add(batch)
                    got += batch.num_rows
                    if batch.num_rows:
                        newest = max(newest, int(pc.max(batch.column("timestamp")).as_py()))
                    bar.update(batch.num_rows)
                    bar.set_postfix_str(newest_row(newest), refresh=False)
            finally:
                close_stream(batches)
            pages += 1
            if got < size:
                break
    elapsed = time.perf_counter() - started
    _log.info("%s: %d rows in %d pages, %.0f rows/s", desc, builder.rows, pages,
              builder.rows / elapsed if elapsed > 0 else float("inf"))


def load_halves(builder: FrameBuilder, lower: Callable[[], Iterator[pa.RecordBatch]],
                upper: Callable[[], Iterator[pa.RecordBatch]]) -> None:
    """Fetch the ``lower`` half here and the ``upper`` half (on the helper connection) in
    a worker thread at once, then append the upper rows after the lower ones."""
    from concurrent.futures import ThreadPoolExecutor

    second = builder.sibling()
    with ThreadPoolExecutor(1, thread_name_prefix="actorpg-frames") as pool:
        job = pool.submit(second.add_all, upper())
        builder.add_all(lower())
        job.result()
    builder.extend(second)


def newest_row(newest_ms: int, now: float | None = None) -> str:
    """The progress bar's note on the newest row loaded so far: ``newest 04:12:12.123
    (4.2s ago)`` for a recent row, ``newest 2023-11-14 22:13`` for history."""
    if newest_ms == MIN_BIGINT:
        return ""
    now = time.time() if now is None else now
    age = now - newest_ms / 1000.0
    at = time.gmtime(newest_ms / 1000.0)
    if 0 <= age < RECENT_SECONDS:
        return f"newest {time.strftime('%H:%M:%S', at)}.{newest_ms % 1000:03d} UTC " \
               f"({human_seconds(age)} ago)"
    return f"newest {time.strftime('%Y-%m-%d %H:%M', at)} UTC"


def human_seconds(seconds: float) -> str:
    """``seconds`` in a short human unit (``4.2s``, ``3.5min``, ``2.0h``, ``1.5d``)."""
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
