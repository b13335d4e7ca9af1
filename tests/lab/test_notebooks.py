"""Every notebook in notebooks/ runs top to bottom (headless, nbclient) against the test server.

Each notebook works in its own schema (``lab.connect(schema=..., fresh_schema=True)``);
``ACTORPG_DSN`` points the notebooks at the test server, and the schema is dropped after.
The kernel uses its default (inline) matplotlib backend, so the executed notebook holds
its charts as images — what a saved, executed notebook shows without JupyterLab — and
no cell writes to stderr.  ``ACTORPG_EXECUTED_NOTEBOOKS=<dir>`` keeps the executed
notebooks there (e.g. as CI artifacts).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.lab._notebook_expectations import CHARTS, EXPECTED_FAILURES, FAILURE_MARK

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks_committed_without_outputs() -> None:
    import nbformat

    assert len(NOTEBOOKS) >= 4
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
        assert "widgets" not in book.metadata, path.name  # no saved widget state
        for cell in book.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path: Path, pg_server: object, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    dsn = pg_server.dsn  # type: ignore[attr-defined]
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("ACTORPG_DSN", dsn)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend: images
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "jupyter_config"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter_runtime"))
    import nbformat
    from nbclient import NotebookClient

    copy = tmp_path / path.name
    shutil.copy(path, copy)
    book = nbformat.read(copy, as_version=4)  # type: ignore[no-untyped-call]
    source = "\n".join(c.source for c in book.cells if c.cell_type == "code")
    schemas = set(re.findall(r'schema="(\w+)"', source))
    assert schemas, f"{path.name} must work in its own schema"
    client = NotebookClient(book, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()  # raises CellExecutionError on the first failing cell
    finally:
        import psycopg
        from psycopg import sql

        with psycopg.connect(dsn, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(schema)))
    keep = os.environ.get("ACTORPG_EXECUTED_NOTEBOOKS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        nbformat.write(book, Path(keep) / path.name)  # type: ignore[no-untyped-call]
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert [o for o in outputs if o.get("output_type") == "error"] == []
    stderr = [o.get("text", "") for o in outputs
              if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    assert stderr == [], stderr
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == CHARTS[path.name], (path.name, len(images))
    for image in images:  # a real chart, not an empty canvas
        assert len(image["data"]["image/png"]) > 10_000, path.name
    failures = [line for o in outputs if o.get("name") == "stdout"
                for line in o.get("text", "").splitlines() if line.startswith(FAILURE_MARK)]
    assert len(failures) == EXPECTED_FAILURES.get(path.name, 0), failures
    assert not (tmp_path / ".actorpg").exists()  # used the test server, no embedded one
