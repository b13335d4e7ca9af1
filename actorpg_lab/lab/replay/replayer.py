"""Step through an actor's recovery, event by event, in a notebook.

A :class:`Replayer` runs :func:`actorpg_lab._replay.replay_state` — the same read path
the actor runtime recovers with — once, collecting every :class:`ReplayStep` through
``on_step``.  Moving around (:meth:`~Replayer.step`, :meth:`~Replayer.back`,
:meth:`~Replayer.seek`) then works on that recorded history without touching the
database again; :meth:`~Replayer.reload` replays afresh.

A broken stream does not raise: the problem is recorded in :attr:`Replayer.problems`
(a :class:`~.problems.ReplayProblem`, kinds in :mod:`.problems`; shown in red in the
widget) and the history covers what could be folded — up to just before a gap, an
undecodable event or a failing ``on_event``; from the initial state when the snapshot is
ahead of the journal.

A replayer of a broken stream opens at its first problem: :attr:`Replayer.position` is
the sequence number just before it and ``problems[0]`` names it.  One position past the
history, :attr:`Replayer.problem_position` is the failing event itself: stepping onto it
(or :meth:`Replayer.goto_problem`) shows the event, its payload, the exception and a
short traceback (:attr:`Replayer.error`, :attr:`Replayer.failed_event`) instead of
stopping short.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, Literal

import pandas as pd

from ..._codec import JsonCodec, default_codec
from ..._errors import JournalIntegrityError, SnapshotIntegrityError
from ..._protocols import Journal, SnapshotStore
from ..._replay import ReplayResult, ReplayStep, replay_state, select_snapshot
from ..._types import PersistentEvent, Snapshot
from ..._validation import check_non_negative_int, check_persistence_id
from ..notebook.tracebacks import short_traceback
from .diff import StateDiff, diff_states
from .display import ReplayDisplay
from .history_frame import history_frame
from .problems import ProblemKind, ReplayProblem, classify_replay_error
from .versions import StoredVersion, stored_version

__all__ = ["Replayer", "SnapshotChoice"]

_log = logging.getLogger("actorpg_lab.lab.replayer")

SnapshotChoice = Literal["latest", "none"] | int
Runner = Callable[[Coroutine[Any, Any, Any]], Any]


class Replayer(ReplayDisplay):
    """Recorded step-by-step replay of one stream; see the module docstring.

    ``position`` is the sequence number the current :attr:`state` reflects: it starts
    at the snapshot the replay started from (0 without one) and moves between
    :attr:`start_seq` and :attr:`end_seq`.
    """

    def __init__(
        self,
        run: Runner,
        journal: Journal,
        snapshot_store: SnapshotStore | None,
        persistence_id: str,
        on_event: Callable[[Any, Any], Any],
        initial_state: Any,
        *,
        snapshot: SnapshotChoice = "latest",
        to_seq: int | None = None,
        stored_heads: Callable[[str], dict[int, tuple[str, int | None]]] | None = None,
    ) -> None:
        self.persistence_id = check_persistence_id(persistence_id)
        #: Loads ``{sequence_nr: (stored type name, stored version)}`` of the stream
        #: (:meth:`stored_version`); the workbench passes one reading the events table.
        self._stored_heads_loader = stored_heads
        self._stored_heads: dict[int, tuple[str, int | None]] | None = None
        if snapshot not in ("latest", "none"):
            if isinstance(snapshot, bool) or not isinstance(snapshot, int):
                raise (ValueError if isinstance(snapshot, str) else TypeError)(
                    f"snapshot must be 'latest', 'none' or a sequence number, got {snapshot!r}")
            check_non_negative_int("snapshot", snapshot)
        if to_seq is not None:
            check_non_negative_int("to_seq", to_seq)
        self.on_event = on_event
        self.initial_state = initial_state
        self.snapshot = snapshot
        self.to_seq = to_seq
        self._run = run
        self._journal = journal
        self._snapshot_store = snapshot_store
        #: The codec that names the events' types (the journal's).
        self.codec: JsonCodec = getattr(journal, "codec", default_codec)
        #: The replayed steps, one per event folded.
        self.steps: list[ReplayStep] = []
        #: What would make (or made) recovery fail; empty for a healthy stream.
        self.problems: list[ReplayProblem] = []
        #: True when the chosen snapshot was unusable and the journal was replayed from
        #: the initial state instead.
        self.fallback = False
        #: Where an actor's recovery would start: the newest snapshot (None: from scratch).
        self.recovery_snapshot_seq: int | None = None
        #: The journal head when the stream was (re)loaded.
        self.head = 0
        #: The sequence number the history starts after (the snapshot's, or 0).
        self.start_seq = 0
        #: The state the history starts from (the snapshot's, or the initial state).
        self.start_state: Any = initial_state
        #: The last sequence number of the history.
        self.end_seq = 0
        #: The sequence number :attr:`state` reflects.
        self.position = 0
        self._loaded = False
        self._views: list[Callable[[], None]] = []
        self._view: Any = None
        self._history: pd.DataFrame | None = None
        self._history_steps: list[ReplayStep] | None = None
        self.reload()

    # -- loading ----------------------------------------------------------------------
    def reload(self) -> Replayer:
        """Replay the stream again from the database (keeps the position when possible).

        Loads the latest snapshot and the journal head once and hands both to
        :func:`~actorpg_lab._replay.replay_state` (a retry up to a gap, or the fallback
        after an unusable snapshot, reuses them)."""
        old_position = self.position if self._loaded else None
        self._stored_heads = None
        self.steps = []
        self.problems = []
        self.fallback = False
        latest: Snapshot | None = None
        if self._snapshot_store is not None:
            latest = self._run(self._snapshot_store.load_latest(self.persistence_id))
        self.recovery_snapshot_seq = None if latest is None else latest.sequence_nr
        self.head = self._run(self._journal.highest_seq(self.persistence_id))
        start = self._start_snapshot(latest)
        if not self._replay(start, self.to_seq) and self.problems[-1].kind == "snapshot_ahead":
            self.fallback = True
            self._replay(None, self.to_seq)
        self.end_seq = self.steps[-1].event.sequence_nr if self.steps else self.start_seq
        self.position = self._opening_position()
        if old_position is not None:
            self.position = min(max(old_position, self.start_seq), self.last_position)
        self._loaded = True
        self._refresh()
        return self

    def _start_snapshot(self, latest: Snapshot | None) -> Snapshot | None:
        """The snapshot the replay starts from: ``latest`` itself when it is within the
        requested bound (the usual case, no second query), else the newest below it."""
        if self.snapshot == "none" or latest is None:
            return None
        bounds = [b for b in (self.to_seq, self.snapshot) if isinstance(b, int)]
        if not bounds or latest.sequence_nr <= min(bounds):
            return latest
        loaded: Snapshot | None = self._run(select_snapshot(
            self._snapshot_store, self.persistence_id, self.to_seq, self.snapshot))
        return loaded

    def _replay(self, snap: Snapshot | None, to_seq: int | None) -> bool:
        """Replay from ``snap`` (``None``: the initial state) up to ``to_seq``, recording
        the steps; False when a problem stopped it (recorded in :attr:`problems`)."""
        self.start_seq = snap.sequence_nr if snap is not None else 0
        self.start_state = snap.state if snap is not None else self.initial_state
        steps: list[ReplayStep] = []
        try:
            _result: ReplayResult = self._run(replay_state(
                self._journal, self._snapshot_store, self.persistence_id, self.initial_state,
                self.on_event, to_seq, snapshot=snap if snap is not None else "none",
                on_step=steps.append, head=self.head,
            ))
        except SnapshotIntegrityError as exc:
            self.problems.append(ReplayProblem("snapshot_ahead", str(exc),
                                               getattr(exc, "sequence_nr", None), exc,
                                               traceback=short_traceback(exc)))
            self.steps = []
            return False
        except JournalIntegrityError as exc:
            seq = getattr(exc, "sequence_nr", None)
            kind: ProblemKind = "undecodable" if classify_replay_error(exc) == "undecodable" \
                else "gap"
            self.problems.append(ReplayProblem(kind, str(exc), seq, exc,
                                               traceback=short_traceback(exc)))
            folded = steps[-1].event.sequence_nr if steps else self.start_seq
            if isinstance(seq, int) and seq - 1 > folded:
                # replay_state checks a whole page before folding it: replay once more up
                # to just before the gap so the history shows every foldable event.
                problems, self.problems = self.problems, []
                self._replay(snap, seq - 1)
                self.problems = problems + self.problems
                return False
            self.steps = steps
            return False
        except Exception as exc:
            seq = (steps[-1].event.sequence_nr if steps else self.start_seq) + 1
            self.problems.append(ReplayProblem(
                "on_event_failed", f"{type(exc).__name__}: {exc}", seq, exc,
                event=self._read_event(seq), traceback=short_traceback(exc)))
            self.steps = steps
            return False
        self.steps = steps
        return True

    def _read_event(self, seq: int) -> PersistentEvent | None:
        """The stored event ``seq`` (to show the one ``on_event`` failed on), or ``None``."""
        try:
            events: list[PersistentEvent] = self._run(
                self._journal.read(self.persistence_id, seq, seq))
        except Exception:  # shown without it; the problem itself is already recorded
            _log.debug("could not read event %d of %r", seq, self.persistence_id, exc_info=True)
            return None
        return events[0] if events else None

    # -- the problem ------------------------------------------------------------------
    @property
    def problem(self) -> ReplayProblem | None:
        """The first problem (``problems[0]``), or ``None`` for a healthy stream."""
        return self.problems[0] if self.problems else None

    @property
    def problem_position(self) -> int | None:
        """Where the first problem shows: the failing event (one past :attr:`end_seq`) for
        ``on_event_failed``, ``undecodable`` and ``gap``; the end of the journal for a
        ``snapshot_ahead``; ``None`` without a problem."""
        problem = self.problem
        if problem is None:
            return None
        if problem.kind != "snapshot_ahead" and problem.sequence_nr == self.end_seq + 1:
            return self.end_seq + 1
        return self.end_seq

    @property
    def last_position(self) -> int:
        """The furthest position: :attr:`end_seq`, or the failing event just after it."""
        where = self.problem_position
        return max(self.end_seq, where if where is not None else self.end_seq)

    @property
    def at_problem(self) -> bool:
        """True when :attr:`position` is the :attr:`problem_position`."""
        return self.problem_position is not None and self.position == self.problem_position

    @property
    def error(self) -> ReplayProblem | None:
        """The problem shown at the current position (``None`` elsewhere)."""
        return self.problem if self.at_problem else None

    @property
    def failed_event(self) -> PersistentEvent | None:
        """The event the first problem is about, when it could be read back
        (``on_event_failed``); the stored text of an undecodable one is in the message."""
        problem = self.problem
        return problem.event if problem is not None else None

    def goto_problem(self) -> Any:
        """Move onto the first problem (:attr:`problem_position`); returns the state there
        (the state the failing event was applied to)."""
        where = self.problem_position
        if where is None:
            raise ValueError(f"{self.persistence_id!r} replayed without a problem")
        return self.seek(where)

    def _opening_position(self) -> int:
        """Just before the first problem, or the start of the history."""
        problem = self.problem
        if problem is None or problem.sequence_nr is None:
            return self.start_seq
        return min(max(problem.sequence_nr - 1, self.start_seq), self.end_seq)

    # -- navigation -------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        """True when the stream replayed without any problem."""
        return not self.problems

    def _index(self) -> int:
        """How many recorded steps are applied at the current position (on the failing
        event: all of them)."""
        return min(self.position, self.end_seq) - self.start_seq

    @property
    def state(self) -> Any:
        """The state at :attr:`position`."""
        i = self._index()
        return self.start_state if i == 0 else self.steps[i - 1].state_after

    @property
    def event(self) -> PersistentEvent | None:
        """The event applied last (the one at :attr:`position`), ``None`` at the start;
        on the failing event, that event (``None`` when it could not be read)."""
        if self.position > self.end_seq:
            return self.failed_event
        i = self._index()
        return None if i == 0 else self.steps[i - 1].event

    def stored_version(self, event: PersistentEvent | None = None) -> StoredVersion | None:
        """How ``event`` (default: the current :attr:`event`) was stored and read: the
        type name and version in its row, the version the current code registers and
        the upcasters run in between (``None`` for a plain JSON event, or when the
        replayer has no access to the stored rows)."""
        event = event if event is not None else self.event
        if event is None or self._stored_heads_loader is None:
            return None
        if self._stored_heads is None:
            self._stored_heads = self._stored_heads_loader(self.persistence_id)
        head = self._stored_heads.get(event.sequence_nr)
        return None if head is None else stored_version(self.codec, *head)

    @property
    def diff(self) -> StateDiff:
        """What the event at :attr:`position` changed (nothing on the failing event)."""
        i = self._index()
        if i == 0 or self.position > self.end_seq:
            return StateDiff()
        step = self.steps[i - 1]
        return diff_states(step.state_before, step.state_after)

    def step(self, n: int = 1) -> ReplayStep | None:
        """Apply the next ``n`` events; returns the last step applied (``None`` at the
        start).  From the end of a broken stream's history it steps onto the failing
        event (:attr:`at_problem`, :attr:`error`)."""
        if n < 0:
            raise ValueError(f"n must not be negative: {n!r} (use back())")
        self._move(min(self.last_position, self.position + n))
        return self.steps[self._index() - 1] if self._index() else None

    def back(self, n: int = 1) -> int:
        """Undo the last ``n`` steps; returns the new position."""
        if n < 0:
            raise ValueError(f"n must not be negative: {n!r} (use step())")
        self._move(max(self.start_seq, self.position - n))
        return self.position

    def seek(self, seq: int) -> Any:
        """Move to sequence number ``seq`` (``start_seq..last_position``); returns the
        state there."""
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise TypeError(f"seq must be an int, got {type(seq).__name__}: {seq!r}")
        if not self.start_seq <= seq <= self.last_position:
            raise ValueError(
                f"seq {seq} is outside the replayed range {self.start_seq}..{self.last_position} "
                f"of {self.persistence_id!r}"
            )
        self._move(seq)
        return self.state

    def _move(self, seq: int) -> None:
        if seq != self.position:
            self.position = seq
            self._refresh()

    def _refresh(self) -> None:
        for view in list(self._views):
            view()

    # -- tables -----------------------------------------------------------------------
    @property
    def history(self) -> pd.DataFrame:
        """One row per replayed event, indexed by ``seq``: event type, event, timestamp,
        tags, state before and after, and the :class:`StateDiff` (``diff``).
        Built once per replay (a copy is returned, so changing it changes nothing here)."""
        if self._history is None or self._history_steps is not self.steps:
            self._history = history_frame(self.steps, self.codec)
            self._history_steps = self.steps
        return self._history.copy()

    # -- display ----------------------------------------------------------------------
    def start_description(self) -> str:
        """Where the history starts: ``snapshot @n`` or ``initial state``."""
        return (f"snapshot @{self.start_seq}" if self.start_seq and not self.fallback
                else "initial state")

    def recovery_description(self) -> str:
        """Where an actor's recovery would start."""
        return ("latest snapshot @" + str(self.recovery_snapshot_seq)
                if self.recovery_snapshot_seq is not None else "initial state")

    def overview(self) -> str:
        """What was replayed and where recovery would start (no stream name, no problems)."""
        n = len(self.steps)
        return (f"replayed {n} event{'' if n == 1 else 's'} from {self.start_description()} "
                f"(head {self.head}); recovery would start from {self.recovery_description()}")

    def summary(self) -> str:
        """One line: where the replay started, where recovery would start, problems."""
        text = f"{self.persistence_id}: {self.overview()}"
        if self.problems:
            text += "; PROBLEMS: " + "; ".join(str(p) for p in self.problems)
        return text

    def __repr__(self) -> str:
        return (f"<Replayer {self.persistence_id!r} position={self.position} "
                f"range={self.start_seq}..{self.end_seq} problems={len(self.problems)}>")

    def add_view(self, render: Callable[[], None]) -> None:
        """Call ``render`` after every move or reload (how a view follows the model)."""
        self._views.append(render)
