"""Beyond-one-machine scenarios on the frame data set (1M events, 1,000 streams):

* ``export_parquet``: ``Workbench.export_parquet`` of the whole journal (16 pid-hash
  buckets, two at once) vs the raw ADBC read rate of the journal_frame SELECT (record
  batches streamed and dropped: what any export must at least do), and its peak memory
  in a fresh subprocess (like ``frame_memory``) vs the journal_frame DataFrame's own
  memory — an export holds a few row groups, not the journal (the note gives the peak
  of the same probe on 30% of the streams: it should not move with the journal's size);
* ``journal_dask``: ``Workbench.journal_dask().compute(scheduler="threads")`` (partitions
  of ~1M/4 events loaded by the threads straight from PostgreSQL) vs
  ``journal_frame(progress=False)`` in the same run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from ._harness import Comparison, Context, fmt_rate, interleave, log, rate
from .frames import JOURNAL_SQL, _count, _prepare

__all__ = ["run_export_parquet", "run_journal_dask"]

EXPORT_PROBE = r"""
import json, sys, tempfile, shutil
from pathlib import Path
from actorpg_lab.lab import connect

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return None

url = sys.argv[1]
# argv[2]: export only the first N streams (account-00000 ...), to see whether the peak
# grows with the journal; absent: the whole journal.
ids = [f"account-{k:05d}" for k in range(int(sys.argv[2]))] if len(sys.argv) > 2 else None
wb = connect(url, quiet=True)
folder = Path(tempfile.mkdtemp(prefix="actorpg-bench-export-"))
try:
    wb.export_parquet(folder / "warm", persistence_ids=["account-00000"])
    before = status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    files = wb.export_parquet(folder / "all", persistence_ids=ids)
    peak = status("VmHWM")
    size = sum(f.stat().st_size for f in files)
finally:
    shutil.rmtree(folder, ignore_errors=True)
    wb.close()
print(json.dumps({"peak_delta": peak - before, "files": len(files), "bytes": size}))
"""


def _raw_read(data: Any, n: int) -> Any:
    async def step() -> float:
        started = time.perf_counter()
        rows = 0
        with data.adbc.cursor() as cur:
            cur.execute(JOURNAL_SQL)
            for batch in cur.fetch_record_batch():
                rows += batch.num_rows
        elapsed = time.perf_counter() - started
        if rows != n:
            raise AssertionError(f"ADBC read: expected {n} rows, got {rows}")
        return rate(n, elapsed)

    return step


async def run_export_parquet(ctx: Context) -> list[Comparison]:
    data = await _prepare(ctx)
    n = data.n
    folder = tempfile.mkdtemp(prefix="actorpg-bench-export-")
    ctx.cleanups.append(_remover(folder))

    async def ours() -> float:
        started = time.perf_counter()
        files = data.wb.export_parquet(os.path.join(folder, "ds"), overwrite=True)
        elapsed = time.perf_counter() - started
        if not files:
            raise AssertionError("export_parquet wrote no file")
        return rate(n, elapsed)

    log(f"export_parquet of {n} events vs the raw ADBC read of the same SELECT")
    rates = await interleave({"ours": ours, "raw": _raw_read(data, n)}, ctx.sizes.frame_repeats)
    rows = [Comparison(f"export_parquet of {_count(n)} events (16 pid-hash buckets)",
                       fmt_rate(rates["ours"], "rows/s"),
                       "raw ADBC read of the journal_frame SELECT (batches dropped)",
                       fmt_rate(rates["raw"], "rows/s"), rates["ours"] / rates["raw"], ">=", 0.7)]
    probe = _memory_probe(data.url)
    # The same probe on 30% of the streams: a bounded export peaks the same at both sizes.
    streams = ctx.sizes.frame_streams
    part = _memory_probe(data.url, max(1, streams * 3 // 10))
    part_events = n * max(1, streams * 3 // 10) // streams
    frame_bytes = ctx.extra.get("frame_bytes") or _frame_bytes(data)
    rows.append(Comparison(
        f"peak memory of export_parquet({_count(n)})",
        f"{probe['peak_delta'] / 2**20:.0f} MiB peak RSS Δ",
        "journal_frame()'s DataFrame memory (what loading it would hold)",
        f"{frame_bytes / 2**20:.0f} MiB", probe["peak_delta"] / frame_bytes, "<=", 0.5,
        note=(f"{probe['files']} files, {probe['bytes'] / 2**20:.0f} MiB on disk; "
              f"{part['peak_delta'] / 2**20:.0f} MiB peak for {_count(part_events)} events")))
    return rows


def _frame_bytes(data: Any) -> int:
    frame = data.wb.journal_frame(progress=False)
    size = int(frame.memory_usage(deep=True).sum())
    del frame
    return size


def _memory_probe(url: str, streams: int | None = None) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.getcwd(), *filter(None, [os.environ.get("PYTHONPATH")])])}
    args = [url] if streams is None else [url, str(streams)]
    result = subprocess.run([sys.executable, "-c", EXPORT_PROBE, *args], capture_output=True,
                            text=True, env=env, check=False, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"export memory probe failed: {result.stderr.strip()[-500:]}")
    probe: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    if probe["peak_delta"] <= 0:
        raise RuntimeError(f"export memory probe measured nothing: {probe}")
    return probe


async def run_journal_dask(ctx: Context) -> list[Comparison]:
    data = await _prepare(ctx)
    n = data.n
    parts = 4

    async def ours() -> float:
        started = time.perf_counter()
        got = len(data.wb.journal_dask(npartitions=parts).compute(scheduler="threads"))
        elapsed = time.perf_counter() - started
        if got != n:
            raise AssertionError(f"journal_dask: expected {n} rows, got {got}")
        return rate(n, elapsed)

    async def frame() -> float:
        started = time.perf_counter()
        got = len(data.wb.journal_frame(progress=False))
        elapsed = time.perf_counter() - started
        if got != n:
            raise AssertionError(f"journal_frame: expected {n} rows, got {got}")
        return rate(n, elapsed)

    log(f"journal_dask({parts} partitions, threads) of {n} events vs journal_frame")
    rates = await interleave({"ours": ours, "frame": frame}, ctx.sizes.frame_repeats)
    return [Comparison(f"journal_dask of {_count(n)} events, {parts} partitions, "
                       "threaded compute",
                       fmt_rate(rates["ours"], "rows/s"), "journal_frame(progress=False)",
                       fmt_rate(rates["frame"], "rows/s"), rates["ours"] / rates["frame"],
                       ">=", 0.5)]


def _remover(folder: str) -> Any:
    async def remove() -> None:
        shutil.rmtree(folder, ignore_errors=True)

    return remove
