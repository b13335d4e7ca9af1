"""A projection runner in its own OS process, for the tests that SIGKILL / SIGSTOP it.

    python -m tests.projections._child <json config>

config: ``url``, ``owner``, ``lease_s``, ``table`` (the read model), ``log`` (a JSON-lines
file: what the child saw, flushed at once so a killed child's log survives),
``mode``: ``"run"`` (run until killed) or ``"rebuild"`` (rebuild, then exit),
``batch_size``, ``rebuild_batch_size``, ``batch_timeout_s``.

The projection checks inside every batch that no other batch of it is in flight
(``pg_try_advisory_xact_lock`` must succeed: two owners committing at once would
collide on it) and logs a violation before failing the batch.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from actorpg_lab import PersistentEvent
from actorpg_lab.postgres import PostgresJournal
from actorpg_lab.projections import ProjectionContext, ProjectionRunner

from ._models import PgSink, Recorder

#: The advisory lock a batch holds (single-owner check).
BATCH_LOCK = 0x70726F6A  # "proj"


def _log(path: str, **record: Any) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"t": time.time(), **record}) + "\n")


async def main(config: dict[str, Any]) -> None:
    log = config["log"]
    journal = PostgresJournal(url=config["url"], pool_config={"min_size": 1, "max_size": 4})

    async def single_owner(ctx: ProjectionContext, events: list[PersistentEvent]) -> None:
        assert ctx.conn is not None
        row = await (await ctx.conn.execute("SELECT pg_try_advisory_xact_lock(%s)",
                                            [BATCH_LOCK])).fetchone()
        if not row or not row[0]:
            _log(log, op="violation", first=events[0].key)
            raise AssertionError("another batch of this projection is in flight")

    recorder = Recorder(PgSink(config["url"], config["table"]), hook=single_owner)
    runner = ProjectionRunner(
        journal, [recorder], lease_s=config["lease_s"], owner=config["owner"],
        batch_size=config.get("batch_size", 50),
        rebuild_batch_size=config.get("rebuild_batch_size", 500),
        batch_timeout_s=config.get("batch_timeout_s", 60.0))
    await runner.start()
    _log(log, op="started", owner=runner.owner)
    try:
        if config["mode"] == "rebuild":
            await runner.rebuild("recorder")
            _log(log, op="rebuilt")
            return
        fenced = 0
        while True:
            await asyncio.sleep(0.05)
            if runner.fenced_count != fenced:
                fenced = runner.fenced_count
                _log(log, op="fenced", count=fenced, error=str(runner.fenced[-1]))
    finally:
        await runner.stop()
        await journal.close()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
