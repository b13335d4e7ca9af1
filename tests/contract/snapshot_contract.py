"""Moved: the contract now ships as :mod:`actorpg_lab.testing.snapshot_store` (kept for imports)."""

from actorpg_lab.testing.snapshot_store import SnapshotStoreContract

__all__ = ["SnapshotStoreContract"]
