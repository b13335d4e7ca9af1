"""JSON payload expansion: payload texts -> DataFrame columns.

Arrow's JSON reader parses the payloads batch by batch as rows stream in (nested
objects become ``a.b`` columns); payloads it cannot type consistently fall back to
``orjson``.  Codec envelopes become an ``event_type`` column plus their fields (see
:mod:`._read_model`).

A payload that is not JSON at all (or nested beyond the decoder's 1024 levels) is
corrupt data: with ``errors="raise"`` (the default) the load stops with a
:class:`~actorpg_lab.JournalIntegrityError` naming the persistence id and sequence
number; with ``errors="mark"`` the row keeps a null expansion and the
``payload_error`` column says what is wrong, and the load goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Literal

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from ..._errors import JournalIntegrityError
from .columns import payload_column

__all__ = ["ERROR_COLUMN", "PayloadErrors", "PayloadExpander", "column_names", "expand_payloads",
           "parse_pool"]

_log = logging.getLogger("actorpg_lab.lab.frames")

#: What to do with a payload that cannot be parsed: stop the load or mark the row.
PayloadErrors = Literal["raise", "mark"]

#: The column ``errors="mark"`` adds: ``None``, or why the row's payload was not expanded.
ERROR_COLUMN = "payload_error"

#: How much JSON text the Arrow reader parses at once when expanding payloads.
_PARSE_SLICE_BYTES = 1 << 20

#: The deepest nesting the codec's decoder (orjson) reads; deeper payloads are corrupt.
_MAX_DEPTH = 1024

_EXPANDED_TYPES: dict[pa.DataType, Any] = {
    pa.int64(): pd.Int64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def check_errors(errors: object) -> PayloadErrors:
    """``errors`` validated: ``"raise"`` or ``"mark"``."""
    if errors == "raise":
        return "raise"
    if errors == "mark":
        return "mark"
    raise ValueError(f"errors must be 'raise' or 'mark', got {errors!r}")


def parse_pool() -> pa.MemoryPool:
    """The allocator for parsing payloads: the system allocator, which hands the reader's
    short-lived buffers back to the OS (Arrow's default mimalloc pool keeps them, which
    measured ~1.7x more peak RSS for an expanded 200k-event load)."""
    return pa.system_memory_pool()


def expand_payloads(payload: pa.ChunkedArray | pa.Array | pd.Series,
                    reserved: Iterable[str] = (), *,
                    errors: PayloadErrors = "raise") -> pd.DataFrame:
    """Parse JSON payload texts into columns (nested objects become ``a.b`` columns).

    Codec-encoded dataclasses (``{"$type": name, "$value": {...}}``) become an
    ``event_type`` column plus their fields.  A non-object payload lands in ``value``.
    Names in ``reserved`` (the frame's own columns) are prefixed with ``payload.``.
    A payload that is not JSON raises ``ValueError`` naming its row, or with
    ``errors="mark"`` gets a null expansion and a ``payload_error`` message.
    """
    mode = check_errors(errors)
    if isinstance(payload, pd.Series):
        payload = pa.array(payload.astype(object).to_numpy(), type=pa.string())
    chunks = payload.chunks if isinstance(payload, pa.ChunkedArray) else [payload]
    return PayloadExpander(reserved, errors=mode).run(chunks)


class PayloadExpander:
    """Parses payload chunks one at a time (so only one chunk of raw JSON is being parsed
    at once) and assembles the columns at the end.

    ``add`` may be given the chunk's row keys (persistence ids and sequence numbers or
    revisions) so that a corrupt payload is reported by where it is stored.
    """

    def __init__(self, reserved: Iterable[str] = (), *, errors: PayloadErrors = "raise",
                 position: str = "sequence_nr") -> None:
        self.reserved = set(reserved)
        self.errors = errors
        self.position = position
        self.parts: list[pa.Table | pd.DataFrame] = []
        self.rows = 0

    def add(self, chunk: pa.Array, keys: tuple[pa.Array, pa.Array] | None = None) -> None:
        first_row = self.rows
        self.rows += len(chunk)
        if len(chunk) == 0:
            return
        # Parse in slices of about _PARSE_SLICE_BYTES of JSON: the reader's working memory
        # (the joined text plus its parse buffers) stays small next to the result.
        per_row = max(1, chunk.nbytes // len(chunk))
        step = max(1024, _PARSE_SLICE_BYTES // per_row)
        for start in range(0, len(chunk), step):
            part = chunk.slice(start, step)
            try:
                table = _parse_with_arrow(part)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                _log.debug("Arrow JSON reader cannot type these payloads (%s); using orjson",
                           exc)
                part_keys = (None if keys is None
                             else (keys[0].slice(start, step), keys[1].slice(start, step)))
                self.parts.append(self._parse_with_orjson(part, part_keys, first_row + start))
            else:
                if self.errors == "mark":
                    table = table.append_column(ERROR_COLUMN,
                                                pa.nulls(table.num_rows, pa.string()))
                self.parts.append(table)

    def _parse_with_orjson(self, payload: pa.Array, keys: tuple[pa.Array, pa.Array] | None,
                           first_row: int) -> pd.DataFrame:
        rows: list[dict[str, Any]] = []
        for i, text in enumerate(payload.to_pylist()):
            flat: dict[str, Any] = {}
            try:
                value = orjson.loads(text) if text is not None else None
            except orjson.JSONDecodeError as exc:
                where = self._where(keys, i, first_row)
                if self.errors == "raise":
                    raise _corrupt(where, exc, text, keys, i, self.position) from exc
                _log.warning("payload of %s cannot be parsed (%s)", where, exc)
                flat[ERROR_COLUMN] = f"{exc}"
                rows.append(flat)
                continue
            if isinstance(value, dict) and value:
                _flatten_into(value, "", flat)
            else:
                flat["value"] = value
            if self.errors == "mark":
                flat[ERROR_COLUMN] = None
            rows.append(flat)
        return pd.DataFrame.from_records(rows)

    def _where(self, keys: tuple[pa.Array, pa.Array] | None, i: int, first_row: int) -> str:
        if keys is None:
            return f"row {first_row + i}"
        return f"{keys[0][i].as_py()!r} at {self.position} {keys[1][i].as_py()}"

    def run(self, chunks: Iterable[pa.Array]) -> pd.DataFrame:
        for chunk in chunks:
            self.add(chunk)
        return self.frame()

    def extend(self, other: PayloadExpander) -> None:
        """Append what ``other`` (fed the rows after this one's) parsed."""
        self.parts.extend(other.parts)
        self.rows += other.rows
        other.parts = []

    def frame(self) -> pd.DataFrame:
        parts, self.parts = self.parts, []
        frame: pd.DataFrame
        if not parts:
            frame = pd.DataFrame(index=pd.RangeIndex(self.rows))
        elif all(isinstance(p, pa.Table) for p in parts):
            try:
                table = pa.concat_tables(parts, promote_options="permissive",
                                         memory_pool=parse_pool())
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                frame = pd.concat([_table_to_pandas(p) for p in parts], ignore_index=True)
            else:
                del parts
                frame = _table_to_pandas(table)
        else:
            frame = pd.concat([p if isinstance(p, pd.DataFrame) else _table_to_pandas(p)
                               for p in parts], ignore_index=True)
        frame.columns = column_names([str(c) for c in frame.columns], self.reserved)
        frame.index = pd.RangeIndex(len(frame))
        if self.errors == "mark":
            # Always present with errors="mark", and last whatever order the parts had.
            marks = (frame.pop(ERROR_COLUMN) if ERROR_COLUMN in frame.columns
                     else pd.Series([None] * len(frame), dtype=object))
            frame[ERROR_COLUMN] = pd.Series([m if isinstance(m, str) else None for m in marks],
                                            dtype=object)
        return frame


def _corrupt(where: str, exc: Exception, text: str, keys: tuple[pa.Array, pa.Array] | None,
             i: int, position: str) -> JournalIntegrityError:
    pid = None if keys is None else keys[0][i].as_py()
    seq = None if keys is None else keys[1][i].as_py()
    return JournalIntegrityError(
        f"payload of {where} is not valid JSON ({exc}); stored text starts {text[:80]!r} "
        f"(pass errors='mark' to load the other rows and mark this one)",
        persistence_id=pid, sequence_nr=seq if position == "sequence_nr" else None,
    )


def _table_to_pandas(table: pa.Table) -> pd.DataFrame:
    frame: pd.DataFrame = table.to_pandas(types_mapper=_EXPANDED_TYPES.get, split_blocks=True,
                                          self_destruct=True, memory_pool=parse_pool())
    return frame


def _parse_with_arrow(payload: pa.Array) -> pa.Table:
    if payload.null_count:
        raise ValueError("null payloads")
    # One newline-delimited buffer built in C++ (payload JSON never contains a raw
    # newline: the encoder escapes it inside strings; a pretty-printed foreign payload
    # makes the reader fail and we fall back to orjson).
    wrapped = pa.ListArray.from_arrays(pa.array([0, len(payload)], pa.int32()), payload)
    pool = parse_pool()
    joined = pc.binary_join(wrapped, "\n", memory_pool=pool)[0].as_buffer()
    size = joined.size + 1
    options = pa_json.ReadOptions(use_threads=True, block_size=max(1 << 20, min(size, 2**31 - 1)))
    table = pa_json.read_json(pa.BufferReader(joined), read_options=options,
                              parse_options=pa_json.ParseOptions(newlines_in_values=False),
                              memory_pool=pool)
    if table.num_rows != len(payload):
        raise ValueError("row count mismatch")
    depth = 0
    while any(pa.types.is_struct(field.type) for field in table.schema):
        depth += 1
        if depth > _MAX_DEPTH:  # the codec cannot read it back: let orjson name the row
            raise ValueError(f"payload objects nested deeper than {_MAX_DEPTH} levels")
        table = table.flatten()
    return table


def _flatten_into(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten_into(inner, f"{prefix}{key}.", out)
    else:
        out[prefix[:-1]] = value


def column_names(names: list[str], reserved: set[str], renamed: bool = False) -> list[str]:
    """The frame's names for flattened payload paths (see
    :func:`._read_model.payload_column`); a name that clashes with ``reserved`` or an
    earlier column is prefixed with ``payload.``.  ``renamed``: the names are already
    mapped (only the clashes are resolved)."""
    out: list[str] = []
    taken: set[str] = set()
    for name in names:
        new = name if renamed or name == ERROR_COLUMN else payload_column(name)
        if new in reserved or new in taken:
            new = f"payload.{name}"
        taken.add(new)
        out.append(new)
    return out
