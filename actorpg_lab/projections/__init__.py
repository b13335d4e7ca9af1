"""Projections: exactly-once read models with checkpoints, takeover, rebuild and lag.

>>> class Balances(Projection):                                  # doctest: +SKIP
...     name = "balances"; version = 1; tag_filter = "bank"
...     async def setup(self, ctx):
...         await ctx.conn.execute("CREATE TABLE IF NOT EXISTS balances (...)")
...     async def apply(self, ctx, events):
...         await ctx.conn.execute("INSERT ... ON CONFLICT DO UPDATE ...", ...)
...     async def reset(self, ctx):
...         await ctx.conn.execute("TRUNCATE balances")
>>> async with ProjectionRunner(journal, [Balances()]) as runner:  # doctest: +SKIP
...     evs = await journal.append("acct-1", [JournalEntry(...)], 0)
...     await runner.wait_for(evs)                # read your writes

Why it is correct
-----------------
* **Exact order, nothing skipped.** Batches come from the journal's tag query:
  ``(position, persistence_id, sequence_nr)`` keys read only below the visibility
  horizon (see :mod:`actorpg_lab.query`), so no event can appear behind a checkpoint
  after it was passed, however late its transaction commits.  No gap heuristics.
* **Exactly once.** A batch is one transaction whose first statement moves the
  checkpoint from the exact key the batch was read after to its last key, only while
  the row still holds that key *and* this runner's owner id (compare-and-set); then
  ``apply`` writes through ``ctx.conn`` (and ``ctx.journal`` appends, a process
  manager); COMMIT.  Crash before COMMIT: nothing happened.  After COMMIT: the next
  owner starts after it.  Unknown outcome (connection lost at COMMIT): the runner
  re-reads the row and continues from what is there.
* **One active runner (fencing).** Ownership is a lease on the checkpoint row (server
  clock): taken when free or run out, renewed by every batch and by heartbeats every
  ``lease_s / 3``, given up at a clean stop.  A runner paused past its lease whose row
  was taken over fails the compare-and-set (owner changed) and commits nothing; one
  paused *inside* a batch holds the row lock, so the taker waits and then sees a
  renewed lease — or the batch's transaction-local idle timeout ends the paused session
  first.  Either way exactly one owner commits.
  Why a lease and not a session advisory lock: the lock would be held for as long as a
  frozen (SIGSTOP) or partitioned process keeps its TCP connection, so a standby could
  not take over and the frozen runner would resume as owner; "dead" could not be told
  from "busy" either.  The lease needs no extra connection and its compare-and-set rides
  on the UPDATE every batch makes anyway.
* Side effects outside ``ctx.conn`` (HTTP calls, ``ctx.on_commit`` callbacks interrupted
  by a crash) are at-least-once / at-most-once respectively, not exactly-once.

Errors: ``on_error="stop"`` (state ``failed``; the failing event and error in the status),
``"retry"`` (back off ×2 up to ``retry_max_s``), ``"skip"`` (the event goes to
``<checkpoints_table>_dead_letters`` with its error, in the transaction that moves the
checkpoint past it).  A failing batch is re-applied one event per transaction to find the
failing event: the read model then holds exactly the events before it.
"""

from .._errors import (
    ProjectionConfigError,
    ProjectionError,
    ProjectionFenced,
    ProjectionLagTimeout,
)
from ._checkpoint import Checkpoint, DeadLetter
from ._projection import Projection, ProjectionContext
from ._runner import ProjectionRunner
from ._status import STATES, Blocker, ProjectionStatus

__all__ = [
    "STATES",
    "Blocker",
    "Checkpoint",
    "DeadLetter",
    "Projection",
    "ProjectionConfigError",
    "ProjectionContext",
    "ProjectionError",
    "ProjectionFenced",
    "ProjectionLagTimeout",
    "ProjectionRunner",
    "ProjectionStatus",
]
