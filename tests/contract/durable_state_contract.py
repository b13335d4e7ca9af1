"""Moved: the contract now ships as :mod:`actorpg_lab.testing.durable_state_store` (kept for imports)."""

from actorpg_lab.testing.durable_state_store import DurableStateContract

__all__ = ["DurableStateContract"]
