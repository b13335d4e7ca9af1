"""Peak-memory probe for ``journal_frame``, run as ``python -m bench._frame_memory URL N``.

Why ``ru_maxrss`` in a fresh process rather than :mod:`tracemalloc`: the frame is built
from Arrow buffers allocated by Arrow's own memory pool and by libpq/ADBC in C, which
tracemalloc never sees; the resident-set high-water mark sees every byte the load
touched.  The probe imports everything and runs a tiny load first (so libraries,
connections and caches are in the baseline), then loads the full frame once.
``peak_delta`` = maxrss after - maxrss before; ``frame_bytes`` =
``DataFrame.memory_usage(deep=True).sum()``.  Allocator slack counts against us, so
the ratio is conservative.  Prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import sys


def main() -> None:
    url, n = sys.argv[1], int(sys.argv[2])
    from actorpg_lab import lab

    wb = lab.connect(url, quiet=True)
    try:
        warm = wb.journal_frame(limit=1000, progress=False)
        warm_exp = wb.journal_frame(limit=10, expand=True, progress=False)
        del warm, warm_exp
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        frame = wb.journal_frame(progress=False)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        if len(frame) != n:
            raise SystemExit(f"expected {n} rows, got {len(frame)}")
        frame_bytes = int(frame.memory_usage(deep=True).sum())
    finally:
        wb.close()
    print(json.dumps({"peak_delta": after - before, "frame_bytes": frame_bytes,
                      "baseline": before, "rows": n}))


if __name__ == "__main__":
    main()
