"""SQL literal binding for the ADBC loader: ``$name`` (or ``$n``) -> a quoted literal.

Why not server-side bind parameters: ADBC's PostgreSQL driver streams a result with
``COPY (...) TO STDOUT (FORMAT binary)`` only for statements without parameters; with
parameters it grows one batch row by row, which measured ~2.6x the peak memory of the
table.  The values are quoted by :class:`psycopg.sql.Literal` (the escaping psycopg's
own ``ClientCursor`` uses), never formatted by hand, and are only ints, ``None`` and
str values the loader produced itself (validated arguments, JSON arrays).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SqlValues", "bind_literals"]

#: The values of one statement: by name (``$name``) or by position (``$1`` is the first).
SqlValues = Mapping[str, Any] | Sequence[Any]

_PLACEHOLDER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*|[0-9]+)\b")


def _literal(value: Any) -> str:
    if (value is not None and not isinstance(value, (int, str))) or isinstance(value, bool):
        raise TypeError(f"only int, str and None are bound here, got {value!r}")
    from psycopg import sql

    # Parenthesised so that a following ::cast applies to the whole (negative) value.
    return "(" + sql.Literal(value).as_string(None) + ")"


def bind_literals(statement: str, params: SqlValues) -> str:
    """``statement`` with each ``$name`` replaced by ``params[name]`` (a mapping) or each
    ``$n`` by ``params[n-1]`` (a sequence), quoted by psycopg.  A placeholder without a
    value is an error (never left for the server to misread); with positional values a
    ``$name`` is left alone, and without values the statement is returned unchanged."""
    if not params:
        return statement
    if isinstance(params, Mapping):
        named = params

        def by_name(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in named:
                raise ValueError(f"statement uses ${name} but no value named {name!r} given")
            return _literal(named[name])

        return _PLACEHOLDER.sub(by_name, statement)
    values = params

    def by_position(match: re.Match[str]) -> str:
        token = match.group(1)
        if not token.isdigit():
            return match.group(0)  # e.g. '"$type"' inside a string literal: not a value
        index = int(token) - 1
        if not 0 <= index < len(values):
            raise ValueError(f"statement uses ${index + 1} but only {len(values)} values given")
        return _literal(values[index])

    return _PLACEHOLDER.sub(by_position, statement)
