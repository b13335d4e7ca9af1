"""Connection-string helpers that never leak a password."""

from __future__ import annotations

import re

__all__ = ["redact_dsn"]

_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?=@)", re.I)
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.I)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<pw>[^&\s]*)", re.I)


def redact_dsn(dsn: str | None) -> str | None:
    """``dsn`` with any password replaced by ``***`` (URL and key=value forms)."""
    if dsn is None:
        return None
    for pattern in (_URL_PASSWORD, _KV_PASSWORD, _QUERY_PASSWORD):
        dsn = pattern.sub(lambda m: m.group("head") + "***", dsn)
    return dsn
