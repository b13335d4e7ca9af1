"""``wb.trace(correlation_id)``: one correlation's events across streams, in position
order, with their type, correlation and causation ids (``journal_trace.sql``), and
:func:`causation_tree`, the same events as a tree of what caused what."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ..db.statements import render
from .builder import FrameBuilder
from .event_columns import event_columns

if TYPE_CHECKING:
    from .loader import FrameLoader

__all__ = ["CausationTree", "causation_tree", "trace_frame"]


def trace_frame(frames: FrameLoader, correlation_id: str) -> pd.DataFrame:
    """The events whose ``metadata["correlation_id"]`` is ``correlation_id``: the columns
    of a journal frame plus ``event_type``, ``correlation_id`` and ``causation_id``; empty
    (same columns) for a journal without events or without the metadata column."""
    if not isinstance(correlation_id, str) or not correlation_id:
        raise ValueError(f"correlation_id must be a non-empty str: {correlation_id!r:.100}")
    builder = FrameBuilder("sequence_nr", tags=True, expand=False, position=True,
                           metadata=True)
    events = frames.tables.events
    if not frames.session.table_stats(events).present \
            or not frames.session.has_column(events, "metadata"):
        return builder.frame()
    select = render("journal_trace", events=events,
                    **event_columns(frames.session, events, "e"))
    builder.add(frames.query(select, [correlation_id]))
    return builder.frame()


class CausationTree:
    """What caused what among a trace's events, as text (``print(tree)``; a notebook shows
    it as is).  ``lines`` are the rendered lines, ``parents`` maps each event's
    ``"<pid>#<seq>"`` to its cause: the event it names, else the command id."""

    def __init__(self, lines: list[str], parents: dict[str, str]) -> None:
        self.lines = lines
        self.parents = parents

    def __str__(self) -> str:
        return "\n".join(self.lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        import html

        return f"<pre class='actorpg-causation'>{html.escape(str(self))}</pre>"


def causation_tree(frame: pd.DataFrame) -> CausationTree:
    """The events of ``frame`` (a :meth:`Workbench.trace <actorpg_lab.lab.Workbench.trace>`
    frame, or any frame with ``persistence_id``, ``sequence_nr``, ``event_type`` and
    ``causation_id``) as a tree: an event whose ``causation_id`` is ``"<pid>#<seq>"`` of
    another event of the frame hangs under it; the others hang under their causation id
    (a command, shown ``command <first 12 characters>``), in position order."""
    missing = {"persistence_id", "sequence_nr", "event_type", "causation_id"} - set(frame)
    if missing:
        raise ValueError(f"expected a trace frame, missing columns {sorted(missing)}")
    rows = [(f"{pid}#{int(seq)}", None if pd.isna(t) else str(t),
             None if pd.isna(c) else str(c))
            for pid, seq, t, c in zip(frame["persistence_id"].astype(str), frame["sequence_nr"],
                                      frame["event_type"], frame["causation_id"], strict=True)]
    label = {key: f"{key}  {kind or '(plain JSON)'}" for key, kind, _ in rows}
    children: dict[str, list[str]] = {}
    parents: dict[str, str] = {}
    roots: list[str] = []
    for key, _, cause in rows:
        parent = cause if cause in label and cause != key else f"command:{cause}"
        if parent not in label and parent not in children:
            roots.append(parent)
        children.setdefault(parent, []).append(key)
        parents[key] = cause if cause is not None else ""
    lines: list[str] = []

    def draw(node: str, prefix: str, last: bool, top: bool) -> None:
        if top:
            cause = node.removeprefix("command:")
            lines.append("(no causation id)" if cause == "None" else f"command {cause[:12]}")
        else:
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{label[node]}")
        inner = prefix if top else prefix + ("   " if last else "│  ")
        kids = children.get(node, [])
        for i, kid in enumerate(kids):
            draw(kid, inner, i == len(kids) - 1, False)

    for root in roots:
        draw(root, "", True, True)
    return CausationTree(lines, parents)
