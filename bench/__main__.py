"""``python -m bench``: run every scenario and print one markdown table.

    python -m bench                 # full sizes (5-8 min on 2 cores), embedded PostgreSQL;
                                    # writes bench/RESULTS.md (unless --no-write)
    python -m bench --quick         # tiny sizes: a smoke run (seconds), writes nothing
    python -m bench --only append_single --only batches
    python -m bench --list          # scenario names
    python -m bench --scale         # cost curves at 1M, 5M, 10M events (bench/_scale.py);
                                    # writes bench/RESULTS-scale.md
    python -m bench --scale --scale-sizes 20k,50k   # the same curves, small (development)
    ACTORPG_DSN=postgresql://... python -m bench   # use an existing server

Progress goes to stderr; stdout carries only the table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from ._db import drop_schemas, provide_server
from ._harness import Comparison, Context, Sizes, log, render_table

Scenario = Callable[[Context], Awaitable[list[Comparison]]]

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _scenarios() -> dict[str, Scenario]:
    from . import dcb, explore, frames, health, live, projections, recovery, scale_out, schema, writes

    return {
        "append_single": writes.run_append_single,
        "append_concurrent": writes.run_append_concurrent,
        "batches": writes.run_batches,
        "boundary_locks": dcb.run_boundary_locks,
        "conditional_appends": dcb.run_conditional_appends,
        "condition_latency": dcb.run_condition_latency,
        "keyed_appends": dcb.run_keyed_appends,
        "metadata_reads": dcb.run_metadata_reads,
        "live_latency": live.run_live_latency,
        "recovery": recovery.run_recovery,
        "recovery_snapshot": recovery.run_recovery_snapshot,
        "recovery_upcast": schema.run_recovery_upcast,
        "journal_frame": frames.run_journal_frame,
        "journal_frame_expanded": frames.run_journal_frame_expanded,
        "tag_frame": frames.run_tag_frame,
        "frame_memory": frames.run_frame_memory,
        "check_streams": health.run_check_streams,
        "export_parquet": scale_out.run_export_parquet,
        "journal_dask": scale_out.run_journal_dask,
        "event_types": schema.run_event_types,
        "compare_replays": schema.run_compare_replays,
        "projections": projections.run_projections,
        "explore": explore.run_explore,
    }


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only this scenario (repeatable); see --list")
    parser.add_argument("--list", action="store_true", help="list the scenario names")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per case (median)")
    parser.add_argument("--write-results", nargs="?", const=str(RESULTS), default=None,
                        metavar="PATH", help="write the table to PATH (default bench/RESULTS.md; "
                        "a full run of every scenario does this unless --no-write)")
    parser.add_argument("--no-write", action="store_true",
                        help="do not write bench/RESULTS.md after a full run")
    parser.add_argument("--scale", action="store_true",
                        help="print the cost curves as the journal grows (1M, 5M, 10M events) "
                        "instead of the scenario table; writes bench/RESULTS-scale.md")
    parser.add_argument("--scale-sizes", default=None, metavar="SIZES",
                        help="journal sizes of --scale, e.g. 20k,50k (default 1M,5M,10M; "
                        "--quick: 20k,50k); only the default sizes write RESULTS-scale.md")
    return parser.parse_args(argv)


async def _run(ctx: Context, names: list[str], scenarios: dict[str, Scenario]) -> list[Comparison]:
    rows: list[Comparison] = []
    for name in names:
        started = time.perf_counter()
        try:
            rows.extend(await scenarios[name](ctx))
        except Exception as exc:  # one broken scenario must not hide the others
            log(f"{name} FAILED: {exc!r}")
            rows.append(Comparison(name, "–", "–", "–", None, ">=", 0.0,
                                   note=f"error: {type(exc).__name__}: {exc}"[:160]))
        log(f"{name} done in {time.perf_counter() - started:.1f}s")
    for cleanup in reversed(ctx.cleanups):
        try:
            await cleanup()
        except Exception as exc:
            log(f"cleanup failed: {exc!r}")
    return rows


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    scenarios = _scenarios()
    if args.list:
        print("\n".join(scenarios))
        return 0
    unknown = [n for n in args.only if n not in scenarios]
    if unknown:
        print(f"unknown scenario(s) {unknown}; choose from {list(scenarios)}", file=sys.stderr)
        return 2
    if args.scale:
        return _scale(args)
    names = args.only or list(scenarios)
    sizes = Sizes.quick() if args.quick else Sizes.full()
    if args.repeats is not None:
        sizes = Sizes(**{**sizes.__dict__, "repeats": args.repeats,
                         "frame_repeats": args.repeats})
    started = time.perf_counter()
    load_start = _load()
    with provide_server() as dsn:
        ctx = Context(dsn=dsn, sizes=sizes, quick=args.quick)
        try:
            rows = asyncio.run(_run(ctx, names, scenarios))
        finally:
            drop_schemas(ctx)
    elapsed = time.perf_counter() - started
    table = render_table(rows)
    print(table)
    footer = (f"\n{'quick' if args.quick else 'full'} run, {sizes.repeats} repeat(s) after a "
              f"warm-up, median; {elapsed:.0f} s total; Python {platform.python_version()}, "
              f"{os.cpu_count()} CPUs; load average {load_start} at the start, {_load()} at "
              f"the end; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(footer)
    write_to = args.write_results
    if write_to is None and not (args.quick or args.only or args.repeats or args.no_write):
        write_to = str(RESULTS)
    if write_to:
        Path(write_to).write_text(
            "# Benchmark results\n\nProduced by `make bench` (`python -m bench`, a full run);"
            " see README.md for the method.\n\n" + table + "\n" + footer + "\n", encoding="utf-8"
        )
        log(f"wrote {write_to}")
    failed = [r for r in rows if r.note.startswith("error:")]
    return 1 if failed else 0


def _load() -> str:
    """The 1/5/15-minute load averages (the machine is shared: context for every figure)."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _scale(args: argparse.Namespace) -> int:
    from . import _scale as scale

    try:
        sizes = (scale.parse_sizes(args.scale_sizes) if args.scale_sizes
                 else scale.QUICK_SIZES if args.quick else scale.FULL_SIZES)
    except ValueError as exc:
        print(f"--scale-sizes: {exc}", file=sys.stderr)
        return 2
    write = sizes == scale.FULL_SIZES and not args.no_write
    with provide_server() as dsn:
        ctx = Context(dsn=dsn, sizes=Sizes.quick() if args.quick else Sizes.full(),
                      quick=args.quick)
        try:
            return scale.main_scale(ctx, sizes, args.quick, write)
        finally:
            drop_schemas(ctx)


if __name__ == "__main__":
    sys.exit(main())
