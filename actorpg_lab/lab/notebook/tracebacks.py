"""Short tracebacks: the frames of the user's code and the library's fold, not the plumbing.

A failed ``on_event`` surfaces through asyncio, a worker thread and the workbench's
event-loop thread; a notebook reader needs only the frames that say *what* failed.
Frames are left out by the identity of the module that runs them (its ``__name__``),
never by matching file names: the standard library's modules (``asyncio``,
``concurrent.futures``, ...) and the modules that registered themselves as plumbing
with :func:`hide_from_tracebacks` (the workbench's ``run`` and its loop thread).
"""

from __future__ import annotations

import sys
import traceback
from types import FrameType

__all__ = ["hide_from_tracebacks", "short_traceback"]

#: Names of the modules whose frames :func:`short_traceback` leaves out.
_PLUMBING: set[str] = set()


def hide_from_tracebacks(module: str) -> None:
    """Leave the frames of ``module`` (a module's ``__name__``) out of short tracebacks."""
    _PLUMBING.add(module)


def is_plumbing(frame: FrameType) -> bool:
    """Whether ``frame`` runs in the standard library or in a registered plumbing module."""
    module = str(frame.f_globals.get("__name__", ""))
    return module in _PLUMBING or module.partition(".")[0] in sys.stdlib_module_names


def short_traceback(exc: BaseException, limit: int = 4) -> str:
    """The last ``limit`` frames of ``exc``'s traceback and its message, as text —
    without the plumbing that only says the fold ran in a task (see the module
    docstring); all frames when every one is plumbing."""
    walked = list(traceback.walk_tb(exc.__traceback__))
    kept = [(frame, line) for frame, line in walked if not is_plumbing(frame)] or walked
    frames = traceback.StackSummary.extract(iter(kept[-limit:]))
    lines = ["Traceback (most recent call last):\n",
             *frames.format(),
             *traceback.format_exception_only(type(exc), exc)]
    return "".join(lines).rstrip()
