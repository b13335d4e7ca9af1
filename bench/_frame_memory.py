"""Peak-memory probe for ``journal_frame``, run as ``python -m bench._frame_memory URL N``.

Why the resident-set high-water mark in a fresh process rather than :mod:`tracemalloc`:
the frame is built from Arrow buffers allocated by Arrow's own memory pool and by
libpq/ADBC in C, which tracemalloc never sees; the RSS peak sees every byte the load
touched (allocator slack counts against us, so the ratio is conservative).

Why ``/proc/self/status`` (``VmHWM``) and not ``resource.getrusage().ru_maxrss``: Linux
carries ``ru_maxrss`` across ``fork``/``exec``, so a probe started from the big bench
process would inherit the parent's peak (we saw a 2 GB "baseline" and a delta of 0).
``VmHWM`` belongs to the new address space, and writing ``5`` to
``/proc/self/clear_refs`` resets it to the current RSS right before the load.

The probe imports everything and runs tiny loads first (so libraries, connections and
caches are in the baseline), then loads the full frame once.  ``peak_delta`` = peak RSS
during the load - RSS before it; ``frame_bytes`` = ``memory_usage(deep=True).sum()``.
Prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path


def _status(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def main() -> None:
    url, n = sys.argv[1], int(sys.argv[2])
    from actorpg_lab import lab

    wb = lab.connect(url, quiet=True)
    try:
        warm = wb.journal_frame(limit=1000, progress=False)
        warm_exp = wb.journal_frame(limit=10, expand=True, progress=False)
        del warm, warm_exp
        method = "VmHWM (reset via clear_refs)"
        before = _status("VmRSS")
        if before is None or not _reset_peak():
            method = "ru_maxrss"
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        frame = wb.journal_frame(progress=False)
        after = (_status("VmHWM") if method.startswith("VmHWM")
                 else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        assert after is not None
        if len(frame) != n:
            raise SystemExit(f"expected {n} rows, got {len(frame)}")
        frame_bytes = int(frame.memory_usage(deep=True).sum())
    finally:
        wb.close()
    print(json.dumps({"peak_delta": after - before, "frame_bytes": frame_bytes,
                      "baseline": before, "rows": n, "method": method}))


if __name__ == "__main__":
    main()
