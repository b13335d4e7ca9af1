"""What a code change does to recovery: replay every stream with the old and the new code.

:meth:`Workbench.compare_replays <actorpg_lab.lab.Workbench.compare_replays>` reads the
selected streams once, in stream order (``sql/event_payloads.sql``, streamed in Arrow
batches), and folds every stream from scratch (no snapshots: what a recovery without
them computes) with two *sides*: a behaviour (what :meth:`~Workbench.replay` accepts:
an actor class or instance, or ``(on_event, initial_state)``) and a codec (the old and
new upcasters).  Both sides see the same stored payloads; when they share the codec
each payload is decoded once.

Per stream it reports ``events``, ``diverged_at`` (the first sequence number after
which the states differ, or where only one side failed; 0 when the initial states
differ; ``<NA>`` when they agree throughout), both final states, their ``diff`` (a
:class:`~actorpg_lab.lab.StateDiff`, ``None`` when the final states are equal) and
each side's first error (a payload its codec cannot decode, or an exception from
``on_event``: the side stops there and keeps its last good state).  A stream with a
gap or a deleted prefix cannot be replayed from scratch: both sides report it as
their error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..._codec import JsonCodec
from ..db.statements import render
from ..frames.filter import ids_json
from ..replay.diff import diff_states

if TYPE_CHECKING:
    from ..frames.loader import FrameLoader

__all__ = ["COMPARE_COLUMNS", "Side", "compare_replays_frame"]

COMPARE_COLUMNS = ["persistence_id", "events", "diverged_at", "before_state", "after_state",
                   "diff", "before_error", "after_error"]

OnEvent = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class Side:
    """One side of a comparison: ``make(pid) -> (on_event, initial_state)`` and a codec."""

    make: Callable[[str], tuple[OnEvent, Any]]
    codec: JsonCodec


def _describe(seq: int, exc: BaseException) -> str:
    return f"sequence_nr {seq}: {type(exc).__name__}: {exc}"


def _differ(a: Any, b: Any) -> bool:
    try:
        return bool(a != b) or type(a) is not type(b)
    except Exception:  # == raising or ambiguous (arrays): not provably equal
        return True


class _Stream:
    """The comparison of one stream, fed one stored event at a time."""

    __slots__ = ("after", "after_error", "before", "before_error", "diverged_at", "events",
                 "expected", "on_after", "on_before", "pid")

    def __init__(self, pid: str, before: Side, after: Side) -> None:
        self.pid = pid
        self.on_before, self.before = before.make(pid)
        self.on_after, self.after = after.make(pid)
        self.before_error: str | None = None
        self.after_error: str | None = None
        # 0: the initial states already differ.
        self.diverged_at: int | None = 0 if _differ(self.before, self.after) else None
        self.events = 0
        self.expected = 1

    def row(self) -> tuple[Any, ...]:
        diff = diff_states(self.before, self.after) if _differ(self.before, self.after) else None
        return (self.pid, self.events, self.diverged_at, self.before, self.after, diff,
                self.before_error, self.after_error)


def compare_replays_frame(frames: FrameLoader, before: Side, after: Side,
                          persistence_ids: str | Iterable[str] | None = None) -> pd.DataFrame:
    """One row per stream (see the module docstring); explicitly listed streams without
    events get a row too (0 events, both initial states)."""
    ids_text, wanted = ids_json(persistence_ids)
    rows: list[tuple[Any, ...]] = []
    seen: set[str] = set()
    if frames.table_exists(frames.tables.events):
        statement = render("event_payloads", events=frames.tables.events)
        stream: _Stream | None = None
        for batch in frames.query_batches(statement, [ids_text]):
            pids = batch.column(0).to_pylist()
            seqs = batch.column(1).to_pylist()
            payloads = batch.column(2).to_pylist()
            start = 0
            while start < len(pids):
                pid = pids[start]
                end = start + 1
                while end < len(pids) and pids[end] == pid:  # one stream's run in this batch
                    end += 1
                if stream is None or stream.pid != pid:
                    if stream is not None:
                        rows.append(stream.row())
                    stream = _Stream(pid, before, after)
                    seen.add(pid)
                _fold(stream, seqs[start:end], payloads[start:end], before.codec, after.codec)
                start = end
        if stream is not None:
            rows.append(stream.row())
    for pid in sorted(set(wanted or ()) - seen):
        rows.append(_Stream(pid, before, after).row())
    rows.sort(key=lambda row: row[0])
    frame = pd.DataFrame(rows, columns=COMPARE_COLUMNS)
    frame["persistence_id"] = frame["persistence_id"].astype(object)
    frame["events"] = frame["events"].astype("int64")
    frame["diverged_at"] = frame["diverged_at"].astype(pd.Int64Dtype())
    for column in ("before_state", "after_state", "diff", "before_error", "after_error"):
        frame[column] = frame[column].astype(object)
    return frame


def _fold(stream: _Stream, seqs: list[int], payloads: list[str],
          before_codec: JsonCodec, after_codec: JsonCodec) -> None:
    """Fold a run of one stream's stored events into both sides (the hot loop)."""
    decode_before = before_codec.decode
    decode_after = decode_before if after_codec is before_codec else after_codec.decode
    shared = decode_after is decode_before
    on_before, on_after = stream.on_before, stream.on_after
    before, after = stream.before, stream.after
    before_ok, after_ok = stream.before_error is None, stream.after_error is None
    expected = stream.expected
    try:
        for seq, payload in zip(seqs, payloads, strict=True):
            stream.events += 1
            if seq != expected:
                problem = (f"sequence_nr {expected}: gap (found {seq}): the stream cannot be "
                           f"replayed from scratch")
                if before_ok:
                    stream.before_error, before_ok = problem, False
                if after_ok:
                    stream.after_error, after_ok = problem, False
                expected = seq + 1
                continue
            expected += 1
            failed_before = failed_after = False
            event: Any = None
            if before_ok:
                try:
                    event = decode_before(payload)
                    before = on_before(before, event)
                except Exception as exc:
                    stream.before_error, before_ok, failed_before = _describe(seq, exc), False, True
            if after_ok:
                try:
                    if not shared or event is None:
                        event = decode_after(payload)
                    after = on_after(after, event)
                except Exception as exc:
                    stream.after_error, after_ok, failed_after = _describe(seq, exc), False, True
            if stream.diverged_at is None:
                if failed_before != failed_after:
                    stream.diverged_at = seq
                elif before_ok and after_ok and _differ(before, after):
                    stream.diverged_at = seq
    finally:
        stream.before, stream.after, stream.expected = before, after, expected
