"""How workbench frames look in a notebook, without changing the frames themselves.

Every frame the workbench returns is a plain :class:`pandas.DataFrame` with the dtypes
you compute with (``datetime64[ms, UTC]`` timestamps, lists of tags, raw JSON
payloads, floats for ratios).  :func:`show` wraps one for display only:

* timestamps at millisecond precision on one line (``2026-12-01 04:12:12.123``);
* durations in human units (``72 ms``, ``1.25 s``, ``3 min 12 s``, ``2 h 05 min``),
  not ``0 days 00:00:00.072000``;
* tags as ``account, deposit``; payloads and other JSON-like values as monospace
  JSON, long ones shortened with the full value in a tooltip;
* one marker (``—``) for every kind of missing value (``NaN``, ``<NA>``, ``NaT``,
  ``None``);
* ratios (columns named ``*_rate``, ``*_fraction``, ``*_ratio``, ``*_share``) as
  percentages, other numbers with thousands separators and no trailing zeros.

The HTML carries ``tex2jax_ignore``/``mathjax_ignore`` so JupyterLab never typesets a
payload's ``$type ... $value`` as maths (:func:`~actorpg_lab.lab.connect` also turns
pandas' ``display.html.use_mathjax`` off for frames displayed directly).
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MISSING", "Table", "fields_html", "format_duration", "format_number", "format_payload",
           "format_percent", "format_tags", "format_timestamp", "format_value", "formatters",
           "order_columns", "show"]

#: What every missing value (NaN, <NA>, NaT, None) shows as.
MISSING = "—"
#: Payload text longer than this is shortened (the full value is in the tooltip).
PAYLOAD_CHARS = 80
#: Column name endings whose float values are shown as percentages.
_PERCENT_SUFFIXES = ("_rate", "_fraction", "_ratio", "_share")
#: Columns that identify a row, shown first by :func:`order_columns` (in this order).
KEY_COLUMNS = ("store", "persistence_id", "sequence_nr", "revision", "every_n", "keep_n")

_IGNORE_MATHS = "tex2jax_ignore mathjax_ignore"
_CSS = (
    "<style>"
    ".actorpg-table table{border-collapse:collapse;font-size:12px}"
    ".actorpg-table th,.actorpg-table td{padding:2px 8px;text-align:right;"
    "white-space:nowrap;vertical-align:top}"
    ".actorpg-table td.actorpg-text,.actorpg-table th.actorpg-text{text-align:left}"
    ".actorpg-table td.actorpg-wrap{white-space:normal;min-width:24em;max-width:48em}"
    ".actorpg-table thead th{border-bottom:1px solid #999}"
    ".actorpg-table code{font-family:var(--jp-code-font-family,monospace);font-size:11px;"
    "background:none;white-space:pre}"
    ".actorpg-table .actorpg-missing{color:#999}"
    "</style>"
)


def is_missing(value: Any) -> bool:
    """Whether ``value`` is a missing scalar (``None``, ``NaN``, ``pd.NA``, ``NaT``)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, (np.datetime64, np.timedelta64)):
        return bool(np.isnat(value))
    return False


def format_timestamp(value: Any) -> str:
    """``2026-12-01 04:12:12.123`` (millisecond precision; the zone is UTC for the
    workbench's frames and is named only when it is not)."""
    if is_missing(value):
        return MISSING
    ts = pd.Timestamp(value)
    text = ts.strftime("%Y-%m-%d %H:%M:%S") + f".{ts.microsecond // 1000:03d}"
    if ts.tzinfo is not None and ts.utcoffset() != _dt.timedelta(0):
        text += ts.strftime(" %z")
    return text


def format_duration(value: Any) -> str:
    """A duration in the unit a reader expects: ``72 ms``, ``0.35 ms``, ``1.25 s``,
    ``3 min 12 s``, ``2 h 05 min``, ``3 d 4 h`` (negative ones with a leading ``-``)."""
    if is_missing(value):
        return MISSING
    seconds = pd.Timedelta(value).total_seconds()
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    if seconds < 1:
        text = f"{format_number(round(seconds * 1000, 3))} ms"
    elif seconds < 60:
        text = f"{format_number(round(seconds, 2))} s"
    elif seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        text = f"{minutes} min {rest} s" if rest else f"{minutes} min"
    elif seconds < 86400:
        hours, rest = divmod(round(seconds / 60), 60)
        text = f"{hours} h {rest:02d} min"
    else:
        days, rest = divmod(round(seconds / 3600), 24)
        text = f"{days} d {rest} h" if rest else f"{days} d"
    return sign + text


def format_value(value: Any) -> str:
    """One value of a mixed (object) column — e.g. what ``describe()`` makes of
    durations — by its own type: timestamps, durations, numbers, lists, text."""
    if is_missing(value):
        return MISSING
    if isinstance(value, (pd.Timedelta, _dt.timedelta, np.timedelta64)):
        return format_duration(value)
    if isinstance(value, (pd.Timestamp, _dt.datetime, np.datetime64)):
        return format_timestamp(value)
    if isinstance(value, (numbers.Number, np.bool_)):
        return format_number(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return format_tags(value)
    return str(value)


def format_tags(value: Any) -> str:
    """A list of tags as ``account, deposit`` (an empty list: ``""``)."""
    if is_missing(value):
        return MISSING
    if isinstance(value, str):
        return value
    return ", ".join(str(tag) for tag in value)


def format_number(value: Any) -> str:
    """Thousands separators, no trailing zeros: ``1,234``, ``33``, ``0.58``,
    ``1,234.5``."""
    if is_missing(value):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    number = float(value)
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    magnitude = abs(number)
    digits = 2 if magnitude >= 1 else 1 - math.floor(math.log10(magnitude))
    text = f"{number:,.{min(digits, 8)}f}".rstrip("0").rstrip(".")
    return text


def format_percent(value: Any) -> str:
    """A ratio as a percentage: ``0.578947`` → ``57.9 %``."""
    if is_missing(value):
        return MISSING
    return f"{float(value) * 100:,.1f} %"


def format_payload(value: Any, max_chars: int = PAYLOAD_CHARS) -> str:
    """HTML: ``value`` as monospace JSON (text is shown as stored), shortened to
    ``max_chars`` with the full value in the tooltip (``title``)."""
    if is_missing(value):
        return _missing_html()
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    one_line = getattr(value, "_display_text_", None)
    if callable(one_line):  # e.g. a StateDiff: one line per change, not the object as JSON
        value = str(one_line())
    if not isinstance(value, str):
        import orjson

        try:
            value = orjson.dumps(value, default=str).decode()
        except TypeError:
            value = repr(value)
    if len(value) <= max_chars:
        return f"<code>{html.escape(value)}</code>"
    short = value[:max(1, max_chars - 1)] + "…"
    return f"<code title=\"{html.escape(value, quote=True)}\">{html.escape(short)}</code>"


def _missing_html() -> str:
    return f"<span class='actorpg-missing'>{MISSING}</span>"


def _is_percent_column(name: Any, series: pd.Series) -> bool:
    return (isinstance(name, str) and name.endswith(_PERCENT_SUFFIXES)
            and pd.api.types.is_float_dtype(series.dtype))


def _is_json_like(series: pd.Series) -> bool:
    """An object column whose values are dicts/lists (not a list-of-tags column)."""
    sample = series.dropna().head(20)
    return any(isinstance(v, Mapping) for v in sample)


def formatters(frame: pd.DataFrame) -> dict[Any, Callable[[Any], str]]:
    """Per column of ``frame``, the function turning a value into display HTML (chosen
    by dtype and name; see the module docstring)."""
    result: dict[Any, Callable[[Any], str]] = {}
    for name in frame.columns:
        series = frame[name]
        if isinstance(series, pd.DataFrame):  # a duplicated column name
            continue
        dtype = series.dtype
        if pd.api.types.is_datetime64_any_dtype(dtype):
            result[name] = _text(format_timestamp)
        elif pd.api.types.is_timedelta64_dtype(dtype):
            result[name] = _text(format_duration)
        elif isinstance(name, str) and (name in ("payload", "event", "state", "state_after",
                                                 "diff") or name.endswith("_json")):
            result[name] = format_payload
        elif name == "tags" or (isinstance(name, str) and name.endswith("_seqs")):
            result[name] = _text(format_tags)
        elif pd.api.types.is_bool_dtype(dtype):
            result[name] = _text(lambda v: MISSING if is_missing(v) else str(bool(v)))
        elif _is_percent_column(name, series):
            result[name] = _text(format_percent)
        elif pd.api.types.is_numeric_dtype(dtype):
            result[name] = _text(format_number)
        elif pd.api.types.is_object_dtype(dtype) and _is_json_like(series):
            result[name] = format_payload
        else:
            result[name] = _text(format_value)
    return result


#: Text columns with values longer than this wrap (messages); shorter ones stay on one line.
WRAP_CHARS = 60


def _wraps(series: pd.Series | pd.DataFrame, render: Callable[[Any], str]) -> bool:
    """Whether a text column holds long prose (errors, messages, states shown as their
    repr) that should wrap rather than widen the table: values (not payloads, tags or
    timestamps) whose text runs over :data:`WRAP_CHARS`."""
    if isinstance(series, pd.DataFrame) or render is format_payload:
        return False
    if not (pd.api.types.is_object_dtype(series.dtype) or pd.api.types.is_string_dtype(
            series.dtype)) or series.name == "tags":
        return False
    texts = [format_value(v) for v in series.dropna().head(50).tolist()]
    return any(len(t) > WRAP_CHARS and " " in t for t in texts)


def _right_aligned(series: pd.Series | pd.DataFrame) -> bool:
    """Numbers and durations align right; text, tags, payloads and flags left."""
    if isinstance(series, pd.DataFrame):
        return False
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return False
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return True
    if pd.api.types.is_object_dtype(dtype):  # e.g. describe() of durations
        sample = series.dropna().head(20).tolist()
        return bool(sample) and all(
            isinstance(v, (numbers.Number, pd.Timedelta, _dt.timedelta, np.timedelta64))
            and not isinstance(v, (bool, np.bool_)) for v in sample)
    return False


def _text(fn: Callable[[Any], str]) -> Callable[[Any], str]:
    def render(value: Any) -> str:
        text = fn(value)
        return _missing_html() if text == MISSING else html.escape(text)
    return render


def order_columns(frame: pd.DataFrame, first: Iterable[str] = KEY_COLUMNS) -> pd.DataFrame:
    """``frame`` with its key columns (those of ``first`` it has) first, the others in
    their order (a new frame; the same dtypes)."""
    keys = [c for c in first if c in frame.columns]
    rest = [c for c in frame.columns if c not in keys]
    return frame[keys + rest]


def to_html(frame: pd.DataFrame, max_rows: int = 60) -> str:
    """``frame`` as a formatted HTML table (the first and last rows when it has more
    than ``max_rows``)."""
    fmt = formatters(frame)
    show_index = not (isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0
                      and frame.index.step == 1)
    n = len(frame)
    if n > max_rows:
        half = max(1, max_rows // 2)
        parts: list[pd.DataFrame | None] = [frame.iloc[:half], None, frame.iloc[n - half:]]
    else:
        parts = [frame]
    text_cols = {c for c in frame.columns if not _right_aligned(frame[c])}
    wrap_cols = {c for c in text_cols if c in fmt and _wraps(frame[c], fmt[c])}
    left = " class='actorpg-text'"  # headers align with their column: text left
    head = "".join(f"<th{left if c in text_cols else ''}>{html.escape(str(c))}</th>"
                   for c in frame.columns)
    index_left = left if not _right_aligned(frame.index.to_series()) else ""
    index_head = (f"<th{index_left}>{html.escape(str(frame.index.name or ''))}</th>"
                  if show_index else "")
    rows: list[str] = []
    for part in parts:
        if part is None:
            cols = len(frame.columns) + (1 if show_index else 0)
            rows.append(f"<tr><td colspan='{cols}' class='actorpg-text'>… "
                        f"{n - 2 * half:,} more rows …</td></tr>")
            continue
        columns = [part[c].tolist() if not isinstance(part[c], pd.DataFrame) else
                   [None] * len(part) for c in frame.columns]
        for i, label in enumerate(part.index):
            cells = []
            if show_index:
                cells.append(f"<th{index_left}>{html.escape(str(label))}</th>")
            for c, values in zip(frame.columns, columns, strict=True):
                render = fmt.get(c, _text(str))
                cls = (" class='actorpg-text actorpg-wrap'" if c in wrap_cols else
                       " class='actorpg-text'" if c in text_cols else "")
                cells.append(f"<td{cls}>{render(values[i])}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
    ncols = len(frame.columns)
    footer = (f"<div style='font-size:11px;color:#666'>{n:,} row{'' if n == 1 else 's'} × "
              f"{ncols} column{'' if ncols == 1 else 's'}</div>")
    return (f"<div class='actorpg-table {_IGNORE_MATHS}'>{_CSS}<table>"
            f"<thead><tr>{index_head}{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
            f"</table>{footer}</div>")


class Table:
    """A frame for display (:func:`show`): formatted HTML in a notebook, the plain
    frame's text elsewhere.  ``.frame`` is the frame itself, unchanged."""

    def __init__(self, frame: pd.DataFrame, max_rows: int = 60) -> None:
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"show() takes a pandas DataFrame, got {type(frame).__name__}")
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 2:
            raise ValueError(f"max_rows must be an int >= 2, got {max_rows!r}")
        self.frame = frame
        self.max_rows = max_rows

    def __repr__(self) -> str:
        return repr(self.frame)

    def _repr_html_(self) -> str:
        return to_html(self.frame, self.max_rows)


def show(frame: pd.DataFrame, max_rows: int = 60) -> Table:
    """Display ``frame`` formatted (see the module docstring); the frame is unchanged.

    >>> lab.show(wb.journal_frame().head())        # doctest: +SKIP
    """
    return Table(frame, max_rows)


def fields_html(title: str, css_class: str, fields: Iterable[tuple[str, Any]]) -> str:
    """A titled two-column table of ``(name, value)`` pairs (an object's ``_repr_html_``,
    e.g. the workbench's), every text escaped."""
    rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                   f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>"
                   for k, v in fields)
    return (f"<div class='{html.escape(css_class)}'><b>{html.escape(title)}</b>"
            f"<table>{rows}</table></div>")
