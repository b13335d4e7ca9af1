"""Peak-memory probes shared by the export and iterator tests: a journal seeded with
``COPY`` and a probe script run in a fresh interpreter that reports its peak resident-set
growth (``/proc/self/status`` VmHWM after ``clear_refs``) as one JSON line."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

#: Prepended to every probe body: the imports and ``status``/``reset_peak`` helpers.
PRELUDE = r"""
import json, shutil, sys, tempfile
from pathlib import Path
from actorpg_lab.lab import connect

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise SystemExit("no " + field)

def reset_peak():
    Path("/proc/self/clear_refs").write_text("5")   # VmHWM := VmRSS
"""

PAYLOAD = '{"$type":"bench.Deposited","$value":{"account":"%s","amount":%d,"note":"%s"}}'


def seed_journal(pg_url: str, *, streams: int, per_stream: int, note: str) -> None:
    """Create the journal's tables, then ``COPY`` ``streams`` x ``per_stream`` events
    (payload note ``note``, one of three tags each) straight into them."""
    import psycopg

    from actorpg_lab.postgres import PostgresJournal

    journal = PostgresJournal(url=pg_url)

    async def create() -> None:
        await journal.highest_seq("x")
        await journal.close()

    asyncio.run(create())
    with psycopg.connect(pg_url) as conn, conn.cursor() as cur:
        with cur.copy("COPY events (persistence_id, sequence_nr, payload, tags, timestamp) "
                      "FROM STDIN") as copy:
            for k in range(streams):
                pid = f"account-{k:04d}"
                copy.write("".join(f"{pid}\t{s}\t{PAYLOAD % (pid, s % 1000, note)}\t"
                                   f"tag-{s % 3}\t{1_700_000_000_000 + s}\n"
                                   for s in range(1, per_stream + 1)))
        conn.commit()


def run_probe(body: str, tmp_path: Path, *args: str, timeout: float) -> dict[str, Any]:
    """Run ``PRELUDE + body`` with ``args`` in a fresh interpreter; its last stdout line,
    parsed as JSON."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    script = tmp_path / "probe.py"
    script.write_text(PRELUDE + body, encoding="utf-8")
    result = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                            text=True, env=env, timeout=timeout, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed
