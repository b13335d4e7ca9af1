"""Step through an actor's recovery, event by event, in a notebook.

A :class:`Replayer` runs :func:`actorpg_lab._replay.replay_state` — the same read path
the actor runtime recovers with — once, collecting every :class:`ReplayStep` through
``on_step``.  Moving around (:meth:`~Replayer.step`, :meth:`~Replayer.back`,
:meth:`~Replayer.seek`) then works on that recorded history without touching the
database again; :meth:`~Replayer.reload` replays afresh.

A broken stream does not raise: the problem is recorded in :attr:`Replayer.problems`
(shown in red in the widget) and the history covers what could be folded:

* ``snapshot_ahead`` — the snapshot is beyond the journal head
  (:class:`~actorpg_lab.SnapshotIntegrityError`); the replayer falls back to
  replaying the journal from the initial state so you can still look at it;
* ``gap`` — a missing/duplicate/out-of-order sequence number
  (:class:`~actorpg_lab.JournalIntegrityError`); the history stops before it;
* ``on_event_failed`` — the event handler raised; the history stops before it.
"""

from __future__ import annotations

import html
import logging
import pprint
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from .._errors import JournalIntegrityError, SnapshotIntegrityError
from .._protocols import Journal, SnapshotStore
from .._replay import ReplayResult, ReplayStep, replay_state, select_snapshot
from .._types import PersistentEvent
from .._validation import check_persistence_id
from ._diff import StateDiff, diff_states

__all__ = ["ReplayProblem", "Replayer", "resolve_behaviour"]

_log = logging.getLogger("actorpg_lab.lab.replayer")

ProblemKind = Literal["snapshot_ahead", "gap", "on_event_failed"]
SnapshotChoice = Literal["latest", "none"] | int
Runner = Callable[[Coroutine[Any, Any, Any]], Any]


@dataclass(frozen=True, slots=True)
class ReplayProblem:
    """Something that would make (or made) recovery fail, found while replaying."""

    kind: ProblemKind
    message: str
    sequence_nr: int | None
    error: BaseException

    def __str__(self) -> str:
        where = f" at sequence_nr {self.sequence_nr}" if self.sequence_nr is not None else ""
        return f"{self.kind}{where}: {self.message}"


def resolve_behaviour(
    behaviour: Any, persistence_id: str
) -> tuple[Callable[[Any, Any], Any], Any, str]:
    """``(on_event, initial_state, label)`` from an actor class/instance or a pair.

    * a class with ``initial_state()`` and ``on_event(state, event)`` (e.g. a
      ``PersistentActor`` subclass): instantiated with the persistence id when its
      constructor accepts it, otherwise used without running ``__init__``;
    * an instance of such a class;
    * a pair ``(on_event, initial_state)``; a callable ``initial_state`` is called.
    """
    if isinstance(behaviour, tuple):
        if len(behaviour) != 2 or not callable(behaviour[0]):
            raise TypeError(
                f"expected (on_event, initial_state) with a callable on_event, got {behaviour!r}"
            )
        on_event, initial = behaviour
        state = initial() if callable(initial) else initial
        label = getattr(on_event, "__qualname__", repr(on_event))
        return on_event, state, label
    actor: Any = behaviour
    if isinstance(behaviour, type):
        if not (hasattr(behaviour, "on_event") and hasattr(behaviour, "initial_state")):
            raise TypeError(
                f"{behaviour.__qualname__} has no on_event/initial_state: pass an actor class "
                f"or (on_event, initial_state)"
            )
        try:
            actor = behaviour(persistence_id)
        except TypeError:
            actor = object.__new__(behaviour)
            try:
                setattr(actor, "persistence_id", persistence_id)  # noqa: B010
            except AttributeError:  # pragma: no cover - read-only property
                pass
    if not (callable(getattr(actor, "on_event", None))
            and callable(getattr(actor, "initial_state", None))):
        raise TypeError(
            f"cannot replay with {behaviour!r}: pass an actor class or instance with "
            f"initial_state() and on_event(state, event), or a pair (on_event, initial_state)"
        )
    return actor.on_event, actor.initial_state(), type(actor).__qualname__


def _event_type(event: Any) -> str:
    if isinstance(event, dict):
        for key in ("$type", "type", "kind"):
            if isinstance(event.get(key), str):
                return str(event[key])
        return "dict"
    return type(event).__qualname__


class Replayer:
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
        label: str = "",
    ) -> None:
        self.persistence_id = check_persistence_id(persistence_id)
        self.on_event = on_event
        self.initial_state = initial_state
        self.snapshot = snapshot
        self.to_seq = to_seq
        self.label = label
        self._run = run
        self._journal = journal
        self._snapshot_store = snapshot_store
        self._widget: Any = None
        self._views: list[Callable[[], None]] = []
        self.steps: list[ReplayStep] = []
        self.problems: list[ReplayProblem] = []
        self._history: pd.DataFrame | None = None
        self._history_steps: list[ReplayStep] | None = None
        self.reload()

    # -- loading ----------------------------------------------------------------------
    def reload(self) -> Replayer:
        """Replay the stream again from the database (keeps the position when possible)."""
        old_position = getattr(self, "position", None)
        self.steps = []
        self.problems = []
        self.fallback = False
        latest = None
        if self._snapshot_store is not None:
            latest = self._run(self._snapshot_store.load_latest(self.persistence_id))
        #: Where an actor's recovery would start: the newest snapshot (None: from scratch).
        self.recovery_snapshot_seq: int | None = None if latest is None else latest.sequence_nr
        self.head: int = self._run(self._journal.highest_seq(self.persistence_id))
        result = self._replay(self.snapshot, self.to_seq)
        if result is None and self.problems and self.problems[-1].kind == "snapshot_ahead":
            self.fallback = True
            result = self._replay("none", self.to_seq)
        #: What replay_state returned (None when a problem stopped it).
        self.result: ReplayResult | None = result
        self.end_seq = self.steps[-1].event.sequence_nr if self.steps else self.start_seq
        self.position = self.start_seq
        if old_position is not None:
            self.position = min(max(old_position, self.start_seq), self.end_seq)
        self._refresh()
        return self

    def _replay(self, snapshot: SnapshotChoice, to_seq: int | None) -> ReplayResult | None:
        snap = self._run(select_snapshot(self._snapshot_store, self.persistence_id, to_seq,
                                         snapshot))
        #: The sequence number the history starts after (the snapshot's, or 0).
        self.start_seq: int = snap.sequence_nr if snap is not None else 0
        #: The state the history starts from (the snapshot's, or the initial state).
        self.start_state: Any = snap.state if snap is not None else self.initial_state
        steps: list[ReplayStep] = []
        try:
            result: ReplayResult = self._run(replay_state(
                self._journal, self._snapshot_store, self.persistence_id, self.initial_state,
                self.on_event, to_seq, snapshot=snapshot, on_step=steps.append,
            ))
        except SnapshotIntegrityError as exc:
            self.problems.append(ReplayProblem("snapshot_ahead", str(exc),
                                               getattr(exc, "sequence_nr", None), exc))
            self.steps = []
            return None
        except JournalIntegrityError as exc:
            seq = getattr(exc, "sequence_nr", None)
            self.problems.append(ReplayProblem("gap", str(exc), seq, exc))
            folded = steps[-1].event.sequence_nr if steps else self.start_seq
            if isinstance(seq, int) and seq - 1 > folded:
                # replay_state checks a whole page before folding it: replay once more up
                # to just before the gap so the history shows every foldable event.
                problems, self.problems = self.problems, []
                partial = self._replay(snapshot, seq - 1)
                self.problems = problems + self.problems
                return partial
            self.steps = steps
            return None
        except Exception as exc:
            seq = (steps[-1].event.sequence_nr if steps else self.start_seq) + 1
            self.problems.append(ReplayProblem(
                "on_event_failed", f"{type(exc).__name__}: {exc}", seq, exc))
            self.steps = steps
            return None
        self.steps = steps
        return result

    # -- navigation -------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        """True when the stream replayed without any problem."""
        return not self.problems

    def _index(self) -> int:
        """How many recorded steps are applied at the current position."""
        return self.position - self.start_seq

    @property
    def state(self) -> Any:
        """The state at :attr:`position`."""
        i = self._index()
        return self.start_state if i == 0 else self.steps[i - 1].state_after

    @property
    def event(self) -> PersistentEvent | None:
        """The event applied last (the one at :attr:`position`), ``None`` at the start."""
        i = self._index()
        return None if i == 0 else self.steps[i - 1].event

    @property
    def diff(self) -> StateDiff:
        """What the event at :attr:`position` changed."""
        i = self._index()
        if i == 0:
            return StateDiff()
        step = self.steps[i - 1]
        return diff_states(step.state_before, step.state_after)

    @property
    def at_end(self) -> bool:
        return self.position >= self.end_seq

    def step(self, n: int = 1) -> ReplayStep | None:
        """Apply the next ``n`` events; returns the last step applied (``None`` at the end)."""
        if n < 0:
            raise ValueError(f"n must not be negative: {n!r} (use back())")
        self._move(min(self.end_seq, self.position + n))
        return self.steps[self._index() - 1] if self._index() else None

    def back(self, n: int = 1) -> int:
        """Undo the last ``n`` steps; returns the new position."""
        if n < 0:
            raise ValueError(f"n must not be negative: {n!r} (use step())")
        self._move(max(self.start_seq, self.position - n))
        return self.position

    def seek(self, seq: int) -> Any:
        """Move to sequence number ``seq`` (``start_seq..end_seq``); returns the state there."""
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise TypeError(f"seq must be an int, got {type(seq).__name__}: {seq!r}")
        if not self.start_seq <= seq <= self.end_seq:
            raise ValueError(
                f"seq {seq} is outside the replayed range {self.start_seq}..{self.end_seq} "
                f"of {self.persistence_id!r}"
            )
        self._move(seq)
        return self.state

    def rewind(self) -> None:
        """Back to the start (the snapshot or the initial state)."""
        self._move(self.start_seq)

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
            self._history = self._build_history()
            self._history_steps = self.steps
        return self._history.copy()

    def _build_history(self) -> pd.DataFrame:
        rows = [
            {
                "seq": s.event.sequence_nr,
                "event_type": _event_type(s.event.event),
                "event": s.event.event,
                "timestamp": s.event.timestamp,
                "tags": list(s.event.tags),
                "state_before": s.state_before,
                "state_after": s.state_after,
                "diff": diff_states(s.state_before, s.state_after),
            }
            for s in self.steps
        ]
        columns = ["seq", "event_type", "event", "timestamp", "tags", "state_before",
                   "state_after", "diff"]
        frame = pd.DataFrame(rows, columns=columns)
        frame["seq"] = frame["seq"].astype("int64")
        frame["timestamp"] = pd.to_datetime(frame["timestamp"].astype("int64"), unit="ms",
                                            utc=True).astype("datetime64[ms, UTC]")
        return frame.set_index("seq")

    # -- display ----------------------------------------------------------------------
    def summary(self) -> str:
        """One line: where the replay started, where recovery would start, problems."""
        start = (f"snapshot @{self.start_seq}" if self.start_seq and not self.fallback
                 else "initial state")
        rec = ("latest snapshot @" + str(self.recovery_snapshot_seq)
               if self.recovery_snapshot_seq is not None else "initial state")
        text = (f"{self.persistence_id}: replayed {len(self.steps)} events from {start} "
                f"(head {self.head}); recovery would start from {rec}")
        if self.problems:
            text += "; PROBLEMS: " + "; ".join(str(p) for p in self.problems)
        return text

    def __repr__(self) -> str:
        return (f"<Replayer {self.persistence_id!r} position={self.position} "
                f"range={self.start_seq}..{self.end_seq} problems={len(self.problems)}>")

    def _problems_html(self) -> str:
        if not self.problems:
            return ""
        items = "".join(f"<li>{html.escape(str(p))}</li>" for p in self.problems)
        extra = ("<div>The snapshot is unusable; showing a replay from the initial state "
                 "instead.</div>" if self.fallback else "")
        return (f"<div class='actorpg-problem' style='color:#cf222e;border:1px solid #cf222e;"
                f"padding:4px 8px;margin:4px 0'><b>⚠ Recovery problem</b><ul style='margin:0'>"
                f"{items}</ul>{extra}</div>")

    def _header_html(self) -> str:
        return (f"<div class='actorpg-replayer-header'><b>{html.escape(self.persistence_id)}</b>"
                f" — {html.escape(self.summary().split(': ', 1)[1].split('; PROBLEMS')[0])}"
                f"</div>{self._problems_html()}")

    def _event_html(self) -> str:
        ev = self.event
        if ev is None:
            where = (f"snapshot @{self.start_seq}" if self.start_seq and not self.fallback
                     else "the initial state")
            return f"<i>at the start: {html.escape(where)}</i>"
        stamp = pd.Timestamp(ev.timestamp, unit="ms", tz="UTC").isoformat()
        tags = ", ".join(ev.tags) or "—"
        return (f"<div><b>#{ev.sequence_nr}</b> {html.escape(_event_type(ev.event))} "
                f"<small>{html.escape(stamp)} tags: {html.escape(tags)}</small></div>"
                f"<pre style='margin:0'>{html.escape(pprint.pformat(ev.event, width=60))}</pre>")

    def _state_html(self) -> str:
        return (f"<pre style='margin:0'>{html.escape(pprint.pformat(self.state, width=60))}"
                f"</pre>")

    def _repr_html_(self) -> str:
        return (
            f"<div class='actorpg-replayer'>{self._header_html()}"
            f"<div>position <b>{self.position}</b> of {self.start_seq}..{self.end_seq}</div>"
            f"<table><tr><th>event</th><th>state</th><th>diff</th></tr><tr>"
            f"<td style='vertical-align:top'>{self._event_html()}</td>"
            f"<td style='vertical-align:top' class='actorpg-state'>{self._state_html()}</td>"
            f"<td style='vertical-align:top'>{self.diff._repr_html_()}</td>"
            f"</tr></table></div>"
        )

    def widget(self) -> Any:
        """An ipywidgets view: slider + play + back/step buttons and event/state/diff panes.

        The step button has the CSS class ``actorpg-step`` (description ``"Step ▶"``),
        the back button ``actorpg-back``, the panes ``actorpg-event``, ``actorpg-state``
        and ``actorpg-diff``.  The view follows :meth:`step`/:meth:`back`/:meth:`seek`.
        """
        if self._widget is not None:
            return self._widget
        import ipywidgets as w

        lo, hi = self.start_seq, self.end_seq
        slider = w.IntSlider(value=self.position, min=lo, max=max(hi, lo), description="seq",
                             continuous_update=True, layout=w.Layout(width="420px"))
        play = w.Play(value=self.position, min=lo, max=max(hi, lo), step=1, interval=600,
                      description="Play")
        w.jslink((play, "value"), (slider, "value"))
        back = w.Button(description="◀ Back", tooltip="undo the last event",
                        layout=w.Layout(width="90px"))
        back.add_class("actorpg-back")
        step = w.Button(description="Step ▶", tooltip="apply the next event",
                        layout=w.Layout(width="90px"))
        step.add_class("actorpg-step")
        header = w.HTML(self._header_html())
        header.add_class("actorpg-header")
        event_pane = w.HTML()
        event_pane.add_class("actorpg-event")
        state_pane = w.HTML()
        state_pane.add_class("actorpg-state")
        diff_pane = w.HTML()
        diff_pane.add_class("actorpg-diff")

        def render() -> None:
            if slider.value != self.position:
                slider.value = self.position
            header.value = self._header_html()
            event_pane.value = self._event_html()
            state_pane.value = self._state_html()
            diff_pane.value = self.diff._repr_html_()
            back.disabled = self.position <= self.start_seq
            step.disabled = self.position >= self.end_seq

        def on_slider(change: dict[str, Any]) -> None:
            self._move(int(change["new"]))

        slider.observe(on_slider, names="value")
        step.on_click(lambda _b: self.step())
        back.on_click(lambda _b: self.back())
        self._views.append(render)
        render()

        def box(title: str, pane: Any) -> Any:
            return w.VBox([w.HTML(f"<b>{title}</b>"), pane],
                          layout=w.Layout(width="33%", padding="0 6px"))

        view = w.VBox([
            header,
            w.HBox([play, back, slider, step]),
            w.HBox([box("Event", event_pane), box("State", state_pane),
                    box("Diff", diff_pane)]),
        ])
        view.add_class("actorpg-replayer")
        self._widget = view
        return view

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget())  # type: ignore[no-untyped-call]
