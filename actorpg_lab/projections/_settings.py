"""The runner's knobs: how its settings are checked, and the timings it does not expose."""

from __future__ import annotations

__all__ = ["HELD_FIRST", "HELD_MAX", "INFRA_BACKOFF", "LAG_CAP", "ON_ERROR", "RETRY_FIRST",
           "check_seconds", "check_size"]

#: What ``on_error`` may be.
ON_ERROR = ("stop", "retry", "skip")
#: Lag is counted up to this many events (``lag_capped`` beyond).
LAG_CAP = 10_000
#: Back-off after a storage failure (first, longest; seconds).
INFRA_BACKOFF = (0.05, 2.0)
#: First back-off of on_error="retry" (doubling up to ``retry_max_s``).
RETRY_FIRST = 0.1
#: How often a live query re-checks while events are held back (first, longest; seconds):
#: the end of a transaction that appended nothing sends no NOTIFY.
HELD_FIRST, HELD_MAX = 0.002, 0.1


def check_seconds(name: str, value: object, *, minimum: float = 0.0) -> float:
    """``value`` as a number of seconds above ``minimum`` (else TypeError/ValueError)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}: {value!r}")
    if not value > minimum:
        raise ValueError(f"{name} must be more than {minimum}: {value!r}")
    return float(value)


def check_size(name: str, value: object) -> int:
    """``value`` as a positive int (else TypeError/ValueError)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}: {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1: {value!r}")
    return value
