"""The replayer's "stored as" line: how a stored event was read (type, stored and current
version, the upcasters run in between)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..._codec import JsonCodec
from ..._errors import DecodeError
from ..db.statements import event_type_of, render
from ..frames.columns import parse_kind

if TYPE_CHECKING:
    from ..frames.loader import FrameLoader

__all__ = ["StoredVersion", "stored_version", "stored_versions"]


@dataclass(frozen=True)
class StoredVersion:
    """How a stored event was read: the name and version in its row, the version the
    current code registers, and the upcasters run in between (``"v1->v2 module.fn"``)."""

    type_name: str
    stored_version: int | None
    current_version: int | None
    chain: tuple[str, ...]
    error: str | None = None

    def __str__(self) -> str:
        stored = f"stored as {self.type_name} v{self.stored_version}"
        if self.error is not None:
            return f"{stored}: {self.error}"
        if self.current_version is None:
            return f"{stored} (not registered)"
        if not self.chain:
            return f"{stored} (current version)"
        return f"{stored}, read as v{self.current_version} via " + ", ".join(self.chain)


def stored_versions(frames: FrameLoader, persistence_id: str) -> dict[int, tuple[str, int | None]]:
    """``{sequence_nr: (type name, version)}`` of the typed events of one stream."""
    if not frames.table_exists(frames.tables.events):
        return {}
    table = frames.query(render("event_heads", events=frames.tables.events,
                                type_of_payload=event_type_of("e")), [persistence_id])
    heads: dict[int, tuple[str, int | None]] = {}
    for seq, kind in zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True):
        name, version = parse_kind(kind)
        if name is not None:
            heads[seq] = (name, version)
    return heads


def stored_version(codec: JsonCodec, name: str, version: int | None) -> StoredVersion:
    """The :class:`StoredVersion` of a row stored as ``name`` at ``version``."""
    current = codec.current_version(name)
    if current is None or version is None:
        return StoredVersion(name, version, current, ())
    try:
        chain = tuple(codec.upcast_chain(name, version))
    except DecodeError as exc:
        return StoredVersion(name, version, current, (), exc.reason)
    return StoredVersion(name, version, current, chain)
