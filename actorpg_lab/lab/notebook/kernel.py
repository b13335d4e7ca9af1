"""The library's log lines inside a notebook: one line each, no traceback.

A notebook cell that provokes a failure on purpose (a recovery that fails, a write that
loses a race) already gets the exception it asked for; the actor system also logs it
(``actor ... failed to start``) with its traceback, and with no logging configured
Python prints that to stderr — a pink block in JupyterLab that reads like a crash.

:func:`~actorpg_lab.lab.connect` run in a Jupyter kernel therefore gives the
``actorpg_lab`` logger a handler (unless logging is configured already) that prints
warnings and errors as one line on the cell's output::

    actorpg_lab ⚠ actor nb02/account-07 failed to start (recovery): ... (JournalIntegrityError)

Configure logging yourself (``logging.basicConfig(...)``) for full records; the handler is
then not installed.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

__all__ = ["OneLineHandler", "in_notebook", "install_notebook_logging"]

_LOGGER = "actorpg_lab"


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (an IPython shell with a kernel)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = getattr(ipython, "get_ipython", lambda: None)()
    return shell is not None and getattr(shell, "kernel", None) is not None


class OneLineHandler(logging.Handler):
    """Prints each record as ``actorpg_lab ⚠ <message> (<ExceptionType>)`` — one line,
    no traceback — on ``stream`` (default: the current ``sys.stdout``, looked up at each
    record, so the line lands in the cell that caused it)."""

    def __init__(self, stream: IO[str] | None = None, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.stream = stream

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage().splitlines()[0] if record.getMessage() else ""
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text = str(exc).splitlines()[0] if str(exc) else ""
            if text and text not in message:
                message = f"{message}: {text}"
            message = f"{message} ({type(exc).__name__})"
        mark = "⚠" if record.levelno < logging.ERROR else "✖"
        return f"actorpg_lab {mark} {message}"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream: Any = self.stream if self.stream is not None else sys.stdout
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def install_notebook_logging(stream: IO[str] | None = None) -> OneLineHandler | None:
    """Give the ``actorpg_lab`` logger a :class:`OneLineHandler` unless it or the root
    logger has handlers already (logging configured by the user) — idempotent.  Returns
    the handler installed, or ``None``."""
    logger = logging.getLogger(_LOGGER)
    if any(isinstance(h, OneLineHandler) for h in logger.handlers):
        return None
    if logger.handlers or logging.getLogger().handlers:
        return None
    handler = OneLineHandler(stream)
    logger.addHandler(handler)
    return handler
