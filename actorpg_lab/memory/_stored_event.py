"""The row of the in-memory journal (shared by the journal and its in-transaction twin)."""

from __future__ import annotations

__all__ = ["StoredEvent"]


class StoredEvent:
    """One stored event of the in-memory journal (its stream and key are where it is kept)."""

    __slots__ = ("metadata", "payload", "position", "sequence_nr", "tags", "timestamp")

    def __init__(self, sequence_nr: int, payload: str, tags: tuple[str, ...], timestamp: int,
                 position: int = 0, metadata: str | None = None) -> None:
        self.metadata = metadata
        self.sequence_nr = sequence_nr
        self.payload = payload
        self.tags = tags
        self.timestamp = timestamp
        self.position = position
