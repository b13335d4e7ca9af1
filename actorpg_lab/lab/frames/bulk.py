"""``wb.bulk``: journals bigger than one DataFrame -- streamed iteration, a Parquet
dataset, a Dask DataFrame.  The workbench keeps the verbs under their old names too
(``wb.export_parquet()`` is ``wb.bulk.export_parquet()``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

import pandas as pd

from .filter import EventKeywords, WindowKeywords, filter_signature, parse_where

if TYPE_CHECKING:
    from .._workbench import Workbench

__all__ = ["Bulk"]


class Bulk:
    """The bulk verbs of one :class:`~actorpg_lab.lab.Workbench` (``wb.bulk``)."""

    def __init__(self, wb: Workbench) -> None:
        self._wb = wb

    def __repr__(self) -> str:
        return f"<Bulk of {self._wb!r}>"

    @filter_signature(EventKeywords)
    def iter_journal(self, *, batch_rows: int = 100_000,
                     **where: Unpack[EventKeywords]) -> Iterator[pd.DataFrame]:
        """The journal as DataFrames of at most ``batch_rows`` events each, in
        (persistence_id, sequence_nr) order, at constant memory (one streamed query on a
        connection of its own; memory is bounded by one batch, not by the journal).
        Same columns, dtypes and filters as :meth:`~actorpg_lab.lab.Workbench.journal_frame`::

            for batch in wb.iter_journal(batch_rows=200_000, since="2026-01-01"):
                totals = totals.add(batch.groupby("persistence_id").size(), fill_value=0)
        """
        from .iteration import check_batch_rows, iter_journal

        rows = check_batch_rows(batch_rows)
        wb = self._wb
        return iter_journal(wb.url, wb.tables.events, parse_where("iter_journal", EventKeywords,
                                                                 where), rows,
                            connect_timeout=wb.frames.session.connect_timeout)

    @filter_signature(WindowKeywords)
    def export_parquet(self, path: str | os.PathLike[str], *, overwrite: bool = False,
                       buckets: int = 16, **where: Unpack[WindowKeywords]) -> list[Path]:
        """Write the journal (or the events of ``persistence_ids`` / ``[since, until)``)
        as a Hive-partitioned Parquet dataset under ``path`` and return the files
        written.  Readable as-is by pyarrow, pandas, DuckDB, Polars, Spark and Dask.

        * Partitioned by a hash of the persistence id (``pid_bucket=0..buckets-1``, see
          :func:`actorpg_lab.lab.pid_bucket`): a stream lives in one bucket, in sequence
          order; ids never become paths.
        * Same columns and dtypes as ``journal_frame()`` (plus ``pid_bucket``).
        * Streamed: each bucket is one index-ordered query written a row group at a time
          (memory bounded by a few 4 MiB row groups, not by the journal; two buckets at
          once over two connections; zstd-compressed).
        * ``path`` that already holds files: refused (``FileExistsError``) unless
          ``overwrite=True``, which replaces the whole dataset only once the new one is
          complete (a failed export leaves the old one in place).
        """
        from .parquet import export_parquet

        wb = self._wb
        return export_parquet(wb.url, wb.tables.events, path,
                              parse_where("export_parquet", WindowKeywords, where),
                              overwrite=overwrite, buckets=buckets,
                              connect_timeout=wb.frames.session.connect_timeout,
                              session=wb.frames.session)

    @filter_signature(WindowKeywords)
    def journal_dask(self, *, npartitions: int | None = None,
                     **where: Unpack[WindowKeywords]) -> Any:
        """The journal as a lazy ``dask.dataframe.DataFrame`` (needs the ``[scale]``
        extra).  Each partition is a persistence_id key range (balanced by event counts;
        ``npartitions=None``: about one per million events), loaded by the worker that
        computes it straight from PostgreSQL with the SELECT of ``journal_frame()``
        (same filters; ``meta`` and dtypes identical).  Works with the threaded,
        process and ``dask.distributed`` schedulers; the connection settings the
        workers receive show the password as ``***`` in every repr and log::

            ddf = wb.journal_dask(since="2026-01-01")
            ddf.groupby("persistence_id", observed=True).size().compute()
        """
        from .to_dask import journal_dask

        wb = self._wb
        return journal_dask(wb.url, wb.tables.events,
                            parse_where("journal_dask", WindowKeywords, where), npartitions,
                            connect_timeout=wb.frames.session.connect_timeout)
