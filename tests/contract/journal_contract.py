"""Moved: the contract now ships as :mod:`actorpg_lab.testing.journal` (kept for imports)."""

from actorpg_lab.testing.journal import JournalContract

__all__ = ["JournalContract"]
