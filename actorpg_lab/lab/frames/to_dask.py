"""``Workbench.journal_dask``: the journal as a ``dask.dataframe``, loaded by the workers.

Each partition is one ``persistence_id`` key range ``[from, to)`` (planned at O(streams)
cost by :mod:`._partitions`, balanced by event counts; the first range open below, the
last open above).  The task graph holds only a small, picklable :class:`PartitionSpec`
per partition — where to connect, which table, which range, which filters — and the
worker that computes a partition opens its own ADBC connection and runs the SELECT of
``journal_frame()`` for its range straight against PostgreSQL: no rows travel through
the client.  ``meta`` is ``journal_frame()`` of an empty journal, built by the same code,
so the dtypes are identical (``persistence_id`` categorical with categories known only
per partition, as dask models it).

**Connection settings and secrets.** The URL travels inside the pickled spec (a worker
needs it to connect — or give the workers their own credentials through a libpq
``passfile``/``PGPASSWORD`` and connect with a URL without a password), but never in
text: :class:`Conninfo`'s ``repr``/``str`` show it with the password as ``***``, so the
task's repr in dask's logs, dashboards and errors carries none; task keys are hashes.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..._dsn import DEFAULT_CONNECT_TIMEOUT, redact_dsn
from ..db.session import AdbcSession
from .filter import EventFilter
from .iteration import empty_journal_frame, journal_select, journal_values, to_journal_frame
from .partitions import key_ranges, stream_sizes

__all__ = ["Conninfo", "PartitionSpec", "journal_dask", "load_partition"]

#: Events per partition that ``npartitions=None`` aims at.
TARGET_PARTITION_EVENTS = 1_000_000


class Conninfo:
    """A connection string whose text form never shows the password (pickles whole)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise TypeError(f"a connection string must be a non-empty str, got {type(value)!r}")
        self._value = value

    def reveal(self) -> str:
        """The full connection string (for connecting only)."""
        return self._value

    def __repr__(self) -> str:
        return f"Conninfo({redact_dsn(self._value)!r})"

    def __str__(self) -> str:
        return str(redact_dsn(self._value))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Conninfo) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Conninfo, (self._value,))

    def __dask_tokenize__(self) -> str:
        return hashlib.sha256(self._value.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class PartitionSpec:
    """What one worker needs to load one partition (small and picklable)."""

    conninfo: Conninfo
    events_table: str
    where: EventFilter
    range_from: str | None
    range_to: str | None
    connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT


def load_partition(spec: PartitionSpec) -> pd.DataFrame:
    """Load one partition (runs on the worker): the events of ``spec``'s key range, as
    ``journal_frame()`` would show them."""
    session = AdbcSession(spec.conninfo.reveal(), connect_timeout=spec.connect_timeout)
    try:
        if not session.table_exists(spec.events_table):
            return empty_journal_frame()
        values = journal_values(spec.where, range_from=spec.range_from,
                                range_to=spec.range_to)
        select = journal_select(session, spec.events_table)
        return to_journal_frame(session.query_batches(select, values))
    finally:
        session.close()


def _check_npartitions(npartitions: Any) -> int | None:
    if npartitions is None:
        return None
    if isinstance(npartitions, bool) or not isinstance(npartitions, int):
        raise TypeError(f"npartitions must be an int or None, got "
                        f"{type(npartitions).__name__}: {npartitions!r}")
    if npartitions < 1:
        raise ValueError(f"npartitions must be at least 1, got {npartitions!r}")
    return npartitions


def plan(url: str, events_table: str, where: EventFilter, npartitions: int | None, *,
         connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT) -> list[PartitionSpec]:
    """The partitions of :func:`journal_dask` (at most one per stream, at least one)."""
    session = AdbcSession(url, connect_timeout=connect_timeout)
    try:
        streams = stream_sizes(session, events_table, where.persistence_ids)
    finally:
        session.close()
    if npartitions is None:
        total = sum(s.events for s in streams)
        npartitions = max(1, math.ceil(total / TARGET_PARTITION_EVENTS))
    conninfo = Conninfo(url)
    return [PartitionSpec(conninfo, events_table, where, low, high, connect_timeout)
            for low, high in key_ranges(streams, npartitions)]


def journal_dask(url: str, events_table: str, where: EventFilter, npartitions: Any = None, *,
                 connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT) -> Any:
    """The ``dask.dataframe.DataFrame`` of :meth:`Workbench.journal_dask`."""
    try:
        import dask.dataframe as dask_dataframe
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("journal_dask needs dask: pip install 'actorpg_lab[scale]'") from exc
    dd: Any = dask_dataframe
    parts = _check_npartitions(npartitions)
    specs = plan(url, events_table, where, parts, connect_timeout=connect_timeout)
    meta = dd.utils.clear_known_categories(empty_journal_frame())
    import dask

    # dask's "convert-string" would turn the payload's dtype into another string dtype
    # than journal_frame()'s; the partitions already hold Arrow-backed strings.
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_map(load_partition, specs, meta=meta, divisions=None, label="journal",
                           enforce_metadata=False)
