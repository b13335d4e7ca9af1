"""What a projection is: a named, versioned read model fed by the events of a tag filter."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from .._metadata import metadata
from .._tag_filter import TagFilter, as_tag_filter
from .._types import PersistentEvent
from .._validation import check_non_negative_int

__all__ = ["Projection", "ProjectionContext", "check_projection", "filter_json", "filter_of_json"]

#: The longest projection name accepted.
MAX_NAME = 200


class ProjectionContext:
    """What :meth:`Projection.setup`, :meth:`~Projection.apply` and
    :meth:`~Projection.reset` get: the batch's transaction.

    :ivar conn: the transaction's :class:`psycopg.AsyncConnection` on PostgreSQL (write the
        read model through it: those writes commit with the checkpoint or not at all);
        ``None`` on the in-memory journal.
    :ivar tx: the in-memory :class:`~actorpg_lab.memory._journal_within.MemoryTransaction`
        (``None`` on PostgreSQL).
    :ivar journal: appends inside that same transaction (a process manager's events
        commit with the checkpoint): ``append`` / ``read`` / ``highest_seq``.
    :ivar name: the projection's name; :ivar version: its version.
    :ivar rebuilding: whether the batch belongs to a rebuild.
    """

    __slots__ = ("_after_commit", "conn", "journal", "name", "rebuilding", "tx", "version")

    def __init__(self, *, conn: Any, tx: Any, journal: Any, name: str, version: int,
                 rebuilding: bool = False) -> None:
        self.conn = conn
        self.tx = tx
        self.journal = journal
        self.name = name
        self.version = version
        self.rebuilding = rebuilding
        self._after_commit: list[Callable[[], None]] = []

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the batch has committed (never when it rolls back): the
        way to update an in-process read model (a dict) exactly once."""
        self._after_commit.append(callback)

    def caused_by(self, event: PersistentEvent) -> contextlib.AbstractContextManager[Any]:
        """Within the block, ``ctx.journal`` appends without metadata of their own are
        caused by ``event``: they keep its ``correlation_id`` (or start one named after it)
        and get ``causation_id = "<persistence_id>#<sequence_nr>"`` (a process manager's
        events trace back to what triggered them; ``wb.trace`` follows the chain)::

            for event in events:
                with ctx.caused_by(event):
                    await ctx.journal.append(...)
        """
        trigger = f"{event.persistence_id}#{event.sequence_nr}"
        correlation = (event.metadata or {}).get("correlation_id") or trigger
        return metadata(correlation_id=correlation, causation_id=trigger)

    def __repr__(self) -> str:
        where = "postgres" if self.conn is not None else "memory"
        return (f"<ProjectionContext {self.name!r} v{self.version} {where}"
                f"{' rebuilding' if self.rebuilding else ''}>")


class Projection:
    """Subclass and set :attr:`name` (the checkpoint's key), :attr:`version` (a new
    version is a new checkpoint: its read model is built beside the old one) and
    :attr:`tag_filter` (a tag, a :class:`~actorpg_lab.TagFilter`, or ``None`` for every
    event); implement :meth:`apply` and usually :meth:`setup` and :meth:`reset`.

    A changed ``tag_filter`` under the same ``name`` and ``version`` is refused with
    :class:`~actorpg_lab.ProjectionConfigError`: bump the version.
    """

    name: str = ""
    version: int = 1
    tag_filter: str | TagFilter | None = None

    async def setup(self, ctx: ProjectionContext) -> None:
        """Create the read model (idempotently, e.g. ``CREATE TABLE IF NOT EXISTS``); runs
        in its own transaction each time a runner takes the projection over."""

    async def apply(self, ctx: ProjectionContext, events: list[PersistentEvent]) -> None:
        """Apply one batch of events (in tag-query order) through ``ctx.conn`` /
        ``ctx.journal`` / ``ctx.on_commit``; raising rolls the whole batch back."""
        raise NotImplementedError(f"{type(self).__name__} must implement apply()")

    async def reset(self, ctx: ProjectionContext) -> None:
        """Empty the read model (a rebuild runs this, then replays every event)."""

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} name={self.name!r} version={self.version} "
                f"tag_filter={self.tag_filter!r}>")


def check_projection(projection: object) -> tuple[str, int, TagFilter]:
    """Validate a projection's ``name``, ``version`` and ``tag_filter``."""
    if not isinstance(projection, Projection):
        raise TypeError(f"projections must be Projection instances, got "
                        f"{type(projection).__name__}: {projection!r:.200}")
    name = projection.name
    if not isinstance(name, str) or not name or "\x00" in name or len(name) > MAX_NAME:
        raise ValueError(f"{type(projection).__name__}.name must be a non-empty str without "
                         f"NUL of at most {MAX_NAME} characters: {name!r:.300}")
    version = check_non_negative_int(f"{type(projection).__name__}.version", projection.version)
    if version < 1 or version > 2**31 - 1:
        raise ValueError(f"{type(projection).__name__}.version must be between 1 and 2**31-1: "
                         f"{version!r}")
    raw = projection.tag_filter
    tag_filter = TagFilter() if raw is None else as_tag_filter(raw)
    return name, version, tag_filter


def filter_json(tag_filter: TagFilter) -> str:
    """The canonical JSON of a tag filter, as stored on the checkpoint."""
    return json.dumps({"all": list(tag_filter.all),
                       "any": list(tag_filter.any) if tag_filter.any_given else None,
                       "not": list(tag_filter.not_)}, separators=(",", ":"))


def filter_of_json(text: str) -> TagFilter:
    """The tag filter a checkpoint was stored with (the inverse of :func:`filter_json`)."""
    data = json.loads(text)
    return TagFilter(all=data["all"], any=data["any"], not_=data["not"])
