"""Readable ``repr`` and ``_repr_html_`` for the data and status types.

Times are shown as ISO-8601 in UTC (``2026-12-07T07:48:32.123Z``) instead of raw epoch
milliseconds; the field still holds the int (``ev.timestamp``), only its display
changes.  Used by :class:`~actorpg_lab.PersistentEvent`, :class:`~actorpg_lab.Snapshot`,
:class:`~actorpg_lab.DurableStateRecord` and the status objects (``ConsumerLag``, ...).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["field_repr", "fields_html", "iso_utc"]

#: Longest value text shown in an HTML row before it is cut (the repr is never cut).
_HTML_VALUE_CHARS = 2000


def iso_utc(value: int | float | datetime | None) -> str:
    """``value`` (epoch milliseconds, or an aware/naive-as-UTC datetime) as ISO-8601 UTC
    with millisecond precision and a ``Z``: ``iso_utc(0) == "1970-01-01T00:00:00.000Z"``.
    ``None`` is ``"None"``; an out-of-range number is shown as the number."""
    if value is None:
        return "None"
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    else:
        try:
            moment = datetime.fromtimestamp(value / 1000.0, UTC)
        except (OverflowError, OSError, ValueError):
            return repr(value)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def field_repr(name: str, value: Any, *, times: Iterable[str] = ()) -> str:
    """``name=value`` for a repr: a field named in ``times`` as ISO UTC (unquoted, so it
    does not read as a string field), any other with its ``repr``."""
    if name in set(times) and (isinstance(value, (int, float, datetime)) or value is None):
        return f"{name}={iso_utc(value)}"
    return f"{name}={value!r}"


def _pretty(value: Any) -> str:
    """A value for an HTML cell: JSON-like values pretty-printed, anything else its repr."""
    if isinstance(value, (dict, list)):
        try:
            return json.dumps(value, indent=2, ensure_ascii=False, default=repr)
        except (TypeError, ValueError):
            return repr(value)
    if isinstance(value, Mapping):
        return _pretty(dict(value))
    if isinstance(value, str):
        return value
    return repr(value)


def fields_html(title: str, rows: Iterable[tuple[str, Any]], *,
                times: Iterable[str] = ()) -> str:
    """A small two-column HTML table (field, value) headed by ``title``; fields named in
    ``times`` as ISO UTC, payload-like values (dicts, lists) pretty-printed in ``<pre>``."""
    timed = set(times)
    cells = []
    for name, value in rows:
        if name in timed and (isinstance(value, (int, float, datetime)) or value is None):
            text = iso_utc(value)
        else:
            text = _pretty(value)
        if len(text) > _HTML_VALUE_CHARS:
            text = text[:_HTML_VALUE_CHARS] + f"… ({len(text)} characters)"
        cells.append(
            f"<tr><th style='text-align:left;vertical-align:top'>{html.escape(name)}</th>"
            f"<td style='text-align:left'><pre style='margin:0;white-space:pre-wrap'>"
            f"{html.escape(text)}</pre></td></tr>")
    return (f"<div class='actorpg-record'><b>{html.escape(title)}</b>"
            f"<table>{''.join(cells)}</table></div>")
