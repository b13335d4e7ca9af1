"""Stream health: find the streams whose recovery would fail, and where.

:meth:`Workbench.check_streams <actorpg_lab.lab.Workbench.check_streams>` answers
"which streams are broken, and at which event?" with one row per stream.

Without a behaviour it checks the structure in SQL, at the speed of a scan
(``sql/health_*.sql``):

* ``gap`` — an event missing above the compaction mark (``<events>_meta.deleted_to``):
  a lost write; or a deleted prefix (``delete_history``) that no snapshot covers, so
  recovery cannot start;
* ``snapshot_ahead`` — the latest snapshot is beyond the journal head (a snapshot
  store restored from a newer backup than the journal): recovery refuses it;
* ``undecodable`` — a payload the current code cannot decode: not JSON at all, or an
  envelope (type name and version) whose sample does not decode.  Payloads are grouped
  by their envelope head (the text before ``"$value"``) and one payload per group is
  decoded, so a field changed without a new version inside one group is found by a
  check with a behaviour (which decodes every event) or by ``decode_check``.

With a behaviour (what :meth:`Workbench.replay` accepts) every stream is also folded
like recovery does (latest snapshot, then the events after it), which adds
``on_event_failed`` (``on_event`` raised) and decodes every folded event.

The first problem of a stream (lowest sequence number) is the one reported.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import orjson
import pandas as pd

from ..._codec import JsonCodec, default_codec
from ..._replay import ReplayStep, replay_state, select_snapshot
from ..db.statements import event_type_of, render
from ..frames.filter import ids_json
from ..replay.problems import PROBLEM_KINDS, ReplayProblem, classify_replay_error

if TYPE_CHECKING:
    from ..frames.loader import FrameLoader

__all__ = ["HEALTH_COLUMNS", "check_streams_frame", "fold_checker", "with_health"]

_log = logging.getLogger("actorpg_lab.lab.health")

#: The columns of ``check_streams()``.
HEALTH_COLUMNS = ["persistence_id", "ok", "problem", "sequence_nr", "message"]

#: Streams folded at once by a check with a behaviour.
_FOLD_CONCURRENCY = 4

#: The relations that stand in for a snapshots/meta table that does not exist.
_NO_SNAPSHOTS = "(SELECT NULL::text AS persistence_id, NULL::bigint AS sequence_nr WHERE false)"
_NO_META = "(SELECT NULL::text AS persistence_id, NULL::bigint AS deleted_to WHERE false)"


# -- structure (SQL) ------------------------------------------------------------------------
class _Structure:
    """Runs the structure checks over a :class:`FrameLoader`'s connection."""

    def __init__(self, frames: FrameLoader, codec: JsonCodec) -> None:
        from psycopg import sql

        self.frames = frames
        self.codec = codec
        tables = frames.tables
        self.events = tables.events
        self.snapshots: str | sql.Composable = (
            tables.snapshots if frames.table_exists(tables.snapshots) else sql.SQL(_NO_SNAPSHOTS))
        self.meta: str | sql.Composable = (
            tables.meta if frames.table_exists(tables.meta) else sql.SQL(_NO_META))
        version = frames.query(render("server_version")).column(0)[0].as_py()
        # IS JSON arrived in PostgreSQL 16; older servers skip the not-JSON check.
        self.not_json = sql.SQL("NOT e.payload IS JSON" if version >= 160000 else "false")

    def streams(self, ids: str | None) -> list[dict[str, Any]]:
        table = self.frames.query(render("health_streams", events=self.events, meta=self.meta,
                                         snapshots=self.snapshots), [ids])
        rows: list[dict[str, Any]] = table.to_pylist()
        return rows

    def first_gaps(self, ids: list[str]) -> dict[str, int]:
        if not ids:
            return {}
        table = self.frames.query(render("health_first_gap", events=self.events,
                                         meta=self.meta), [orjson.dumps(ids).decode()])
        return dict(zip(table.column("persistence_id").to_pylist(),
                        table.column("first_missing").to_pylist(), strict=True))

    def undecodable(self, ids: str | None) -> dict[str, tuple[int, str]]:
        """``{persistence_id: (sequence_nr, message)}`` of the first undecodable event."""
        kinds = self.frames.query(render("health_payload_kinds", events=self.events,
                                         not_json=self.not_json,
                                         type_of_payload=event_type_of("e")),
                                  [ids]).to_pylist()
        bad: dict[str, str] = {}
        any_not_json = False
        for row in kinds:
            any_not_json = any_not_json or row["not_json"] > 0
            if not row["kind"]:
                continue  # plain JSON: decodes unless it is not JSON (counted above)
            error = self._sample_error(row["sample_id"], row["kind"])
            if error is not None:
                bad[row["kind"]] = error
        if not bad and not any_not_json:
            return {}
        table = self.frames.query(render("health_first_undecodable", events=self.events,
                                         not_json=self.not_json,
                                         type_of_payload=event_type_of("e")),
                                  [ids, orjson.dumps(sorted(bad)).decode()])
        found: dict[str, tuple[int, str]] = {}
        for pid, seq in zip(table.column("persistence_id").to_pylist(),
                            table.column("sequence_nr").to_pylist(), strict=True):
            found[pid] = (seq, self._describe(pid, seq, bad))
        return found

    def _sample_error(self, pid: str, kind: str) -> str | None:
        table = self.frames.query(render("health_payload_sample", events=self.events,
                                         type_of_payload=event_type_of("e")),
                                  [pid, kind])
        if table.num_rows == 0:  # written meanwhile / deleted meanwhile
            return None
        return self._decode_error(table.column("payload")[0].as_py())

    def _decode_error(self, payload: str) -> str | None:
        try:
            self.codec.decode(payload)
        except (ValueError, TypeError, RecursionError, LookupError) as exc:
            return f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a codec error type of its own (e.g. schema evolution)
            return f"{type(exc).__name__}: {exc}"
        return None

    def _describe(self, pid: str, seq: int, bad: dict[str, str]) -> str:
        table = self.frames.query(render("health_event_payload", events=self.events),
                                  [pid, seq])
        payload = table.column("payload")[0].as_py() if table.num_rows else ""
        head = payload.split('"$value"', 1)[0] if payload.startswith('{"$type":"') else ""
        error = bad.get(head) or self._decode_error(payload) or "not JSON"
        what = _envelope_name(head) or "payload"
        return (f"event {seq} ({what}) cannot be decoded by the current code: {error}; "
                f"stored text starts {payload[:80]!r}")


def _envelope_name(head: str) -> str:
    """``bank.Deposited v2`` from an envelope head ``{"$type":"bank.Deposited","$version":2,``."""
    if not head:
        return ""
    try:
        value = orjson.loads(head.rstrip(",") + "}")
    except orjson.JSONDecodeError:
        return head[:60]
    name = str(value.get("$type", "?"))
    version = value.get("$version", 1)
    return f"{name} v{version}"


def _structure_problems(structure: _Structure, ids: str | None
                        ) -> tuple[list[str], dict[str, ReplayProblem]]:
    """Every stream id (sorted) and the first structural problem of each broken one."""
    facts = {row["persistence_id"]: row for row in structure.streams(ids)}
    problems: dict[str, list[ReplayProblem]] = {}

    def add(problem: ReplayProblem) -> None:
        problems.setdefault(str(problem.persistence_id), []).append(problem)

    suspicious: list[str] = []
    for pid, row in facts.items():
        deleted_to: int = row["deleted_to"]
        last: int = row["last_seq"]
        live: int = row["live_rows"]
        snap: int | None = row["latest_snapshot_seq"]
        head = max(last, deleted_to)
        if live and (row["live_first"] != deleted_to + 1 or live != last - deleted_to):
            suspicious.append(pid)
        start = snap if snap is not None else 0
        if deleted_to > start and (snap is None or snap <= head):
            covered = ("no snapshot covers them" if snap is None
                       else f"the latest snapshot is at {snap}")
            add(ReplayProblem("gap", f"events 1..{deleted_to} were deleted (compaction mark "
                              f"{deleted_to}) and {covered}: recovery needs event "
                              f"{start + 1}, which is gone", start + 1, persistence_id=pid))
        if snap is not None and snap > head:
            add(ReplayProblem("snapshot_ahead",
                              f"the latest snapshot is at sequence_nr {snap} but the journal "
                              f"head is {head} ({snap - head} events ahead, e.g. a snapshot "
                              f"store restored from a newer backup): recovery refuses it",
                              snap, persistence_id=pid))
    for pid, missing in structure.first_gaps(suspicious).items():
        row = facts[pid]
        snap = row["latest_snapshot_seq"]
        note = (f"; the latest snapshot at {snap} covers it, so recovery still works but a "
                f"full replay does not" if snap is not None and snap >= missing else
                "; recovery stops there")
        add(ReplayProblem("gap", f"event {missing} is missing (the journal holds events "
                          f"{row['deleted_to'] + 1}..{row['last_seq']} without it): "
                          f"a lost write{note}", missing, persistence_id=pid))
    for pid, (seq, message) in structure.undecodable(ids).items():
        add(ReplayProblem("undecodable", message, seq, persistence_id=pid))
    first = {pid: min(found, key=_order) for pid, found in problems.items()}
    return sorted(facts), first


def _order(problem: ReplayProblem) -> tuple[int, int]:
    seq = problem.sequence_nr if problem.sequence_nr is not None else 0
    return seq, PROBLEM_KINDS.index(problem.kind)


# -- folding (a behaviour) ------------------------------------------------------------------
async def _fold_one(journal: Any, snapshot_store: Any, pid: str,
                    on_event: Callable[[Any, Any], Any], initial: Any,
                    to_seq: int | None = None) -> ReplayProblem | None:
    last: list[int] = []

    def seen(step: ReplayStep) -> None:
        last[:] = [step.event.sequence_nr]

    try:
        await replay_state(journal, snapshot_store, pid, initial, on_event, to_seq,
                           on_step=seen)
    except Exception as exc:
        kind = classify_replay_error(exc)
        if kind == "on_event_failed":
            if last:
                failed = last[0] + 1
            else:
                snap = await select_snapshot(snapshot_store, pid)
                failed = (snap.sequence_nr if snap is not None else 0) + 1
            return ReplayProblem(kind, f"on_event raised at event {failed}: "
                                       f"{type(exc).__name__}: {exc}", failed, exc,
                                 persistence_id=pid)
        found = getattr(exc, "sequence_nr", None)
        seq = found if isinstance(found, int) else None
        if seq is None:
            pass
        elif kind != "snapshot_ahead" and seq - 1 > (last[0] if last else 0):
            # replay_state checks a whole page before folding it: fold once more up to
            # just before the broken event, where on_event may fail first.
            earlier = await _fold_one(journal, snapshot_store, pid, on_event, initial, seq - 1)
            if earlier is not None:
                return earlier
        return ReplayProblem(kind, str(exc), seq, exc, persistence_id=pid)
    return None


async def _fold_all(journal: Any, snapshot_store: Any, ids: list[str],
                    make: Callable[[str], tuple[Callable[[Any, Any], Any], Any]]
                    ) -> dict[str, ReplayProblem]:
    gate = asyncio.Semaphore(_FOLD_CONCURRENCY)

    async def one(pid: str) -> ReplayProblem | None:
        async with gate:
            on_event, initial = make(pid)
            return await _fold_one(journal, snapshot_store, pid, on_event, initial)

    found = await asyncio.gather(*(one(pid) for pid in ids))
    return {str(p.persistence_id): p for p in found if p is not None}


# -- the frame ------------------------------------------------------------------------------
def check_streams_frame(
    frames: FrameLoader,
    persistence_ids: str | Iterable[str] | None = None,
    *,
    codec: JsonCodec | None = None,
    fold: Callable[[list[str]], dict[str, ReplayProblem]] | None = None,
) -> pd.DataFrame:
    """One row per stream: persistence_id, ok, problem, sequence_nr, message.

    ``fold`` (given a check with a behaviour) folds the listed streams and returns the
    first problem of each broken one; the earlier of its problem and the structural
    one is reported.
    """
    ids_text, wanted = ids_json(persistence_ids)
    if not frames.table_exists(frames.tables.events):
        ids: list[str] = sorted(set(wanted)) if wanted else []
        first: dict[str, ReplayProblem] = {}
    else:
        structure = _Structure(frames, codec or default_codec)
        ids, first = _structure_problems(structure, ids_text)
    if fold is not None and ids:
        for pid, problem in fold(ids).items():
            current = first.get(pid)
            if current is None or _order(problem) < _order(current):
                first[pid] = problem
    rows = [
        (pid, pid not in first, first[pid].kind if pid in first else None,
         first[pid].sequence_nr if pid in first else None,
         first[pid].message if pid in first else "")
        for pid in ids
    ]
    frame = pd.DataFrame(rows, columns=HEALTH_COLUMNS)
    frame["ok"] = frame["ok"].astype(bool)
    frame["problem"] = frame["problem"].astype(object)
    frame["sequence_nr"] = frame["sequence_nr"].astype(pd.Int64Dtype())
    frame["message"] = frame["message"].astype(object)
    return frame


def fold_checker(run: Callable[[Any], Any], journal: Any, snapshot_store: Any,
                 make: Callable[[str], tuple[Callable[[Any, Any], Any], Any]]
                 ) -> Callable[[list[str]], dict[str, ReplayProblem]]:
    """A ``fold`` for :func:`check_streams_frame` running on the workbench loop."""

    def fold(ids: list[str]) -> dict[str, ReplayProblem]:
        result: dict[str, ReplayProblem] = run(_fold_all(journal, snapshot_store, ids, make))
        return result

    return fold


def with_health(streams: pd.DataFrame, checked: pd.DataFrame) -> pd.DataFrame:
    """``streams`` (a ``streams_frame()``) with the ``check_streams()`` columns ``ok``,
    ``problem``, ``problem_seq`` and ``problem_message`` merged in."""
    checked = checked.rename(columns={"sequence_nr": "problem_seq", "message": "problem_message"})
    checked["persistence_id"] = checked["persistence_id"].astype(object)
    frame = streams.assign(persistence_id=streams["persistence_id"].astype(object)).merge(
        checked, on="persistence_id", how="left")
    frame["ok"] = frame["ok"].fillna(True).astype(bool)
    frame["problem"] = frame["problem"].astype(object).where(frame["problem"].notna(), None)
    frame["problem_message"] = frame["problem_message"].fillna("").astype(object)
    frame["persistence_id"] = frame["persistence_id"].astype("category")
    return frame
