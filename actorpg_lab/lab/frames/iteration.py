"""Streaming the journal at constant memory: :meth:`Workbench.iter_journal` and the
building blocks :mod:`._export` and :mod:`._dask` share.

Every piece reads with the SELECT ``journal_frame()`` runs (``sql/journal_select.sql``
with ``sql/journal_where.sql``: same columns, same filters, ``(persistence_id,
sequence_nr)`` order) over its OWN ADBC session, opened for the iteration and closed at
its end (so a half-consumed iterator never blocks the workbench's loads), and turns
each group of record batches into a DataFrame with :class:`.builder.FrameBuilder` —
the code that builds ``journal_frame()`` — so the columns and dtypes are identical by
construction.  Memory is bounded by one group (``batch_rows`` rows), not by the journal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pandas as pd
import pyarrow as pa

from ..._dsn import DEFAULT_CONNECT_TIMEOUT
from ..db.session import AdbcSession
from ..db.statements import fragment, metadata_ids, position_column, render
from .builder import FrameBuilder
from .filter import EventFilter

__all__ = ["DEFAULT_BATCH_ROWS", "check_batch_rows", "empty_journal_frame", "iter_journal",
           "journal_select", "journal_values", "rebatch", "to_journal_frame"]

#: Rows per DataFrame of :meth:`Workbench.iter_journal` unless told otherwise.
DEFAULT_BATCH_ROWS = 100_000

#: The range and limit values of journal_select.sql that a streamed read leaves open.
_OPEN: dict[str, Any] = {"range_from": None, "range_to": None, "row_limit": None}


def check_batch_rows(batch_rows: Any, name: str = "batch_rows") -> int:
    """``batch_rows`` validated: a positive int."""
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int):
        raise TypeError(f"{name} must be an int, got {type(batch_rows).__name__}: "
                        f"{batch_rows!r}")
    if batch_rows < 1:
        raise ValueError(f"{name} must be at least 1, got {batch_rows!r}")
    return batch_rows


def journal_select(session: AdbcSession, events_table: str) -> str:
    """The rendered SELECT of ``journal_frame()`` for ``events_table`` (its ``position``
    and ``metadata`` columns read, or ``0`` / ``NULL`` when the table has none: asked
    through ``session``)."""
    metadata = session.has_column(events_table, "metadata")
    return render("journal_select", events=events_table, where=fragment("journal_where"),
                  position=position_column("e", session.has_column(events_table, "position")),
                  metadata_ids=metadata_ids("e", metadata, as_list=False))


def journal_values(where: EventFilter, *, range_from: str | None = None,
                   range_to: str | None = None) -> dict[str, Any]:
    """The values of :func:`journal_select` for one streamed read of ``where``,
    optionally restricted to a ``persistence_id`` range ``[range_from, range_to)``."""
    return {**where.sql_values(), **_OPEN, "range_from": range_from, "range_to": range_to}


def rebatch(batches: Iterable[pa.RecordBatch], rows: int, max_bytes: int | None = None
            ) -> Iterator[list[pa.RecordBatch]]:
    """Regroup a stream of record batches into groups of at most ``rows`` rows (exactly
    ``rows`` unless ``max_bytes`` closes a group first, once it holds ``max_bytes`` or
    more of Arrow buffers; the last group may hold fewer); batches are sliced, never
    copied."""
    group: list[pa.RecordBatch] = []
    held = size = 0
    for batch in batches:
        start = 0
        while start < batch.num_rows:
            take = min(rows - held, batch.num_rows - start)
            part = batch.slice(start, take)
            group.append(part)
            held += take
            start += take
            if max_bytes is not None:
                size += part.nbytes
            if held == rows or (max_bytes is not None and size >= max_bytes):
                yield group
                group, held, size = [], 0, 0
    if held:
        yield group


def to_journal_frame(batches: Iterable[pa.RecordBatch]) -> pd.DataFrame:
    """Record batches of :func:`journal_select` as a ``journal_frame()``-shaped frame."""
    builder = FrameBuilder("sequence_nr", tags=True, expand=False, position=True, metadata=True)
    builder.add_all(batches)
    return builder.frame()


def empty_journal_frame() -> pd.DataFrame:
    """``journal_frame()`` of an empty journal: the columns and dtypes, no rows."""
    return to_journal_frame(())


def iter_journal(url: str, events_table: str, where: EventFilter, batch_rows: int, *,
                 connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT
                 ) -> Iterator[pd.DataFrame]:
    """DataFrames of at most ``batch_rows`` events each, in (persistence_id,
    sequence_nr) order, from ONE streamed query on a session of its own (see the module
    docstring).  Nothing runs until the first ``next()``; the session closes when the
    iterator is exhausted, closed or garbage-collected."""
    session = AdbcSession(url, connect_timeout=connect_timeout)
    stream: Iterator[pa.RecordBatch] | None = None
    try:
        if not session.table_exists(events_table):
            return
        stream = session.query_batches(journal_select(session, events_table),
                                       journal_values(where))
        for group in rebatch(stream, batch_rows):
            frame = to_journal_frame(group)
            del group  # the raw batches go before the caller gets the frame
            yield frame
            del frame  # and the generator keeps no frame alive while it builds the next
    finally:
        if stream is not None:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        session.close()
