"""The workbench loaders' arguments: parsed and validated once, before any SQL runs.

:class:`EventFilter` is the one small frozen object the loaders pass around instead of
positional lists: which streams, which sequence range, which time window, which tags.
Every value is checked here — a bool where an int belongs, a negative or out-of-range
number (beyond PostgreSQL's ``bigint``), a time that is not finite or cannot be parsed —
and named in the error, so a bad argument never reaches the database.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias, TypedDict, TypeVar

import numpy as np
import orjson
import pandas as pd

from ..._tag_filter import TagFilter, as_tag_filter
from ..._validation import MAX_BIGINT, check_persistence_id

__all__ = ["MIN_BIGINT", "EventFilter", "EventKeywords", "ExploreKeywords", "RangeKeywords",
           "StreamKeywords", "TagKeywords", "TimeKeywords", "TimeLike", "WindowKeywords",
           "as_names", "check_ids", "check_limit", "filter_names", "filter_signature",
           "ids_json", "ids_value", "parse_where", "to_epoch_ms"]

#: Anything accepted as a time bound: epoch milliseconds, a datetime (naive = UTC),
#: a pandas Timestamp or an ISO-8601 string.
TimeLike: TypeAlias = int | float | str | _dt.datetime | pd.Timestamp

#: PostgreSQL's smallest bigint (an absent lower time bound).
MIN_BIGINT = -(2**63)


def _check_bigint(name: str, value: int) -> int:
    if not MIN_BIGINT <= value <= MAX_BIGINT:
        raise ValueError(f"{name} is out of range: {value!r} (PostgreSQL bigint holds "
                         f"{MIN_BIGINT}..{MAX_BIGINT})")
    return value


def to_epoch_ms(value: TimeLike | None, name: str) -> int | None:
    """``value`` as epoch milliseconds (``None`` stays ``None``); naive datetimes are UTC.

    A float must be finite; every result must fit PostgreSQL's ``bigint``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a time (epoch ms, datetime or ISO string), got {value!r}")
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite time, got {value!r}")
        return _check_bigint(name, int(value))
    if isinstance(value, (int, np.integer)):
        return _check_bigint(name, int(value))
    if isinstance(value, (str, _dt.datetime, pd.Timestamp)):
        try:
            stamp = pd.Timestamp(value)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ValueError(f"{name}: cannot parse {value!r} as a time ({exc})") from None
        if pd.isna(stamp):
            raise ValueError(f"{name}: {value!r} is not a time")
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize("UTC")
        return int((stamp - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1))
    raise TypeError(
        f"{name} must be epoch ms, a datetime, a pandas Timestamp or an ISO string, "
        f"got {type(value).__name__}: {value!r}"
    )


def _check_count(name: str, value: Any, *, what: str = "an int") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}: {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative: {value!r}")
    return _check_bigint(name, int(value))


def check_limit(limit: int | None) -> int | None:
    """``limit`` validated (``None``: no limit)."""
    if limit is None:
        return None
    return _check_count("limit", limit, what="an int or None")


def as_names(value: str | Iterable[str] | None, argument: str) -> tuple[str, ...] | None:
    """The ONE normaliser of a name-list argument (``persistence_ids``, ``stores``):
    ``None`` (no restriction) stays ``None``; one ``str`` is one name (never its
    characters); any other iterable of ``str`` becomes a tuple.  Anything else — a
    number, ``bytes``, an iterable holding a non-``str`` — is a :class:`TypeError`
    naming ``argument`` and the value."""
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (bytes, bytearray, memoryview)) or not isinstance(value, Iterable):
        raise TypeError(f"{argument} must be a str, an iterable of str or None, "
                        f"got {type(value).__name__}: {value!r}")
    names = tuple(value)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{argument} must hold str values only, got "
                            f"{type(name).__name__}: {name!r} in {value!r}")
    return names


def check_ids(persistence_ids: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """``persistence_ids`` normalised (:func:`as_names`) and each id validated."""
    ids = as_names(persistence_ids, "persistence_ids")
    for pid in ids or ():
        check_persistence_id(pid)
    return ids


def ids_json(persistence_ids: str | Iterable[str] | None) -> tuple[str | None, list[str] | None]:
    if persistence_ids is None:
        return None, None
    """``persistence_ids`` as a JSON array for ``$ids::jsonb`` and as a list (``None``: all)."""
    ids = list(check_ids(persistence_ids) or ())
    return orjson.dumps(ids).decode(), ids


def text_array(values: Iterable[str]) -> str:
    """``values`` as a PostgreSQL array literal (``{"a","b\\"c"}``) for ``$x::text[]``:
    every element double-quoted, ``"`` and ``\\`` backslash-escaped (the array input
    syntax); the whole text is then quoted as a string literal by :mod:`._literals`.
    A constant array is folded at plan time, so the planner can estimate the filter."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def ids_value(persistence_ids: str | Iterable[str] | None) -> str | None:
    """The SQL value of a persistence-id filter: a ``text[]`` literal, ``None`` for all."""
    ids = check_ids(persistence_ids)
    return None if ids is None else text_array(ids)


def _json_list(values: tuple[str, ...]) -> str | None:
    return orjson.dumps(list(values)).decode() if values else None


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which rows a load reads (all conditions combined with AND), validated.

    Absent bounds are the widest values (``0``, the largest ``bigint``, ...): the SQL
    folds them to ``TRUE`` at plan time, so an unfiltered load checks nothing per row.
    """

    persistence_ids: tuple[str, ...] | None = None
    from_seq: int = 0
    to_seq: int = MAX_BIGINT
    since_ms: int = MIN_BIGINT
    until_ms: int = MAX_BIGINT
    tags: TagFilter | None = None

    @classmethod
    def parse(cls, *, persistence_ids: str | Iterable[str] | None = None,
              from_seq: int | None = None, to_seq: int | None = None,
              since: TimeLike | None = None, until: TimeLike | None = None,
              tags: str | TagFilter | None = None) -> EventFilter:
        """The filter of a loader call's keyword arguments (``None``: no condition)."""
        since_ms = to_epoch_ms(since, "since")
        until_ms = to_epoch_ms(until, "until")
        return cls(
            persistence_ids=check_ids(persistence_ids),
            from_seq=0 if from_seq is None else _check_count("from_seq", from_seq),
            to_seq=MAX_BIGINT if to_seq is None else _check_count("to_seq", to_seq),
            since_ms=MIN_BIGINT if since_ms is None else since_ms,
            until_ms=MAX_BIGINT if until_ms is None else until_ms,
            tags=None if tags is None else as_tag_filter(tags),
        )

    def without_tags(self) -> EventFilter:
        """The same filter with no tag condition (a load driven by the tag index)."""
        return EventFilter(self.persistence_ids, self.from_seq, self.to_seq,
                           self.since_ms, self.until_ms, None)

    def sql_values(self) -> dict[str, int | str | None]:
        """The named values of ``sql/journal_where.sql`` (and the other selects'
        ``$ids``/``$from_seq``/``$to_seq``/``$since``/``$until``)."""
        tags = self.tags
        return {
            "ids": None if self.persistence_ids is None else text_array(self.persistence_ids),
            "from_seq": self.from_seq,
            "to_seq": self.to_seq,
            "since": self.since_ms,
            "until": self.until_ms,
            "tags_all": None if tags is None else _json_list(tags.all),
            "tags_any": None if tags is None else _json_list(tags.any),
            "tags_not": None if tags is None else _json_list(tags.not_),
        }


# -- the filter keywords: declared ONCE, used by every workbench method -----------------------
class StreamKeywords(TypedDict, total=False):
    """Which streams: one persistence id (a ``str`` is one id) or several; ``None``: all."""

    persistence_ids: str | Iterable[str] | None


class TimeKeywords(TypedDict, total=False):
    """A time window: ``since`` (inclusive) / ``until`` (exclusive), as epoch ms, a
    datetime (naive = UTC), a pandas Timestamp or an ISO string."""

    since: TimeLike | None
    until: TimeLike | None


class TagKeywords(TypedDict, total=False):
    """Tags: one tag or a :class:`~actorpg_lab.TagFilter`."""

    tags: str | TagFilter | None


class WindowKeywords(StreamKeywords, TimeKeywords, total=False):
    """Which streams (:class:`StreamKeywords`) and a time window (:class:`TimeKeywords`)."""


class RangeKeywords(WindowKeywords, total=False):
    """... and a sequence range: ``from_seq`` / ``to_seq``, both inclusive."""

    from_seq: int | None
    to_seq: int | None


class EventKeywords(RangeKeywords, TagKeywords, total=False):
    """... and tags (:class:`TagKeywords`)."""


class ExploreKeywords(TimeKeywords, TagKeywords, total=False):
    """The explorer's filters (``wb.explore``): a time window and a tag.  It chooses
    streams by id prefix (its own ``prefix``), not by ``persistence_ids``, and lists
    streams, not a sequence range."""


def filter_names(keywords: type) -> frozenset[str]:
    """The keyword names a ``*Keywords`` declaration takes."""
    names: frozenset[str] = getattr(keywords, "__optional_keys__", frozenset())
    return names


def parse_where(method: str, keywords: type, where: Mapping[str, Any]) -> EventFilter:
    """The :class:`EventFilter` of a workbench method's filter keywords (``**where``):
    a keyword ``keywords`` does not declare is a :class:`TypeError` naming it and the
    method, like Python's own error for an unexpected keyword argument."""
    allowed = filter_names(keywords)
    unknown = sorted(set(where) - allowed)
    if unknown:
        raise TypeError(f"{method}() got an unexpected keyword argument {unknown[0]!r} "
                        f"(its filters: {', '.join(sorted(allowed))})")
    return EventFilter.parse(**where)


F = TypeVar("F", bound=Callable[..., Any])


def filter_signature(keywords: type) -> Callable[[F], F]:
    """Show ``keywords``' names as keyword-only parameters in the decorated method's
    signature (``help()``, Jupyter's ``?``) in place of its ``**where``."""
    annotations: dict[str, Any] = {}
    for klass in reversed(keywords.__mro__):
        annotations.update(getattr(klass, "__annotations__", {}))

    def decorate(function: F) -> F:
        signature = inspect.signature(function)
        kept = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                   annotation=annotations.get(name, inspect.Parameter.empty))
                 for name in sorted(filter_names(keywords))]
        setattr(function, "__signature__", signature.replace(parameters=[*kept, *added]))  # noqa: B010
        return function

    return decorate
