"""The wall clock the in-memory stores stamp their records with."""

from __future__ import annotations

import time

__all__ = ["now_ms"]


def now_ms() -> int:
    """Current wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000
