"""Run the doctests of the public modules: ``python -m tests.docs._doctests core|lab``.

Every docstring example of a public name (``__all__`` of each public package, and the
members of those classes) is run.  An example with expected output must print it; an
example without one (most: a call whose result is a DataFrame or a chart) must run
without raising.  ``core`` runs the stores' and actors' packages; ``lab`` the workbench
(with ``wb``, ``lab`` and the demo actors in scope, on ``$ACTORPG_DSN``) — separately,
because the demo registers event types that the core examples register too.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import sys
from typing import Any

CORE = ("actorpg_lab", "actorpg_lab.actors", "actorpg_lab.memory", "actorpg_lab.postgres",
        "actorpg_lab.projections", "actorpg_lab.query", "actorpg_lab.testing")
LAB = ("actorpg_lab.lab", "actorpg_lab.lab.demo")


class _RunOrMatch(doctest.OutputChecker):
    """No expected output: the example only has to run; else the output must match."""

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        return not want.strip() or super().check_output(want, got, optionflags)


def _objects(packages: tuple[str, ...]) -> list[Any]:
    found: list[Any] = []
    for name in packages:
        package = importlib.import_module(name)
        found.append(package)
        found += [getattr(package, n) for n in package.__all__]
    if "actorpg_lab.lab" in packages:  # the workbench's accessors (wb.diagnose, ...)
        from actorpg_lab.lab.diagnose.workbench import Diagnosis
        from actorpg_lab.lab.frames.bulk import Bulk
        from actorpg_lab.lab.history.workbench import History
        from actorpg_lab.lab.projections.workbench import Projections

        found += [Diagnosis, History, Bulk, Projections]
    return [o for o in found if inspect.ismodule(o) or inspect.isclass(o) or inspect.isfunction(o)]


def main(group: str) -> int:
    packages = CORE if group == "core" else LAB
    extra: dict[str, Any] = {}
    if group == "lab":
        from actorpg_lab import lab
        from actorpg_lab.lab.demo import Account, BuggyAccount, FixedAccount

        extra = {"lab": lab, "wb": lab.connect(quiet=True), "Account": Account,
                 "BuggyAccount": BuggyAccount, "FixedAccount": FixedAccount}
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(checker=_RunOrMatch(), optionflags=doctest.ELLIPSIS)
    seen: set[tuple[str | None, int | None, str]] = set()
    for obj in _objects(packages):
        module = inspect.getmodule(obj)
        for test in finder.find(obj, getattr(obj, "__name__", None), module=module,
                                extraglobs=extra):
            key = (test.filename, test.lineno, test.name)
            if not test.examples or key in seen:
                continue
            seen.add(key)
            runner.run(test)
    result = runner.summarize(verbose=False)
    print(f"doctests ({group}): {result.attempted} examples in {len(seen)} docstrings, "
          f"{result.failed} failed")
    if result.attempted == 0:
        return 2
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
