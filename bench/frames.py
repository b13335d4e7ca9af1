"""DataFrame scenarios (placeholder until the workbench lands)."""

from __future__ import annotations

from ._harness import Comparison, Context

__all__ = ["run_frame_memory", "run_journal_frame", "run_journal_frame_expanded", "run_tag_frame"]


async def run_journal_frame(ctx: Context) -> list[Comparison]:
    raise RuntimeError("not yet")


async def run_journal_frame_expanded(ctx: Context) -> list[Comparison]:
    raise RuntimeError("not yet")


async def run_tag_frame(ctx: Context) -> list[Comparison]:
    raise RuntimeError("not yet")


async def run_frame_memory(ctx: Context) -> list[Comparison]:
    raise RuntimeError("not yet")
