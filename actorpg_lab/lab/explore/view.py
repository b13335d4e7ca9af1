"""The explorer's widgets (``wb.explore()``): filters, the stream list, the stream pane
and the replayer, one ipywidgets app over a :class:`~.model.StreamBrowser`.

Every control costs one bounded query (see :mod:`.model`): *Apply* loads page 1 of the
list, *Prev*/*Next* move a page (pages already shown are kept), choosing a stream loads
its last events, *Open in replayer* replays the stream up to the chosen event.  Sorting
("sort page by") reorders the page that is shown, without a query.  Each part carries a
CSS class (``actorpg-explorer-*``) so a browser test can drive it.
"""

from __future__ import annotations

import dataclasses
import html
import json
import time
from collections.abc import Callable
from typing import Any

from ..._reprs import iso_utc
from .browser import StreamBrowser
from .events import StreamEvents
from .pages import StreamPage, StreamRow
from .stream_filter import StreamFilter

__all__ = ["Explorer", "fields_fold"]

# Payload and metadata cells keep their lines whole (JupyterLab's output CSS breaks
# words anywhere): one metadata key per line, the pane scrolls sideways if it must.
_JSON_CELL = "white-space:pre;word-break:normal;overflow-wrap:normal"

#: The page orderings "sort page by" offers: label -> (key, descending).
_SORTS: dict[str, tuple[Callable[[StreamRow], Any], bool]] = {
    "as listed": (lambda r: 0, False),
    "id": (lambda r: r.persistence_id, False),
    "events ↓": (lambda r: r.events, True),
    "last event ↓": (lambda r: r.last_event or 0, True),
    "latest type": (lambda r: r.latest_type or "", False),
    "problems first": (lambda r: r.problem is None, False),
}


def fields_fold(state: dict[str, Any], event: Any) -> dict[str, Any]:
    """The replayer's default fold when ``explore()`` got no behaviour: the number of
    events and the latest value of every field seen (dataclass fields, JSON keys)."""
    if dataclasses.is_dataclass(event) and not isinstance(event, type):
        fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    elif isinstance(event, dict):
        fields = dict(event)
    else:
        fields = {"value": event}
    return {**state, **fields, "events": int(state.get("events", 0)) + 1}


def _label(row: StreamRow, width: int) -> str:
    flag = (f"⚠ {row.problem}@{row.problem_seq}" if row.problem
            else "ok" if row.checked else "… not checked")
    return (f"{row.persistence_id:<{width}}  {row.events:>8,}  {iso_utc(row.last_event):<24}  "
            f"{(row.latest_type or 'json'):<24}  {flag}")


class Explorer:
    """The explorer app; display it (or its :attr:`widget`) in a notebook.

    :param browser: the read model.
    :param open_replayer: ``(persistence_id, sequence_nr) -> Replayer`` (the workbench
        replays with the behaviour ``explore()`` got).
    """

    def __init__(self, browser: StreamBrowser,
                 open_replayer: Callable[[str, int], Any], *,
                 flt: StreamFilter | None = None, events_per_page: int = 20) -> None:
        import ipywidgets as w

        self.browser = browser
        self._open_replayer = open_replayer
        self.events_per_page = events_per_page
        self.page: StreamPage | None = None
        self.stream: StreamEvents | None = None
        self.replayer: Any = None
        self._pages: list[StreamPage] = []
        #: Milliseconds the last interaction took (what the bench measures in-process).
        self.last_ms: float = 0.0
        start = flt or StreamFilter()

        def text(placeholder: str, css: str, value: str | None = "") -> Any:
            box = w.Text(value=value or "", placeholder=placeholder,
                         layout=w.Layout(width="150px"))
            box.add_class(css)
            return box

        self.prefix = text("id prefix", "actorpg-explorer-prefix", start.prefix)
        self.event_type = text("event type", "actorpg-explorer-type", start.event_type)
        self.tag = text("tag", "actorpg-explorer-tag", start.tag)
        self.since = text("since (ISO, UTC)", "actorpg-explorer-since",
                          None if start.since is None else iso_utc(start.since))
        self.until = text("until (ISO, UTC)", "actorpg-explorer-until",
                          None if start.until is None else iso_utc(start.until))
        self.order = w.Dropdown(options=[("latest first", "recent"), ("by id", "id")],
                                value=start.order, layout=w.Layout(width="120px"))
        self.apply = w.Button(description="Apply", button_style="primary",
                              layout=w.Layout(width="80px"))
        self.apply.add_class("actorpg-explorer-apply")
        self.status = w.HTML()
        self.status.add_class("actorpg-explorer-status")
        self.sort = w.Dropdown(options=list(_SORTS), value="as listed",
                               description="sort page by", layout=w.Layout(width="250px"))
        self.prev = w.Button(description="◀ Prev", layout=w.Layout(width="80px"))
        self.prev.add_class("actorpg-explorer-prev")
        self.next = w.Button(description="Next ▶", layout=w.Layout(width="80px"))
        self.next.add_class("actorpg-explorer-next")
        self.check_all = w.Button(description="Check all", layout=w.Layout(width="100px"),
                                  tooltip="run check_streams for every stream of the page "
                                          "(reads all their events)")
        self.check_all.add_class("actorpg-explorer-check")
        self.header = w.HTML()
        self.streams = w.Select(options=[], rows=12, layout=w.Layout(width="100%"))
        self.streams.add_class("actorpg-explorer-streams")
        self.pane_title = w.HTML()
        self.events = w.HTML()
        self.events.add_class("actorpg-explorer-events")
        self.event_choice = w.Dropdown(options=[], description="event",
                                       layout=w.Layout(width="200px"))
        self.event_choice.add_class("actorpg-explorer-event")
        self.older = w.Button(description="◀ older", layout=w.Layout(width="80px"))
        self.newer = w.Button(description="newer ▶", layout=w.Layout(width="80px"))
        self.open = w.Button(description="Open in replayer", icon="play",
                             layout=w.Layout(width="170px"))
        self.open.add_class("actorpg-explorer-open")
        self.replay_box = w.VBox()
        self.replay_box.add_class("actorpg-explorer-replay")

        self.apply.on_click(lambda _b: self._timed(self.refresh))
        self.prev.on_click(lambda _b: self._timed(self.previous_page))
        self.next.on_click(lambda _b: self._timed(self.next_page))
        self.sort.observe(lambda _c: self._show_page(keep=True), names="value")
        self.check_all.on_click(lambda _b: self._timed(self.check_page))
        self.streams.observe(self._on_stream, names="value")
        self.older.on_click(lambda _b: self._timed(lambda: self._move_events(-1)))
        self.newer.on_click(lambda _b: self._timed(lambda: self._move_events(1)))
        self.open.on_click(lambda _b: self._timed(self.open_selected))

        filters = w.HBox([self.prefix, self.event_type, self.tag, self.since, self.until,
                          self.order, self.apply])
        pager = w.HBox([self.prev, self.next, self.sort, self.check_all, self.status])
        pane_controls = w.HBox([self.older, self.newer, self.event_choice, self.open])
        self.widget = w.VBox([filters, pager, self.header, self.streams, self.pane_title,
                              pane_controls, self.events, self.replay_box])
        self.widget.add_class("actorpg-explorer")
        self.refresh()

    # -- actions (each one bounded query or none) -------------------------------------
    def _timed(self, action: Callable[[], Any]) -> None:
        began = time.perf_counter()
        try:
            action()
        except Exception as exc:  # a bad filter, a closed workbench: say so, keep the app
            self.status.value = (f"<span style='color:#b00'>{html.escape(type(exc).__name__)}: "
                                 f"{html.escape(str(exc))}</span>")
        self.last_ms = (time.perf_counter() - began) * 1000.0

    def current_filter(self) -> StreamFilter:
        """The filter the boxes hold (validated)."""
        return StreamFilter.parse(prefix=self.prefix.value, event_type=self.event_type.value,
                                  order=self.order.value, tags=self.tag.value.strip() or None,
                                  since=self.since.value.strip() or None,
                                  until=self.until.value.strip() or None)

    def refresh(self) -> StreamPage:
        """Page 1 of the list for the current filters."""
        self._pages = [self.browser.first_page(self.current_filter())]
        self._show_page()
        return self._pages[-1]

    def next_page(self) -> StreamPage:
        """The next page of the list (one query; a page shown before: none)."""
        assert self.page is not None
        index = self._pages.index(self.page)
        if index + 1 < len(self._pages):
            self.page = self._pages[index + 1]
        elif self.page.has_next:
            self._pages.append(self.browser.next_page(self.page))
            self.page = self._pages[-1]
        self._show_page(keep=True)
        return self.page

    def previous_page(self) -> StreamPage:
        """The page before (kept: no query)."""
        assert self.page is not None
        index = self._pages.index(self.page)
        self.page = self._pages[max(index - 1, 0)]
        self._show_page(keep=True)
        return self.page

    def check_page(self) -> StreamPage:
        """Check every stream of the shown page (the ones past the budget too)."""
        assert self.page is not None
        checked = self.browser.check_page(self.page)
        self._pages[self._pages.index(self.page)] = checked
        self.page = checked
        self._show_page(keep=True)
        return checked

    def select(self, persistence_id: str) -> StreamEvents:
        """Show ``persistence_id`` in the stream pane (its last events)."""
        self.stream = self.browser.stream_events(persistence_id, n=self.events_per_page)
        self._show_stream()
        return self.stream

    def open_selected(self) -> Any:
        """Open the replayer on the selected stream at the chosen event."""
        if self.stream is None or self.event_choice.value is None:
            raise ValueError("choose a stream and an event first")
        wanted = int(self.event_choice.value)
        self.replayer = self._open_replayer(self.stream.persistence_id, wanted)
        self.replay_box.children = (self.replayer.widget(),)
        if self.replayer.position != wanted:
            problems = getattr(self.replayer, "problems", None) or ["a problem"]
            self.status.value = (
                f"<span style='color:#b00'>the replay of {html.escape(self.stream.persistence_id)}"
                f" stops at #{self.replayer.position}, before #{wanted}: "
                f"{html.escape(str(problems[0]))}</span>")
        return self.replayer

    # -- rendering ----------------------------------------------------------------------
    def _show_page(self, keep: bool = False) -> None:
        if not keep or self.page is None:
            self.page = self._pages[-1]
        page = self.page
        key, reverse = _SORTS[self.sort.value]
        rows = sorted(page.rows, key=key, reverse=reverse)
        width = max([len(r.persistence_id) for r in rows] + [14])
        self.header.value = (
            "<pre style='margin:0;font-weight:bold'>"
            + html.escape(f"{'stream':<{width}}  {'events':>8}  {'last event (UTC)':<24}  "
                          f"{'latest type':<24}  problems") + "</pre>")
        selected = self.streams.value
        self.streams.options = [(_label(r, width), r.persistence_id) for r in rows]
        if selected in {r.persistence_id for r in rows}:
            self.streams.value = selected
        flagged = sum(1 for r in rows if r.problem)
        unchecked = sum(1 for r in rows if not r.checked)
        note = f" · {html.escape(page.note)}" if page.note else ""
        if unchecked:
            note += f" · {unchecked} not checked (Check all)"
        self.check_all.disabled = not unchecked
        self.status.value = (
            f"page {page.number} · {len(rows)} streams"
            f"{' · ' + str(flagged) + ' with problems' if flagged else ''} · "
            f"{html.escape(page.filter.describe())}{note}")
        self.prev.disabled = self._pages.index(page) == 0
        self.next.disabled = not page.has_next and self._pages[-1] is page

    def _on_stream(self, change: dict[str, Any]) -> None:
        if change.get("new"):
            self._timed(lambda: self.select(str(change["new"])))

    def _move_events(self, direction: int) -> None:
        if self.stream is None:
            return
        n = self.events_per_page
        start = self.stream.from_seq + direction * n
        low = self.stream.first_seq or 1
        self.stream = self.browser.stream_events(self.stream.persistence_id, max(start, low),
                                                 n=n)
        self._show_stream()

    def _show_stream(self) -> None:
        s = self.stream
        assert s is not None
        self.pane_title.value = (
            f"<b>{html.escape(s.persistence_id)}</b> · events {s.first_seq}..{s.head} · "
            f"showing #{s.from_seq}.."
            f"{s.events[-1].sequence_nr if s.events else s.from_seq}")
        rows = []
        for e in s.events:
            meta = "\n".join(f"{k}: {v if isinstance(v, str) else json.dumps(v)}"
                             for k, v in e.metadata.items()) if e.metadata else ""
            rows.append(
                f"<tr class='actorpg-explorer-event-row'><td>{e.sequence_nr}</td>"
                f"<td>{html.escape(e.event_type or 'json')}</td>"
                f"<td style='white-space:nowrap'>{html.escape(iso_utc(e.timestamp))}</td>"
                f"<td>{html.escape(', '.join(e.tags))}</td>"
                f"<td><pre style='margin:0;{_JSON_CELL}'>{html.escape(meta)}</pre></td>"
                f"<td><pre style='margin:0;{_JSON_CELL}'>{html.escape(e.pretty)}"
                f"</pre></td></tr>")
        self.events.value = (
            "<div style='max-height:420px;overflow:auto'>"
            "<table style='border-collapse:collapse'><tr><th>#</th><th>type</th>"
            "<th>time (UTC)</th><th>tags</th><th>metadata</th><th>payload</th></tr>"
            + "".join(rows) + "</table></div>")
        self.event_choice.options = [(f"#{e.sequence_nr} {e.event_type or 'json'}",
                                      e.sequence_nr) for e in s.events]
        if s.events:
            self.event_choice.value = s.events[-1].sequence_nr
        self.older.disabled = not s.has_prev
        self.newer.disabled = not s.has_next

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)  # type: ignore[no-untyped-call]

    def __repr__(self) -> str:
        pid = None if self.stream is None else self.stream.persistence_id
        return f"<Explorer {self.page!r} stream={pid!r}>"
