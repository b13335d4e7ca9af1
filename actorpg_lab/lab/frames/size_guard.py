"""The size guard of frame loads: refuse a load the planner estimates above the caps.

Before a load the table's planner statistics are checked (no extra query: they come
with the existence check); when the table is larger than the caps
(:data:`DEFAULT_MAX_LOAD_ROWS` rows or :data:`DEFAULT_MAX_LOAD_BYTES` bytes by default),
the planner estimates the load itself (``EXPLAIN``) and a load above a cap is refused
with a message saying how to narrow it — or pass ``allow_large=True``.
"""

from __future__ import annotations

from ..db.literals import SqlValues
from ..db.session import AdbcSession, TableStats

__all__ = ["DEFAULT_MAX_LOAD_BYTES", "DEFAULT_MAX_LOAD_ROWS", "check_cap", "guard",
           "rows_bound"]

#: A load the planner estimates above this many rows is refused (``allow_large=True``
#: loads it anyway); ``None`` turns the row cap off.
DEFAULT_MAX_LOAD_ROWS = 5_000_000
#: A load the planner estimates above this many bytes of column data is refused.
DEFAULT_MAX_LOAD_BYTES = 2 << 30


def guard(session: AdbcSession, stats: TableStats, statement: str, values: SqlValues,
          max_rows: int | None, max_bytes: int | None, what: str) -> int | None:
    """Refuse a load the planner estimates above the caps (see the module docstring);
    returns the planner's row estimate of the load when it asked for one."""
    if max_rows is None and max_bytes is None:
        return None
    small_rows = max_rows is None or rows_bound(stats) <= max_rows
    small_bytes = max_bytes is None or stats.bytes <= max_bytes
    if small_rows and small_bytes:
        return None  # the whole table fits: no need to ask the planner about this load
    rows, size = session.estimate(statement, values)
    if (max_rows is None or rows <= max_rows) and (max_bytes is None or size <= max_bytes):
        return rows
    raise ValueError(
        f"{what} would load about {rows:,} rows / {_human_bytes(size)} (planner estimate), "
        f"above the workbench's cap of {_cap(max_rows, 'rows')} / "
        f"{_cap(max_bytes, 'bytes')}: narrow it (persistence_ids=, from_seq=/to_seq=, "
        f"since=/until=, tags=), load the first rows with limit=N, or pass "
        f"allow_large=True to load it anyway (caps: lab.connect(max_load_rows=..., "
        f"max_load_bytes=...))"
    )


def rows_bound(stats: TableStats) -> int:
    """The table's planner row estimate or, never analysed, a bound from its size on
    disk (a row takes at least ~32 bytes there)."""
    return stats.rows if stats.rows is not None else stats.bytes // 32


def check_cap(name: str, value: int | None) -> int | None:
    """A cap argument: a positive int, or ``None`` for no cap."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    return value


def _cap(value: int | None, unit: str) -> str:
    if value is None:
        return f"no {unit} cap"
    return _human_bytes(value) if unit == "bytes" else f"{value:,} rows"


def _human_bytes(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} GiB"  # pragma: no cover - the loop always returns
