"""The layout stays the architecture: no import cycle anywhere in ``actorpg_lab``, the
workbench's rooms depend on each other in one direction only, and every workbench
module stays small enough to read in one sitting."""

from __future__ import annotations

from tests.layout._imports import PACKAGE, cycles, graph, modules

#: The workbench's rooms, lowest first: a room may import only the rooms before it
#: (and the core library); ``notebook`` knows nothing of the others.
ROOMS = ("notebook", "db", "frames", "replay", "diagnose", "history", "projections", "explore",
         "charts", "demo", "_verb", "_workbench", "_connect", "__init__", "__main__")

#: The longest a workbench module may grow (one concept per module).
MAX_LINES = 400


def _room(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] != ["actorpg_lab", "lab"]:
        return None
    return parts[2] if len(parts) > 2 else "__init__"


def test_there_is_no_import_cycle() -> None:
    found = cycles(graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_workbench_rooms_depend_downwards_only() -> None:
    upward = []
    for module, deps in graph().items():
        room = _room(module)
        if room is None:
            continue
        assert room in ROOMS, f"{module}: room {room!r} is not in ROOMS (add it where it belongs)"
        for dep in deps:
            other = _room(dep)
            if other is not None and other != room and ROOMS.index(other) > ROOMS.index(room):
                upward.append(f"{module} -> {dep}")
    assert not upward, "imports from a higher room: " + ", ".join(sorted(upward))


def test_no_workbench_module_is_over_the_limit() -> None:
    long = {name: n for name, path in modules().items()
            if name.startswith("actorpg_lab.lab")
            and (n := len(path.read_text("utf-8").splitlines())) > MAX_LINES}
    assert not long, f"over {MAX_LINES} lines: {long}"


def test_the_graph_sees_the_package() -> None:
    edges = graph()
    assert "actorpg_lab.lab.replay.replayer" in edges and (PACKAGE / "lab").is_dir()
    assert "actorpg_lab.lab.replay.view" in edges["actorpg_lab.lab.replay.display"]


def test_the_replayer_view_depends_on_the_protocol_not_the_model() -> None:
    edges = graph()
    assert "actorpg_lab.lab.replay.protocol" in edges["actorpg_lab.lab.replay.view"]
    assert "actorpg_lab.lab.replay.replayer" not in edges["actorpg_lab.lab.replay.view"]
