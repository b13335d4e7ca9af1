"""Run code blocks in one namespace, like the cells of one notebook session.

``python -m tests.docs._session BLOCKS.json``: a JSON list of ``[label, source]``;
top-level ``await`` is allowed (as in Jupyter and ``python -m asyncio``), on one event
loop shared by the blocks.  The first failing block ends the session with its traceback.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import sys
from pathlib import Path


def run(blocks: list[tuple[str, str]]) -> None:
    namespace: dict[str, object] = {"__name__": "__main__"}
    loop = asyncio.new_event_loop()
    try:
        for label, source in blocks:
            code = compile(source, label, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            if code.co_flags & inspect.CO_COROUTINE:
                loop.run_until_complete(eval(code, namespace))
            else:
                exec(code, namespace)
            print(f"ran {label}", flush=True)
    finally:
        loop.close()


if __name__ == "__main__":
    run([(label, source) for label, source in json.loads(Path(sys.argv[1]).read_text())])
