"""What the replayer's view needs from a model: :class:`ReplayModel`.

The view (:mod:`.view`) renders anything with these members; the model
(:class:`~actorpg_lab.lab.Replayer`, :mod:`.replayer`) satisfies it.  So the view never
imports the model's module, and a new control (a button, a pane) is added by reading
this protocol first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..._codec import JsonCodec
from ..._types import PersistentEvent
from .diff import StateDiff
from .problems import ReplayProblem
from .versions import StoredVersion

__all__ = ["ReplayModel"]


class ReplayModel(Protocol):
    """The replay the view shows and drives (see :class:`~actorpg_lab.lab.Replayer`)."""

    persistence_id: str
    codec: JsonCodec
    #: Whether the replay fell back to the initial state (a snapshot ahead of the head).
    fallback: bool
    start_seq: int
    end_seq: int
    position: int
    problems: list[ReplayProblem]

    @property
    def last_position(self) -> int: ...
    @property
    def problem_position(self) -> int | None: ...
    @property
    def at_problem(self) -> bool: ...
    @property
    def error(self) -> ReplayProblem | None: ...
    @property
    def state(self) -> Any: ...
    @property
    def event(self) -> PersistentEvent | None: ...
    @property
    def diff(self) -> StateDiff: ...

    def stored_version(self, event: PersistentEvent | None = None) -> StoredVersion | None: ...
    def start_description(self) -> str: ...
    def overview(self) -> str: ...
    def step(self, n: int = 1) -> Any: ...
    def back(self, n: int = 1) -> int: ...
    def seek(self, seq: int) -> Any: ...
    def goto_problem(self) -> Any: ...
    def add_view(self, render: Callable[[], None]) -> None: ...
