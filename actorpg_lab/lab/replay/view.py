"""The view of a :class:`~actorpg_lab.lab.Replayer`: HTML and an ipywidgets player.

The model (:mod:`.replayer`) knows the replay; this module only renders it — a header
(stream, what was replayed, where recovery would start, problems in red), the event at
the current position, the state and the diff — and, as a widget, follows the model's
moves through :meth:`Replayer.add_view`.
"""

from __future__ import annotations

import html
import pprint
import uuid
from typing import Any

import pandas as pd

from ..frames.columns import event_type_name
from ..notebook.display import format_timestamp
from .protocol import ReplayModel

__all__ = ["PLAY_SPEEDS", "ReplayerView", "default_speed", "delta_text", "play_timing",
           "state_html"]

#: The Play speeds offered (events per second).
PLAY_SPEEDS = (1, 2, 5, 10, 25, 50, 100, 250, 500)
#: Play never ticks faster than this (ms): faster speeds advance several events a tick,
#: so the kernel is not flooded with one message per event.
_MIN_INTERVAL_MS = 50
#: Height of the event/state/diff panes (they scroll): the layout does not jump.
_PANE_HEIGHT = "240px"
_HIGHLIGHT = "#fff8c5"


def play_timing(events_per_second: float) -> tuple[int, int]:
    """``(interval_ms, step)`` for ipywidgets' ``Play`` to show ``events_per_second``."""
    if isinstance(events_per_second, bool) or not events_per_second > 0:
        raise ValueError(f"events_per_second must be positive, got {events_per_second!r}")
    interval = max(_MIN_INTERVAL_MS, round(1000 / events_per_second))
    step = max(1, round(events_per_second * interval / 1000))
    return interval, step


def default_speed(events: int) -> int:
    """The offered speed that plays ``events`` in about 10 seconds (at least 2/s)."""
    wanted = max(2.0, events / 10)
    return min(PLAY_SPEEDS, key=lambda speed: abs(speed - wanted))


def delta_text(old: Any, new: Any) -> str:
    """How a field changed: ``+150``/``-20`` for numbers, else ``was <old>``."""
    from .diff import ABSENT

    if old is ABSENT:
        return "new"
    if new is ABSENT:
        return "removed"
    numbers = (int, float)
    if (isinstance(old, numbers) and isinstance(new, numbers)
            and not isinstance(old, bool) and not isinstance(new, bool)):
        delta = new - old
        return f"{delta:+,}" if isinstance(delta, int) else f"{delta:+,.6g}"
    text = repr(old)
    return f"was {text if len(text) <= 40 else text[:39] + '…'}"


def _field_text(value: Any) -> str:
    """A state field's value: numbers with thousands separators (``82,950``, like the
    delta next to them), anything else as Python shows it (``'Ada'``, ``True``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:,}"
    return pprint.pformat(value, width=50)


def state_html(state: Any, diff: Any = None) -> str:
    """``state`` as HTML: fields in rows with the changed ones highlighted (``diff``: the
    :class:`~actorpg_lab.lab.StateDiff` of the last move), else pretty-printed."""
    import dataclasses
    from collections.abc import Mapping

    changes = list(getattr(diff, "changes", ()) or ())
    fields: Mapping[Any, Any] | None = None
    if isinstance(state, Mapping):
        fields = state
    elif dataclasses.is_dataclass(state) and not isinstance(state, type):
        fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
    if fields is None or not fields:
        whole = any(c.path == "<root>" for c in changes)
        style = f" style='margin:0;background:{_HIGHLIGHT}'" if whole else " style='margin:0'"
        return f"<pre{style}>{html.escape(pprint.pformat(state, width=60))}</pre>"
    rows = []
    removed = [c for c in changes if "." not in c.path and "[" not in c.path
               and c.kind == "removed"]
    for key, value in fields.items():
        name = str(key)
        mine = [c for c in changes if c.path == name or c.path.startswith((name + ".",
                                                                           name + "["))]
        if len(mine) == 1 and mine[0].path == name:
            note = delta_text(mine[0].old, mine[0].new)
        elif mine:
            note = f"{len(mine)} change{'s' if len(mine) > 1 else ''}"
        else:
            note = ""
        style = f" style='background:{_HIGHLIGHT}'" if mine else ""
        shown = _field_text(value)
        rows.append(
            f"<tr class='{'actorpg-changed' if mine else 'actorpg-field'}'{style}>"
            f"<td style='text-align:left;padding:0 6px 0 0'><b>{html.escape(name)}</b></td>"
            f"<td style='text-align:left'><code style='white-space:pre'>{html.escape(shown)}"
            f"</code></td><td style='text-align:left;color:#9a6700;padding-left:6px'>"
            f"{html.escape(note)}</td></tr>")
    for change in removed:
        rows.append(f"<tr class='actorpg-changed' style='background:{_HIGHLIGHT}'>"
                    f"<td style='text-align:left'><s>{html.escape(change.path)}</s></td>"
                    f"<td></td><td style='color:#cf222e'>removed</td></tr>")
    kind = "" if isinstance(state, Mapping) else (
        f"<div style='color:#666'>{html.escape(type(state).__qualname__)}</div>")
    return (f"{kind}<table class='actorpg-state-fields' style='border-collapse:collapse'>"
            + "".join(rows) + "</table>")


class ReplayerView:
    """Renders one :class:`Replayer` (HTML for ``_repr_html_``; :meth:`widget`)."""

    def __init__(self, model: ReplayModel) -> None:
        self.model = model
        self._widget: Any = None
        #: Names the static copy of this view that the live widget hides.
        self.uid = uuid.uuid4().hex[:12]

    # -- HTML -------------------------------------------------------------------------
    def problems_html(self) -> str:
        r = self.model
        if not r.problems:
            return ""
        items = "".join(f"<li>{html.escape(str(p))}</li>" for p in r.problems)
        extra = ("<div>The snapshot is unusable; showing a replay from the initial state "
                 "instead.</div>" if r.fallback else "")
        return (f"<div class='actorpg-problem' style='color:#cf222e;border:1px solid #cf222e;"
                f"padding:4px 8px;margin:4px 0'><b>⚠ Recovery problem</b><ul style='margin:0'>"
                f"{items}</ul>{extra}</div>")

    def header_html(self) -> str:
        r = self.model
        return (f"<div class='actorpg-replayer-header'><b>{html.escape(r.persistence_id)}</b>"
                f" — {html.escape(r.overview())}</div>{self.problems_html()}")

    def error_html(self) -> str:
        """The problem at the current position: what failed, the exception and a short
        traceback (empty elsewhere)."""
        problem = self.model.error
        if problem is None:
            return ""
        error = problem.error
        head = f"{type(error).__name__}: {error}" if problem.kind == "on_event_failed" else (
            problem.message)
        trace = (f"<pre style='margin:2px 0;font-size:85%;white-space:pre-wrap'>"
                 f"{html.escape(problem.traceback)}</pre>" if problem.traceback else "")
        return (f"<div class='actorpg-error' style='color:#cf222e;border-left:3px solid "
                f"#cf222e;padding:2px 6px;margin-top:4px'><b>⚠ {html.escape(problem.kind)}"
                f" at #{problem.sequence_nr}</b><div>{html.escape(head)}</div>{trace}</div>")

    def event_html(self) -> str:
        r = self.model
        ev = r.event
        if r.at_problem and r.position > r.end_seq and ev is None:
            what = ("is missing from the journal" if r.problems[0].kind == "gap"
                    else "cannot be read")
            return (f"<div><b>#{r.position}</b> <i>this event {what}</i></div>"
                    f"{self.error_html()}")
        if ev is None:
            where = r.start_description()
            where = "the initial state" if where == "initial state" else where
            return f"<i>at the start: {html.escape(where)}</i>"
        stamp = format_timestamp(pd.Timestamp(ev.timestamp, unit="ms", tz="UTC")) + " UTC"
        tags = ", ".join(ev.tags) or "—"
        name = event_type_name(ev.event, r.codec) or type(ev.event).__qualname__
        failing = " <b style='color:#cf222e'>(not applied)</b>" if r.position > r.end_seq else ""
        stored = r.stored_version(ev)  # stored type/version and the upcasters run
        version = ("" if stored is None else
                   f"<div class='actorpg-stored-version'><small>{html.escape(str(stored))}"
                   f"</small></div>")
        return (f"<div><b>#{ev.sequence_nr}</b> {html.escape(name)}{failing} "
                f"<small><span class='actorpg-time' style='white-space:nowrap'>"
                f"{html.escape(stamp)}</span> tags: {html.escape(tags)}</small></div>{version}"
                f"<pre style='margin:0'>{html.escape(pprint.pformat(ev.event, width=60))}</pre>"
                f"{self.error_html()}")

    def state_html(self) -> str:
        """The state; with fields (a dataclass or mapping), one row per field, the fields
        the last move changed highlighted with their delta (``+150`` or ``was …``)."""
        return state_html(self.model.state, self.model.diff)

    def html(self) -> str:
        r = self.model
        return (
            f"<div class='actorpg-replayer'>{self.header_html()}"
            f"<div>position <b>{r.position}</b> of {r.start_seq}..{r.last_position}"
            f"{self._problem_note()}</div>"
            f"<table><tr><th>event</th><th>state</th><th>diff</th></tr><tr>"
            f"<td style='vertical-align:top'>{self.event_html()}</td>"
            f"<td style='vertical-align:top' class='actorpg-state'>{self.state_html()}</td>"
            f"<td style='vertical-align:top'>{r.diff._repr_html_()}</td>"
            f"</tr></table></div>"
        )

    def _problem_note(self) -> str:
        where = self.model.problem_position
        return "" if where is None else f" — <b style='color:#cf222e'>⚠ problem at {where}</b>"

    def marks_html(self) -> str:
        """A strip under the slider marking where the first problem is."""
        r = self.model
        where = r.problem_position
        if where is None:
            return ""
        span = max(r.last_position - r.start_seq, 1)
        left = 100.0 * (where - r.start_seq) / span
        return (f"<div style='position:relative;height:16px;width:280px;margin-left:94px'>"
                f"<span class='actorpg-problem-mark' title='first problem: #{where}' "
                f"style='position:absolute;left:calc({left:.1f}% - 5px);color:#cf222e;"
                f"font-size:11px;white-space:nowrap'>▲ #{where}</span></div>")

    def static_html(self, *, sibling: bool = False) -> str:
        """:meth:`html` as a static copy for saved notebooks (its CSS classes renamed so
        it never counts as the live view).  ``sibling=True``: it is displayed right
        before the live widget, which hides it; without the widget (a reopened notebook)
        it stays, and JupyterLab's "model not found" line after it is hidden."""
        body = self.html().replace("class='actorpg-", "class='actorpg-static-")
        if not sibling:
            return body
        uid = f"actorpg-static-{self.uid}"
        # Only the renderer's own node, when it holds nothing but the error text.
        style = (f"<style>.jp-OutputArea-child:has(.{uid}) + .jp-OutputArea-child "
                 f"> .jp-OutputArea-output.jupyter-widgets:not(:has(*)){{display:none}}</style>")
        return f"<div class='{uid}'>{style}{body}</div>"

    # -- widget -----------------------------------------------------------------------
    def widget(self) -> Any:
        """An ipywidgets view: slider + play + back/step buttons and event/state/diff panes.

        The step button has the CSS class ``actorpg-step`` (description ``"Step ▶"``),
        the back button ``actorpg-back``, the panes ``actorpg-event``, ``actorpg-state``
        and ``actorpg-diff``.  The view follows the model's step/back/seek/reload.
        """
        if self._widget is not None:
            return self._widget
        import ipywidgets as w

        r = self.model
        lo, hi = r.start_seq, r.last_position
        slider = w.IntSlider(value=r.position, min=lo, max=max(hi, lo), description="seq",
                             continuous_update=True, layout=w.Layout(width="420px"),
                             tooltip="drag to any position (sequence number)")
        slider.add_class("actorpg-slider")
        speed = default_speed(hi - lo)
        interval, stride = play_timing(speed)
        play = w.Play(value=r.position, min=lo, max=max(hi, lo), step=stride,
                      interval=interval, description="Play",
                      tooltip="play / pause / stop / repeat the replay at the chosen speed")
        play.add_class("actorpg-play")
        speed_box = w.Dropdown(options=[(f"{s} events/s", s) for s in PLAY_SPEEDS],
                               value=speed, tooltip="Play speed (events per second)",
                               layout=w.Layout(width="130px"))
        speed_box.add_class("actorpg-speed")

        def on_speed(change: dict[str, Any]) -> None:
            play.interval, play.step = play_timing(float(change["new"]))

        speed_box.observe(on_speed, names="value")
        w.jslink((play, "value"), (slider, "value"))
        back = w.Button(description="◀ Back", tooltip="undo the last event",
                        layout=w.Layout(width="90px"))
        back.add_class("actorpg-back")
        step = w.Button(description="Step ▶", tooltip="apply the next event",
                        layout=w.Layout(width="90px"))
        step.add_class("actorpg-step")
        goto = w.Button(description="⚠ Go to problem", tooltip="step onto the first problem",
                        button_style="danger", layout=w.Layout(width="140px"))
        goto.add_class("actorpg-goto-problem")
        if r.problem_position is None:
            goto.layout.display = "none"
        marks = w.HTML(self.marks_html())
        marks.add_class("actorpg-marks")
        # Hides the static copy displayed before this widget (see static_html).
        hide_static = w.HTML(f"<style>.actorpg-static-{self.uid}{{display:none}}</style>")
        header = w.HTML(self.header_html(), layout=w.Layout(min_height="24px"))
        header.add_class("actorpg-header")
        event_pane = w.HTML()
        event_pane.add_class("actorpg-event")
        state_pane = w.HTML()
        state_pane.add_class("actorpg-state")
        diff_pane = w.HTML()
        diff_pane.add_class("actorpg-diff")

        def render() -> None:
            if (slider.min, slider.max) != (r.start_seq, max(r.last_position, r.start_seq)):
                slider.max = max(r.last_position, r.start_seq, slider.min)
                slider.min = r.start_seq
                play.min, play.max = slider.min, slider.max
            if slider.value != r.position:
                slider.value = r.position
            header.value = self.header_html()
            event_pane.value = self.event_html()
            state_pane.value = self.state_html()
            diff_pane.value = r.diff._repr_html_()
            marks.value = self.marks_html()
            back.disabled = r.position <= r.start_seq
            step.disabled = r.position >= r.last_position
            goto.disabled = r.at_problem
            goto.layout.display = "none" if r.problem_position is None else None

        def on_slider(change: dict[str, Any]) -> None:
            r.seek(min(max(int(change["new"]), r.start_seq), r.last_position))

        slider.observe(on_slider, names="value")
        step.on_click(lambda _b: r.step())
        back.on_click(lambda _b: r.back())
        goto.on_click(lambda _b: r.goto_problem())
        r.add_view(render)
        render()

        def box(title: str, pane: Any) -> Any:
            # Fixed size, scrolling inside: stepping never moves the controls or panes.
            pane.layout = w.Layout(height=_PANE_HEIGHT, overflow="auto", width="100%")
            return w.VBox([w.HTML(f"<b>{title}</b>"), pane],
                          layout=w.Layout(width="33%", min_width="33%", max_width="33%",
                                          padding="0 6px"))

        view = w.VBox([
            header,
            w.HBox([play, speed_box, back, slider, step, goto]),
            marks,
            w.HBox([box("Event", event_pane), box("State", state_pane),
                    box("Diff", diff_pane)]),
            hide_static,
        ])
        view.add_class("actorpg-replayer")
        self._widget = view
        return view
