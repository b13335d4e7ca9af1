"""Connection-string helpers: redaction that never leaks a secret, and connect timeouts.

Redaction parses the string with libpq's own parser (psycopg's ``conninfo_to_dict``),
so every spelling libpq accepts is covered: URL user-info, ``?password=`` query
parameters, percent-encoded keys (``passw%6Frd=``), ``key=value`` strings with quotes
or backslash-escaped spaces, and every secret keyword (``password``, ``sslpassword``,
anything named ``*password*`` or ``*secret*``).  Text libpq cannot parse (e.g. a driver
error message quoting a URL) gets the same masking from patterns (:func:`redact_text`).

Every connection the library opens gets a ``connect_timeout``
(:data:`DEFAULT_CONNECT_TIMEOUT` seconds) unless the URL, the connection keyword
arguments or ``$PGCONNECT_TIMEOUT`` set one (``0`` waits forever, as in libpq).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "describe_target",
    "holds_secret",
    "is_secret_key",
    "redact_dsn",
    "redact_params",
    "redact_text",
    "with_connect_timeout",
]

#: Seconds to wait for a server to answer a new connection, unless configured otherwise.
DEFAULT_CONNECT_TIMEOUT = 10

_MASK = "***"
#: ``scheme://user:password@`` in free text.
_URL_USERINFO = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]*(?=@)", re.I)
#: ``key=value`` / ``?key=value&`` pairs in free text: a quoted value (possibly never
#: closed), or a run of non-blank characters where a backslash escapes the next one.
_PAIR = re.compile(r"(?P<key>[\w%]+)(?P<eq>\s*=\s*)"
                   r"(?P<value>'(?:[^'\\]|\\.)*(?:'|$)|(?:[^\s&'\\]|\\.)+)")


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
    if params is None:  # not a connection string (e.g. a driver's error message)
        return redact_text(dsn)
    if not any(is_secret_key(key) for key in params):
        return dsn
    from psycopg.conninfo import make_conninfo

    return make_conninfo("", **redact_params(params))


def holds_secret(dsn: str) -> bool:
    """Whether ``dsn`` spells out a password (or another secret) itself.  A string libpq
    cannot parse counts as holding one."""
    params = _parse(dsn)
    return params is None or any(is_secret_key(key) and value for key, value in params.items())


def redact_text(text: str) -> str:
    """Best-effort masking of secrets in free text (an error message quoting a URL or
    ``key=value`` string): URL passwords and the value of every secret key, whether
    quoted, backslash-escaped or percent-encoded."""
    from urllib.parse import unquote

    text = _URL_USERINFO.sub(lambda m: m.group("head") + _MASK, text)

    def pair(match: re.Match[str]) -> str:
        if is_secret_key(unquote(match.group("key"))):
            return f"{match.group('key')}{match.group('eq')}{_MASK}"
        return match.group(0)

    return _PAIR.sub(pair, text)


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
