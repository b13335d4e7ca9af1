"""Connection-string helpers: redaction that never leaks a secret, and connect timeouts.

Redaction parses the string with libpq's own parser (psycopg's ``conninfo_to_dict``),
so every spelling libpq accepts is covered: URL user-info, ``?password=`` query
parameters, percent-encoded keys (``passw%6Frd=``), ``key=value`` strings with quotes
or backslash-escaped spaces, and every secret keyword (``password``, ``sslpassword``,
anything named ``*password*`` or ``*secret*``).  A string libpq cannot parse is not
shown at all.

Every connection the library opens gets a ``connect_timeout``
(:data:`DEFAULT_CONNECT_TIMEOUT` seconds) unless the URL, the connection keyword
arguments or ``$PGCONNECT_TIMEOUT`` set one (``0`` waits forever, as in libpq).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "describe_target",
    "is_secret_key",
    "redact_dsn",
    "redact_params",
    "with_connect_timeout",
]

#: Seconds to wait for a server to answer a new connection, unless configured otherwise.
DEFAULT_CONNECT_TIMEOUT = 10

_MASK = "***"
_UNPARSEABLE = "<connection string that libpq cannot parse; not shown, it may hold a password>"


def is_secret_key(key: str) -> bool:
    """Whether a libpq keyword (or connection keyword argument) holds a secret."""
    lowered = key.lower()
    return "password" in lowered or "secret" in lowered


def _parse(dsn: str) -> dict[str, Any] | None:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        return conninfo_to_dict(dsn)
    except psycopg.Error:
        return None


def redact_dsn(dsn: str | None) -> str | None:
    """``dsn`` with every secret replaced by ``***``.

    A string without secrets is returned unchanged; one with secrets comes back as a
    ``key=value`` string (libpq's spelling) with the secrets masked; one that libpq
    cannot parse is replaced by a placeholder."""
    if dsn is None:
        return None
    params = _parse(dsn)
    if params is None:
        return _UNPARSEABLE
    if not any(is_secret_key(key) for key in params):
        return dsn
    from psycopg.conninfo import make_conninfo

    return make_conninfo("", **redact_params(params))


def redact_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of connection keyword arguments with every secret value masked."""
    return {key: (_MASK if is_secret_key(str(key)) else value) for key, value in params.items()}


def describe_target(dsn: str | None, kwargs: Mapping[str, Any] | None = None) -> str:
    """Where ``dsn`` (plus ``kwargs``) connects, for error messages: host, port, database
    and user, never a secret (``$PGHOST`` & co. apply when a key is absent)."""
    params = {**(_parse(dsn or "") or {}), **(kwargs or {})}
    parts = []
    for key, env in (("host", "PGHOST"), ("hostaddr", None), ("port", "PGPORT"),
                     ("dbname", "PGDATABASE"), ("user", "PGUSER")):
        value = params.get(key) or (os.environ.get(env) if env else None)
        if value:
            parts.append(f"{key}={value}")
    return " ".join(parts) or "the default local server"


def with_connect_timeout(dsn: str | None, kwargs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``kwargs`` plus ``connect_timeout=DEFAULT_CONNECT_TIMEOUT`` when neither ``dsn``,
    ``kwargs`` nor ``$PGCONNECT_TIMEOUT`` set one (keyword arguments override the URL,
    so the default is only added when the URL is silent)."""
    result = dict(kwargs or {})
    if "connect_timeout" in result or os.environ.get("PGCONNECT_TIMEOUT"):
        return result
    params = _parse(dsn or "")
    if params is not None and "connect_timeout" not in params:
        result["connect_timeout"] = DEFAULT_CONNECT_TIMEOUT
    return result
