"""Fixtures for the diagnosis tests: a Workbench inside the test's own schema, and raw SQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture
def execute(pg_url: str) -> Callable[..., list[tuple[Any, ...]]]:
    """Run one statement in the test's schema (how the tests break data on purpose)."""
    import psycopg

    def run(statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []

    return run


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
