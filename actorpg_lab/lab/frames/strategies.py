"""How a load fetches its rows: one streamed query, or two halves at once, with a progress bar.

* :func:`load` — ONE streamed query (record batches are reduced as they arrive, so
  memory stays bounded by the frame itself), or, for a large unlimited load split by a
  key value, two halves at once: the upper half on the second connection in a worker
  thread, reduced by its own builder (ADBC decoding and Arrow compute release the GIL),
  the two joined in order.  No count query and no keyset pages: the bar and the fast
  path go together.
* :func:`at_once` — two halves' work at the same time: the upper one in a worker thread
  (its query on the helper connection), the lower one here.
* :func:`bar_total` — whether a load shows a progress bar and its total: an ESTIMATE
  from planner statistics (the table's for an unfiltered load, ``EXPLAIN`` for a
  filtered one), asked for only when the bar may be shown.
* :class:`Progress` — the ``tqdm.auto`` bar: advanced per record batch as batches
  arrive (from either half's thread, under a lock), rows/s and the newest row's time
  (with its age when it is recent, i.e. when the load follows a live stream); at the
  end its total is corrected to the real row count.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from .builder import FrameBuilder, close_stream
from .filter import MIN_BIGINT

__all__ = ["Progress", "Stream", "at_once", "bar_total", "load", "newest_row"]

_T = TypeVar("_T")

#: The bar shows how old the newest row is only when it is younger than this (a live or
#: catch-up read); for history it shows when the newest row was written.
RECENT_SECONDS = 3600.0

_log = logging.getLogger("actorpg_lab.lab.frames")

#: Starts one streamed query: -> its record batches.
Stream = Callable[[], Iterator[pa.RecordBatch]]


def bar_total(progress: bool | None, *, threshold: int, limit: int | None,
              bound: int | None, estimate: Callable[[], int]) -> int | None:
    """The progress bar's total for a load, or ``None``: no bar.

    ``progress=False`` never shows one, ``True`` always, ``None`` when the load is
    estimated above ``threshold`` rows.  ``bound`` is what is known for free (the
    table's planner statistics; ``None``: unknown): a load of a table no larger than
    the threshold, like one whose ``limit`` is no larger, shows no bar without asking
    anything.  Otherwise ``estimate()`` (the planner's row estimate of the load, maybe
    one ``EXPLAIN``) is called once; the total is capped at ``limit``."""
    if progress is False:
        return None
    if progress is None and ((limit is not None and limit <= threshold)
                             or (bound is not None and bound <= threshold)):
        return None
    rows = max(0, estimate())
    if limit is not None:
        rows = min(rows, limit)
    if progress is None and rows <= threshold:
        return None
    return rows


def load(builder: FrameBuilder, lower: Stream, upper: Stream | None = None, *,
         total: int | None, desc: str) -> None:
    """Fill ``builder`` from the stream ``lower`` — and, when ``upper`` is given, from
    ``upper`` on the helper connection in a worker thread at the same time, its rows
    appended after the lower ones — with a progress bar of ``total`` (estimated) rows
    unless ``total`` is ``None``."""
    started = time.perf_counter()
    bar = Progress(total, desc) if total is not None else None
    try:
        if upper is None:
            builder.add_all(_tracked(lower(), bar))
        else:
            second = builder.sibling()
            at_once(lambda: builder.add_all(_tracked(lower(), bar)),
                    lambda: second.add_all(_tracked(upper(), bar)))
            builder.extend(second)
    finally:
        if bar is not None:
            bar.close(builder.rows)
    elapsed = time.perf_counter() - started
    if bar is not None:
        _log.info("%s: %d rows (estimated %d) in %.2fs, %.0f rows/s", desc, builder.rows,
                  total, elapsed, builder.rows / elapsed if elapsed > 0 else float("inf"))


def at_once(lower: Callable[[], _T], upper: Callable[[], _T]) -> tuple[_T, _T]:
    """``(lower(), upper())`` run at the same time: ``upper`` in a worker thread (it must
    query on the helper connection), ``lower`` in this one; ``upper``'s error is raised
    once ``lower`` is done."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="actorpg-frames") as pool:
        job = pool.submit(upper)
        first = lower()
        return first, job.result()


def _tracked(batches: Iterator[pa.RecordBatch],
             bar: Progress | None) -> Iterator[pa.RecordBatch]:
    """``batches``, each reported to ``bar`` as it arrives (as is without a bar); closing
    this closes ``batches`` (so its connection lock is released at once)."""
    if bar is None:
        return batches
    return _reporting(batches, bar)


def _reporting(batches: Iterator[pa.RecordBatch], bar: Progress) -> Iterator[pa.RecordBatch]:
    try:
        for batch in batches:
            bar.advance(batch)
            yield batch
    finally:
        close_stream(batches)


class Progress:
    """A ``tqdm.auto`` progress bar of one load, safe to advance from several threads."""

    def __init__(self, total: int, desc: str) -> None:
        from tqdm.auto import tqdm

        self._lock = threading.Lock()
        self._newest = MIN_BIGINT
        self._bar: Any = tqdm(total=total, desc=desc, unit="rows", unit_scale=True,
                              leave=False)

    def advance(self, batch: pa.RecordBatch) -> None:
        """Count ``batch``'s rows and note its newest row (the bar redraws at most every
        ``mininterval``)."""
        rows = batch.num_rows
        if not rows:
            return
        newest = pc.max(batch.column("timestamp")).as_py()
        with self._lock:
            bar = self._bar
            if newest is not None and int(newest) > self._newest:
                self._newest = int(newest)
                bar.set_postfix_str(newest_row(self._newest), refresh=False)
            if bar.n + rows > bar.total:  # the estimate was low: at least this many
                _set_total(bar, bar.n + rows)
            bar.update(rows)

    def close(self, rows: int) -> None:
        """Correct the total to the ``rows`` actually loaded, draw it, close the bar."""
        with self._lock:
            _set_total(self._bar, rows)
            self._bar.refresh()
            self._bar.close()


def _set_total(bar: Any, total: int) -> None:
    bar.total = total
    container = getattr(bar, "container", None)  # tqdm.notebook: the widget's maximum
    if container is not None:
        container.children[1].max = total


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
