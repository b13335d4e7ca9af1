"""``python -m actorpg_lab.lab`` — the main command behind ``make lab`` / ``make demo``.

1. start (or reuse) the embedded PostgreSQL under ``./.actorpg/`` — or use ``--url`` /
   ``$ACTORPG_DSN``;
2. seed the demo data set once (bank accounts through the ``Account`` actor, snapshots
   pruned to ``keep_n``, durable-state counters written by racing writers); re-runs
   find it and skip seeding;
3. launch JupyterLab on ``notebooks/`` with ``ACTORPG_DSN`` set, so every notebook
   talks to this database; ``--summary`` prints a summary table and exits instead
   (what ``make demo`` and CI run).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .._dsn import holds_secret, redact_dsn
from .._embedded import EmbeddedPostgres
from ._connect import DEFAULT_DATA_DIR, connect, find_data_dir
from ._workbench import Workbench
from .demo import Account, ensure_demo

#: Printed when ``--url`` spells out a password (other local users can read it in ``ps``).
PASSWORD_IN_URL_WARNING = (
    "warning: --url holds a password; every local user can read this command line (e.g. "
    "with `ps`) while it and JupyterLab run. Pass the URL in $ACTORPG_DSN instead, or keep "
    "the password in a PGPASSFILE (~/.pgpass, mode 0600) and leave it out of the URL."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m actorpg_lab.lab",
        description="Start the embedded PostgreSQL, seed the demo data once and open "
                    "JupyterLab on the notebooks.",
    )
    parser.add_argument("--url", default=None,
                        help="database URL/conninfo (default: $ACTORPG_DSN, else embedded); "
                             "leave passwords out of it (other users see it in `ps`): use "
                             "$ACTORPG_DSN or a PGPASSFILE")
    parser.add_argument("--data-dir", default=None,
                        help=f"embedded server data directory (default: ./{DEFAULT_DATA_DIR}, "
                             f"or the nearest parent folder's)")
    parser.add_argument("--notebooks", default="notebooks",
                        help="folder JupyterLab opens (default: %(default)s)")
    parser.add_argument("--no-browser", action="store_true",
                        help="do not open a browser (JupyterLab still starts unless --summary)")
    parser.add_argument("--summary", action="store_true",
                        help="print a summary of the demo data and exit (no JupyterLab)")
    parser.add_argument("--port", type=int, default=None, help="JupyterLab port")
    parser.add_argument("--stop-server", action="store_true",
                        help="stop the embedded PostgreSQL (data is kept) and exit")
    parser.add_argument("--verbose", action="store_true",
                        help="show JupyterLab's own log lines (default: warnings only)")
    return parser


#: The notebook JupyterLab opens first (when the folder has it) and the next steps.
FIRST_NOTEBOOK = "01_explore_journal.ipynb"


def first_notebook(notebooks: Path) -> str | None:
    """The notebook to open first: :data:`FIRST_NOTEBOOK`, else the first ``*.ipynb``."""
    if (notebooks / FIRST_NOTEBOOK).is_file():
        return FIRST_NOTEBOOK
    found = sorted(p.name for p in notebooks.glob("*.ipynb"))
    return found[0] if found else None


def where_to_start(notebooks: Path) -> str:
    """The lines printed before JupyterLab starts: what to open first."""
    first = first_notebook(notebooks)
    lines = ["", "where to start:"]
    if first is not None:
        lines.append(f"  1. {notebooks / first}  (JupyterLab opens it): load the journal "
                     f"into pandas")
    lines += [f"  2. {notebooks}/02_replay_debugging.ipynb: find and replay the broken streams"
              if (notebooks / "02_replay_debugging.ipynb").is_file() else
              "  2. the other notebooks, in order",
              "  README.md, section 'The workbench', for the API in one page",
              "  stop with Ctrl-C (twice); the database keeps running: make stop", ""]
    return "\n".join(lines)


def summary_table(wb: Workbench) -> pd.DataFrame:
    """What is in the database: one row per kind of data."""
    streams = wb.streams_frame()
    durable = wb.durable_state_frame()
    snaps = wb.snapshots_frame()
    tagged_large = len(wb.tag_frame("large"))
    rows = [
        ("event streams", len(streams), f"{int(streams['events'].sum())} events"),
        ("events tagged 'large'", tagged_large, "tag index"),
        ("snapshots kept", len(snaps),
         f"{int((streams['snapshots'] > 0).sum())} streams with snapshots"),
        ("events to replay on recovery", int(streams["events_to_replay"].sum()),
         f"max {int(streams['events_to_replay'].max()) if len(streams) else 0} per stream"),
        ("durable-state keys", len(durable),
         f"revisions {int(durable['revision'].sum()) if len(durable) else 0}"),
    ]
    broken = wb.check_streams(Account, only_problems=True)
    rows.append(("streams that fail recovery", len(broken),
                 ", ".join(f"{p} ({k} @{s})" for p, k, s in zip(
                     broken["persistence_id"], broken["problem"], broken["sequence_nr"],
                     strict=True)) or "none; notebook 02 shows how to find them"))
    return pd.DataFrame(rows, columns=["what", "count", "detail"])


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.stop_server:
        server = EmbeddedPostgres(Path(args.data_dir) if args.data_dir else find_data_dir())
        running = server.is_running()
        server.stop()
        print(f"embedded PostgreSQL in {server.pgdata} "
              f"{'stopped' if running else 'was not running'}")
        return 0
    if args.url is not None and holds_secret(args.url):
        print(PASSWORD_IN_URL_WARNING, file=sys.stderr)
    url = args.url or os.environ.get("ACTORPG_DSN") or None
    with connect(url, data_dir=args.data_dir) as wb:
        result = ensure_demo(wb)
        if result.get("seeded"):
            print(f"seeded the demo data: {result}")
        else:
            print("demo data already present; not seeding again")
        if args.summary:
            print(summary_table(wb).to_string(index=False))
            if wb.embedded is not None:
                print("the embedded server keeps running for the next session; stop it with "
                      "`python -m actorpg_lab.lab --stop-server`")
            return 0
        dsn = wb.url
    notebooks = Path(args.notebooks)
    if not notebooks.is_dir():
        print(f"no notebooks folder at {notebooks.absolute()}", file=sys.stderr)
        return 2
    command = jupyter_command(notebooks, no_browser=args.no_browser, port=args.port,
                              verbose=args.verbose)
    env = {**os.environ, "ACTORPG_DSN": dsn}
    print(f"starting JupyterLab on {notebooks}/ (ACTORPG_DSN={redact_dsn(dsn)})")
    print(where_to_start(notebooks), flush=True)
    return _run_jupyter(command, env)


def jupyter_command(notebooks: Path, *, no_browser: bool = False,
                    port: int | None = None, verbose: bool = False) -> list[str]:
    """The JupyterLab command line: opens on the first notebook rather than the
    launcher, logs warnings only unless ``verbose`` (its URL and token line still show);
    as root it adds ``--allow-root`` and says so."""
    command = [sys.executable, "-m", "jupyter", "lab", f"--notebook-dir={notebooks}"]
    first = first_notebook(notebooks)
    if first is not None:
        command.append(f"--LabApp.default_url=/lab/tree/{first}")
    if not verbose:
        command += ["--log-level=WARN", "--LabApp.log_level=WARN"]
    if no_browser:
        command.append("--no-browser")
    if port is not None:
        command.append(f"--port={port}")
    if os.geteuid() == 0:
        command.append("--allow-root")
        print("note: running as root, so JupyterLab is started with --allow-root: its kernels "
              "and terminals run as root too (run `make lab` as an ordinary user to avoid it)",
              file=sys.stderr)
    return command


def _run_jupyter(command: list[str], env: dict[str, str]) -> int:
    """Run JupyterLab until it exits: Ctrl-C is JupyterLab's to handle (it asks to
    confirm), SIGTERM/SIGHUP sent to this process are passed on to it."""
    proc = subprocess.Popen(command, env=env)

    def forward(signum: int, _frame: object) -> None:
        proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGHUP)}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    raise SystemExit(main())
