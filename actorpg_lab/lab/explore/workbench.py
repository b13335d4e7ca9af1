"""``wb.explore()`` wired to one workbench: the read model over its pool and tables, the
problem checks through its ``check_streams``, the replayer through its ``replay``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Unpack

from ..frames.filter import ExploreKeywords
from .browser import StreamBrowser, problems_of
from .stream_filter import StreamFilter
from .view import Explorer, fields_fold

if TYPE_CHECKING:
    from .._workbench import Workbench
    from ..replay.replayer import Replayer

__all__ = ["open_explorer", "replay_at", "stream_browser"]


def open_explorer(wb: Workbench, behaviour: Any, *, prefix: str | None, event_type: str | None,
                  order: str, page_size: int, problems: bool,
                  **where: Unpack[ExploreKeywords]) -> Explorer:
    """The explorer app on ``wb`` (what :meth:`Workbench.explore` returns), its filter
    validated before any query runs."""
    flt = StreamFilter.parse(prefix=prefix, event_type=event_type, order=order, **where)
    return Explorer(stream_browser(wb, page_size=page_size, problems=problems),
                    lambda pid, seq: replay_at(wb, behaviour, pid, seq), flt=flt)


def stream_browser(wb: Workbench, *, page_size: int = 25, problems: bool = True
                   ) -> StreamBrowser:
    """The explorer's read model on ``wb`` (:meth:`Workbench.stream_browser`)."""
    def check(ids: list[str]) -> dict[str, tuple[str, int | None, str]]:
        return problems_of(wb.check_streams(persistence_ids=ids))

    return StreamBrowser(wb.run, wb.pool, wb.tables, page_size=page_size,
                         check=check if problems else None, url=wb.url)


def replay_at(wb: Workbench, behaviour: Any, persistence_id: str, sequence_nr: int
              ) -> Replayer:
    """A replayer of ``persistence_id`` at ``sequence_nr`` (*Open in replayer*), folding
    with ``behaviour`` (default: :func:`~.view.fields_fold`).  It starts from the newest
    snapshot at or below the event, like recovery would to get there; a stream that
    cannot be folded that far opens at its first problem instead."""
    if behaviour is None:
        behaviour = (fields_fold, dict)
    replayer = wb.replay(behaviour, persistence_id, snapshot=sequence_nr)
    if replayer.start_seq <= sequence_nr <= replayer.last_position:
        replayer.seek(sequence_nr)
    return replayer
