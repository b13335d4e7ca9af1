"""The workbench's ONE place where driver errors become library errors.

The workbench talks to PostgreSQL over three stacks: psycopg (:func:`~actorpg_lab.lab.connect`'s
schema set-up, the stores' pool), ADBC (every frame) and the embedded server.  Whatever
fails in them reaches the caller as a :class:`~actorpg_lab.PersistenceError` subclass —
a :class:`~actorpg_lab.JournalError` for a storage failure — with the driver error as
``__cause__`` and the redacted target (host, port, database, user; never a secret) in
the message, like the stores promise for themselves
(:func:`actorpg_lab.postgres._database.translate`).
"""

from __future__ import annotations

from typing import Any

from ..._dsn import describe_target, redact_dsn
from ..._errors import JournalError, PersistenceError

__all__ = ["connection_failed", "is_driver_error", "statement_failed", "with_target"]


def _detail(exc: BaseException) -> str:
    text = str(exc).strip()
    return str(redact_dsn(text.splitlines()[0] if text else type(exc).__name__))


def is_driver_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from a database driver (psycopg, its pool, ADBC)."""
    module = type(exc).__module__.partition(".")[0]
    return module in {"psycopg", "psycopg_pool", "adbc_driver_manager", "adbc_driver_postgresql"}


def connection_failed(url: str, exc: BaseException, *, hint: str = "") -> JournalError:
    """The error for a connection to ``url`` that could not be opened (raise it ``from exc``)."""
    return JournalError(f"workbench: cannot connect to {describe_target(url)}"
                        f"{' (' + hint + ')' if hint else ''}: {_detail(exc)}")


def statement_failed(url: str, exc: BaseException) -> JournalError:
    """The error for a statement the server (or the connection to it) failed
    (raise it ``from exc``)."""
    return JournalError(f"workbench: a query on {describe_target(url)} failed "
                        f"({type(exc).__name__}): {_detail(exc)}")


def with_target(exc: PersistenceError, url: str) -> PersistenceError:
    """``exc`` (raised by a store) with ``url``'s redacted target in its message when it
    is a storage failure caused by the driver and does not name it yet; any other error
    (a concurrency or integrity error, bad input) is returned unchanged."""
    target = describe_target(url)
    cause: Any = exc.__cause__
    if type(exc) is not JournalError or cause is None or not is_driver_error(cause) \
            or target in str(exc):
        return exc
    wrapped = JournalError(f"{exc} (on {target})")
    wrapped.__cause__ = cause
    return wrapped
