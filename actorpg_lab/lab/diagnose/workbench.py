"""``wb.diagnose``: what is wrong with the stored history, and what a change would do.

``wb.check_streams`` (also a common verb on the workbench itself), ``decode_check``,
``event_types_frame`` and ``compare_replays``; each returns a pandas DataFrame.  The
workbench keeps them under their old names too (``wb.decode_check()`` is
``wb.diagnose.decode_check()``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Unpack

import pandas as pd

from ..._codec import JsonCodec
from ..frames.filter import StreamKeywords, filter_signature, parse_where
from ..replay.behaviour import resolve_behaviour

if TYPE_CHECKING:
    from .._workbench import Workbench

__all__ = ["Diagnosis"]


class Diagnosis:
    """The diagnosis verbs of one :class:`~actorpg_lab.lab.Workbench` (``wb.diagnose``)."""

    def __init__(self, wb: Workbench) -> None:
        self._wb = wb

    def __repr__(self) -> str:
        return f"<Diagnosis of {self._wb!r}>"

    @filter_signature(StreamKeywords)
    def check_streams(self, behaviour: Any = None, *, only_problems: bool = False,
                      **where: Unpack[StreamKeywords]) -> pd.DataFrame:
        """Find the streams whose recovery would fail: one row per stream with
        ``persistence_id``, ``ok``, ``problem`` (``None``, ``"gap"``,
        ``"snapshot_ahead"``, ``"undecodable"`` or ``"on_event_failed"``),
        ``sequence_nr`` (where the first problem is) and ``message``.

        Without ``behaviour`` the structure is checked in SQL at the speed of a scan: a
        missing event above the compaction mark, a deleted prefix no snapshot covers, a
        latest snapshot beyond the journal head, payloads the current code cannot decode
        (one sample per envelope type/version, plus any payload that is not JSON).  With
        ``behaviour`` (an actor class or instance, or ``(on_event, initial_state)``, as
        for :meth:`~actorpg_lab.lab.Workbench.replay`) every stream is also folded like
        recovery (latest snapshot, then the events after it), which finds
        ``on_event_failed`` and decodes every event.  ``only_problems=True`` keeps the
        broken streams only.  Filter: ``persistence_ids`` (one id or several).

        >>> wb.check_streams(Account, only_problems=True)
        >>> wb.replay(Account, "account-07")   # opens at its first problem
        """
        from .streams import check_streams_frame, fold_checker

        ids = parse_where("check_streams", StreamKeywords, where).persistence_ids
        wb = self._wb
        fold = None
        if behaviour is not None:
            resolve_behaviour(behaviour, "check-streams")  # bad behaviours fail up front

            def make(pid: str) -> tuple[Any, Any]:
                on_event, initial, _label = resolve_behaviour(behaviour, pid)
                return on_event, initial

            fold = fold_checker(wb.run, wb.journal, wb.snapshot_store, make)
        frame = check_streams_frame(wb.frames, ids,
                                    codec=getattr(wb.journal, "codec", None), fold=fold)
        if only_problems:
            frame = frame[~frame["ok"]].reset_index(drop=True)
        return frame

    @filter_signature(StreamKeywords)
    def event_types_frame(self, *, codec: JsonCodec | None = None,
                          **where: Unpack[StreamKeywords]) -> pd.DataFrame:
        """The event types in the journal: one row per type, version and set of field
        names with ``event_type``, ``version``, ``events``, ``streams``, ``first_seen``,
        ``last_seen``, ``fields`` (sorted tuple), ``undecodable`` (events the current
        code cannot decode), ``registration`` (``"registered"``, ``"alias"``,
        ``"implicit"`` -- an unregistered dataclass stored under its module path --,
        ``"unregistered"``), ``current_version`` and ``error`` (why a sample does not
        decode).  Computed in SQL over the JSON text; see
        :mod:`actorpg_lab.lab.diagnose.event_types`.  ``codec`` checks another codec
        (e.g. the upcasters about to be deployed) instead of the workbench's.

        >>> wb.event_types_frame().query("undecodable > 0")
        """
        from .event_types import event_types_frame

        ids = parse_where("event_types_frame", StreamKeywords, where).persistence_ids
        return event_types_frame(self._wb.frames, codec or self._wb.codec, ids)

    @filter_signature(StreamKeywords)
    def decode_check(self, *, codec: JsonCodec | None = None,
                     **where: Unpack[StreamKeywords]) -> pd.DataFrame:
        """Every event that does not decode with the current code (or ``codec``):
        ``persistence_id``, ``sequence_nr``, ``event_type``, ``version``, ``error``;
        empty when all decode.  Decodes every event: the list to fix upcasters against.

        >>> wb.decode_check()            # after changing a class: what no longer reads
        """
        from .event_types import decode_check_frame

        ids = parse_where("decode_check", StreamKeywords, where).persistence_ids
        return decode_check_frame(self._wb.frames, codec or self._wb.codec, ids)

    @filter_signature(StreamKeywords)
    def compare_replays(self, before: Any, after: Any, *,
                        before_codec: JsonCodec | None = None,
                        after_codec: JsonCodec | None = None,
                        **where: Unpack[StreamKeywords]) -> pd.DataFrame:
        """Replay every selected stream from scratch with two behaviours (what
        :meth:`~actorpg_lab.lab.Workbench.replay` accepts: the old and the new actor, or
        ``(on_event, initial)``) and, optionally, two codecs (old and new upcasters;
        default: the workbench's).

        One row per stream: ``persistence_id``, ``events``, ``diverged_at`` (first
        sequence number where the states differ or only one side fails, ``<NA>`` if
        none), ``before_state``, ``after_state``, ``diff`` (``None`` when the final
        states are equal), ``before_error``, ``after_error``.  "What will my fix change?"

        >>> wb.compare_replays(BuggyAccount, FixedAccount).dropna(subset=["diverged_at"])
        """
        from .compare import Side, compare_replays_frame

        ids = parse_where("compare_replays", StreamKeywords, where).persistence_ids
        sides = []
        for name, behaviour, codec in (("before", before, before_codec),
                                       ("after", after, after_codec)):
            resolve_behaviour(behaviour, f"compare-replays-{name}")  # fail up front
            if codec is not None and not isinstance(codec, JsonCodec):
                raise TypeError(f"{name}_codec must be a JsonCodec or None, got {codec!r}")

            def make(pid: str, behaviour: Any = behaviour) -> tuple[Any, Any]:
                on_event, initial, _label = resolve_behaviour(behaviour, pid)
                return on_event, initial

            sides.append(Side(make, codec or self._wb.codec))
        return compare_replays_frame(self._wb.frames, sides[0], sides[1], ids)
