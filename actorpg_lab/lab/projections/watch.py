"""A live status widget: the projections table, refreshed in place.

:class:`ProjectionsWatch` is an ipywidgets box (``.actorpg-projections``) holding one
HTML table, one row per projection version (``data-name``, ``data-version`` and
``data-state`` on each ``tr``, for people and for the browser test alike).  A task on
the workbench's loop re-reads the statuses every ``every`` seconds and replaces the
table's HTML, so the displayed widget changes where it is — no new output per refresh.
It stops with :meth:`ProjectionsWatch.stop` or when the workbench closes.  Outside a
notebook the same object shows as text (its last table).
"""

from __future__ import annotations

import asyncio
import html
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from typing import Any

from ...projections import ProjectionStatus
from .charts import STATE_COLOURS

__all__ = ["ProjectionsWatch", "status_table"]

_log = logging.getLogger("actorpg_lab.lab")

Read = Callable[[], Awaitable[Sequence[ProjectionStatus]]]


def _age(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "—"
    return f"{seconds:.1f} s"


def _cells(status: ProjectionStatus) -> list[str]:
    lag = f"{status.lag_events}{'+' if status.lag_capped else ''}"
    detail = ""
    if status.state == "held_back" and status.blocker is not None:
        detail = (f"held back by pid {status.blocker.pid} (open "
                  f"{status.blocker.age_seconds:.1f} s)")
    elif status.failed_event is not None:
        pid, seq = status.failed_event
        detail = f"{pid} #{seq}: {status.last_error or ''}"
    elif status.rebuild_progress is not None:
        detail = f"rebuild {status.rebuild_progress:.0%}"
    return [f"{status.name} v{status.version}", status.state, f"{status.offset.position}",
            lag, f"{status.lag_seconds:.1f} s", status.owner or "—",
            _age(status.heartbeat_age_seconds), detail]


_HEAD = ("projection", "state", "position", "lag (events)", "lag", "owner", "heartbeat",
         "detail")


def status_table(statuses: Sequence[ProjectionStatus], *, refreshed: int = 0,
                 error: str | None = None) -> str:
    """The widget's HTML: a table of ``statuses`` and a refresh line."""
    head = "".join(f"<th style='text-align:left'>{h}</th>" for h in _HEAD)
    rows = []
    for s in statuses:
        colour = STATE_COLOURS.get(s.state, "#1a7f37" if s.state == "caught_up" else "#0969da")
        cells = _cells(s)
        tds = "".join(
            f"<td class='actorpg-{key}' style='text-align:left{extra}'>{html.escape(v)}</td>"
            for key, v, extra in zip(
                ("projection", "state", "position", "lag-events", "lag-seconds", "owner",
                 "heartbeat", "detail"), cells,
                ("", f";color:{colour};font-weight:bold", "", "", "", "", "", ""), strict=True))
        rows.append(f"<tr class='actorpg-projection' data-name='{html.escape(s.name)}' "
                    f"data-version='{s.version}' data-state='{s.state}'>{tds}</tr>")
    body = "".join(rows) or f"<tr><td colspan='{len(_HEAD)}'>no projections yet</td></tr>"
    note = (f"<span class='actorpg-refreshed' data-count='{refreshed}'>refreshed "
            f"{time.strftime('%H:%M:%S')} (#{refreshed})</span>")
    if error:
        note += f" <span class='actorpg-watch-error'>{html.escape(error)}</span>"
    return (f"<div class='tex2jax_ignore mathjax_ignore'><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table><small>{note}</small></div>")


class ProjectionsWatch:
    """The live status widget (``wb.watch_projections()``); display it in a cell."""

    def __init__(self, read: Read, loop: asyncio.AbstractEventLoop, *, every: float,
                 first: Sequence[ProjectionStatus] = ()) -> None:
        if isinstance(every, bool) or not isinstance(every, (int, float)) or not every > 0:
            raise ValueError(f"every must be a positive number of seconds: {every!r}")
        import ipywidgets as w

        self._read = read
        self._loop = loop
        self.every = float(every)
        self.refreshes = 0
        #: What the table shows (``first``: what the caller read before making it).
        self.statuses: list[ProjectionStatus] = list(first)
        self._table = w.HTML(value=status_table(self.statuses))
        self.widget = w.VBox([self._table])
        self.widget.add_class("actorpg-projections")
        self._task: Future[None] | None = None

    def __repr__(self) -> str:
        state = "live" if self.live else "stopped"
        lines = [f"<ProjectionsWatch {state}, every {self.every:g} s, {self.refreshes} refreshes>"]
        lines += [f"  {s.name} v{s.version}: {s.state}, lag {s.lag_events} events / "
                  f"{s.lag_seconds:.1f} s" for s in self.statuses]
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle["text/plain"] = repr(self)
        return bundle

    @property
    def live(self) -> bool:
        """Whether the refresh task runs."""
        return self._task is not None and not self._task.done()

    async def refresh_async(self) -> list[ProjectionStatus]:
        """Read the statuses once and redraw the table (on the workbench loop)."""
        error = None
        try:
            self.statuses = list(await self._read())
        except Exception as exc:  # a refresh failure shows in the widget, never raises there
            error = f"refresh failed: {type(exc).__name__}: {exc}"
        self.refreshes += 1
        self._table.value = status_table(self.statuses, refreshed=self.refreshes, error=error)
        return self.statuses

    def refresh(self) -> list[ProjectionStatus]:
        """Refresh now (synchronously); returns the statuses shown."""
        return asyncio.run_coroutine_threadsafe(self.refresh_async(), self._loop).result(30)

    async def _run(self) -> None:
        while True:
            await self.refresh_async()
            await asyncio.sleep(self.every)

    def start(self) -> ProjectionsWatch:
        """Start refreshing every ``every`` seconds (idempotent); returns the watch."""
        if not self.live:
            self._task = asyncio.run_coroutine_threadsafe(self._run(), self._loop)
        return self

    def stop(self) -> None:
        """Stop refreshing (the table keeps its last content); idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
