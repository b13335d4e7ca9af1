"""Fixtures for the workbench tests: a Workbench inside the test's own schema."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib
import pytest

from actorpg_lab import lab

matplotlib.use("Agg")


@pytest.fixture
def wb(pg_url: str) -> Iterator[lab.Workbench]:
    workbench = lab.connect(pg_url)
    try:
        yield workbench
    finally:
        workbench.close()


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
