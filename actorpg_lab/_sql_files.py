"""The ONE loader of the ``.sql`` files shipped beside a package's modules.

Every statement of the library lives in a file (``postgres/sql/*.sql`` for the stores,
``lab/db/sql/*.sql`` for the workbench); :func:`load_sql` reads one, once, without its
full-line ``--`` comments.  Each package binds identifiers and values its own way (the
stores: psycopg bind parameters; the workbench: literals for ADBC's COPY stream).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["load_sql"]


@cache
def load_sql(package: str, name: str) -> str:
    """The text of ``<package>/sql/<name>.sql`` without its full-line ``--`` comments."""
    text = resources.files(package).joinpath("sql", f"{name}.sql").read_text("utf-8")
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
