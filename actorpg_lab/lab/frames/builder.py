"""The frame builder: Arrow record batches in, one pandas DataFrame out.

Dtypes: ``persistence_id`` categorical, ``position`` (event frames) ``int64``,
``timestamp`` ``datetime64[ms, UTC]``,
``tags`` a list of str per row (an Arrow-backed ``list<string>`` column), (journal
frames) ``event_type`` categorical and ``correlation_id``/``causation_id`` str or
missing, ``payload`` the raw JSON text — or, with ``expand``, the payload's fields as
columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .columns import split_tags, xid8_to_int64
from .event_type import (
    HEAD_BYTES,
    LONGER_HEADS,
    exact_event_types,
    head_names,
    payload_heads,
)
from .payloads import PayloadErrors, PayloadExpander, column_names, parse_pool

__all__ = ["STREAMS_SCHEMA", "FrameBuilder", "close_stream", "streams_frame"]

STREAMS_SCHEMA = pa.schema([
    ("persistence_id", pa.string()),
    ("events", pa.int64()),
    ("first_seq", pa.int64()),
    ("head", pa.int64()),
    ("deleted_to", pa.int64()),
    ("snapshots", pa.int64()),
    ("latest_snapshot_seq", pa.int64()),
    ("events_to_replay", pa.int64()),
    ("last_write_ms", pa.int64()),
    ("event_types", pa.list_(pa.string())),
])


class FrameBuilder:
    """Builds a frame from record batches as they stream in.

    Each batch is reduced to its final columns at once (ids, numbers, timestamps, tags
    split into lists, and — with ``expand`` — the parsed payload columns), so with
    ``expand=True`` the raw JSON of a batch is dropped as soon as it has been parsed.

    :param second: the key column after ``persistence_id`` (``sequence_nr``/``revision``).
    :param position: event frames: a ``position`` column (``int64``, the commit-ordered
        position of the event; ``0`` on a journal without positions) after ``second``.
    :param errors: what a corrupt payload does with ``expand`` (see :mod:`._payloads`).
    """

    def __init__(self, second: str, tags: bool, expand: bool,
                 errors: PayloadErrors = "raise", *, position: bool = False,
                 metadata: bool = False) -> None:
        self.second = second
        #: journal frames: ``event_type`` (categorical; from the payload's envelope, the
        #: expanded payload's own column with ``expand``), ``correlation_id`` and
        #: ``causation_id`` (str or None) after the tags.
        self.metadata = metadata
        self.tags = tags
        self.position = position
        self.expand = expand
        self.errors: PayloadErrors = errors
        self.columns: dict[str, list[pa.Array]] = {"persistence_id": [], second: [],
                                                   "timestamp": []}
        if position:
            self.columns["position"] = []
        if tags:
            self.columns["tags"] = []
        if metadata:
            self.columns["correlation_id"] = []
            self.columns["causation_id"] = []
        if not expand:
            self.columns["payload"] = []
        self.expander = PayloadExpander(errors=errors, position=second)
        #: journal frames without ``expand``: each batch's payload heads, dictionary-encoded
        #: as the batch arrives (:func:`payload_heads`; in the worker thread of a parallel
        #: load), the event_type column's input.
        self.heads: list[pa.DictionaryArray] = []
        self.rows = 0
        #: journal frames: how many of the rows carry metadata (with the ids as two
        #: columns: those with at least one id; see :func:`_metadata_ids`).
        self.metadata_rows = 0

    def sibling(self) -> FrameBuilder:
        """An empty builder of the same shape (for rows loaded in parallel)."""
        return FrameBuilder(self.second, tags=self.tags, expand=self.expand,
                            errors=self.errors, position=self.position, metadata=self.metadata)

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        if batch.num_rows == 0:
            return
        self.rows += batch.num_rows
        cols = self.columns
        pids = _one_chunk(batch.column("persistence_id"))
        seconds = _one_chunk(batch.column(self.second))
        # Dictionary-encoded per batch (so in the worker thread of a parallel load); to_pandas
        # unifies the batches' dictionaries into one categorical.
        cols["persistence_id"].append(pc.dictionary_encode(pids, memory_pool=parse_pool()))
        cols[self.second].append(seconds)
        cols["timestamp"].append(_one_chunk(batch.column("timestamp")))
        if self.position:
            position = _one_chunk(batch.column("position"))
            if not pa.types.is_integer(position.type):  # the stored xid8 (8-byte binary)
                position = xid8_to_int64(position)
            cols["position"].append(position)
        if self.tags:
            cols["tags"].append(split_tags(batch.column("tags"), parse_pool()))
        if self.metadata:
            correlation, causation, with_ids = _metadata_ids(batch)
            cols["correlation_id"].append(correlation)
            cols["causation_id"].append(causation)
            self.metadata_rows += with_ids
        if self.expand:
            self.expander.add(_one_chunk(batch.column("payload")), (pids, seconds))
        else:
            payload = _one_chunk(batch.column("payload"))
            cols["payload"].append(payload)
            if self.metadata:  # (the names: in frame(), once per distinct head)
                self.heads.append(payload_heads(payload))

    def add_all(self, batches: Iterable[pa.RecordBatch]) -> int:
        """Add every batch; returns how many rows they held.  A stream that fails half
        way (e.g. a corrupt payload) is closed here, in the thread that reads it, so its
        connection lock is released at once."""
        rows = 0
        try:
            for batch in batches:
                self.add(batch)
                rows += batch.num_rows
        finally:
            close_stream(batches)
        return rows

    def extend(self, other: FrameBuilder) -> None:
        """Append everything ``other`` (loaded after this one, same columns) holds."""
        for name, chunks in other.columns.items():
            self.columns[name].extend(chunks)
        self.expander.extend(other.expander)
        self.heads.extend(other.heads)
        self.rows += other.rows
        self.metadata_rows += other.metadata_rows
        other.columns = {}
        other.heads = []

    def frame(self) -> pd.DataFrame:
        """The DataFrame, each column built straight from its Arrow chunks (no
        ``Table.to_pandas``, whose per-call conversion machinery cost ~2x these few
        direct steps at 30k rows); dtypes as in the module docstring."""
        cols, self.columns = self.columns, {}
        heads, self.heads = self.heads, []
        data: dict[str, Any] = {"persistence_id": _categorical(cols.pop("persistence_id")),
                                self.second: _int64(cols.pop(self.second))}
        if self.position:
            data["position"] = _int64(cols.pop("position"))
        data["timestamp"] = _utc_ms(cols.pop("timestamp"))
        if self.tags:
            data["tags"] = pd.arrays.ArrowExtensionArray(
                pa.chunked_array(cols.pop("tags"), type=pa.list_(pa.string())))
        if self.metadata:
            if not self.expand:  # one regular expression per distinct head of the column
                data["event_type"] = _event_type_categorical(heads, cols["payload"])
            data["correlation_id"] = _strings(cols.pop("correlation_id"))
            data["causation_id"] = _strings(cols.pop("causation_id"))
        if not self.expand:
            data["payload"] = _strings(cols.pop("payload"))
        frame = pd.DataFrame(data, copy=False)
        if not self.expand:
            return frame
        expanded = self.expander.frame()
        if expanded.shape[1] == 0:
            return frame
        expanded.columns = column_names(list(expanded.columns),
                                        {*frame.columns, "payload"}, renamed=True)
        combined: pd.DataFrame = pd.concat([frame, expanded], axis=1)
        return combined


def _metadata_ids(batch: pa.RecordBatch | pa.Table) -> tuple[pa.Array, pa.Array, int]:
    """``(correlation_id, causation_id, rows with metadata)`` of a batch that holds them
    as two columns or as ONE list column ``metadata_ids`` (NULL: no metadata; see
    :func:`..db.statements.metadata_ids`).  With two columns the count is a lower bound
    (the rows with the more frequent id), free from the null counts."""
    if "metadata_ids" not in batch.schema.names:
        correlation = _one_chunk(batch.column("correlation_id"))
        causation = _one_chunk(batch.column("causation_id"))
        return correlation, causation, len(correlation) - min(correlation.null_count,
                                                              causation.null_count)
    ids = _one_chunk(batch.column("metadata_ids"))
    if ids.null_count == len(ids):  # no event has metadata: nothing to split
        nulls = pa.nulls(len(ids), pa.string())
        return nulls, nulls, 0
    return (pc.list_element(ids, 0).cast(pa.string()), pc.list_element(ids, 1).cast(pa.string()),
            len(ids) - ids.null_count)


def _int64(chunks: list[pa.Array]) -> Any:
    """``int64`` chunks as one writable numpy array (with NULLs: as ``to_pandas`` gives
    them, float with NaN)."""
    if any(chunk.null_count for chunk in chunks):
        return pa.chunked_array(chunks, type=pa.int64()).to_pandas().array
    if not chunks:
        return np.empty(0, dtype=np.int64)
    if len(chunks) == 1:
        return chunks[0].to_numpy().copy()
    return np.concatenate([chunk.to_numpy() for chunk in chunks])


def _utc_ms(chunks: list[pa.Array]) -> Any:
    """Epoch-millisecond chunks as ``datetime64[ms, UTC]`` values."""
    if any(chunk.null_count for chunk in chunks):
        return timestamps(pa.chunked_array(chunks, type=pa.int64())).to_pandas().array
    return pd.DatetimeIndex(_int64(chunks).view("M8[ms]"), copy=False).tz_localize("UTC").array


def _categorical(chunks: list[pa.DictionaryArray]) -> Any:
    """Dictionary-encoded chunks as one ``pandas.Categorical`` (the chunks' dictionaries
    unified; categories in first-seen order, as ``to_pandas`` gives them)."""
    column = pa.chunked_array(chunks, type=pa.dictionary(pa.int32(), pa.string()))
    if column.null_count or not column.num_chunks:
        return column.to_pandas().array
    if column.num_chunks > 1:
        column = column.unify_dictionaries()
    dictionary = column.chunk(0).dictionary
    codes = _int32([chunk.indices for chunk in column.chunks])
    return pd.Categorical.from_codes(
        codes, dtype=pd.CategoricalDtype(pd.Index(dictionary.to_pandas()), ordered=False),
        validate=False)  # indices of a dictionary array are valid by construction


def _shared_categorical(column: pa.ChunkedArray) -> Any:
    """Dictionary chunks that share ONE dictionary (:func:`event_types`) as a
    ``pandas.Categorical``: their indices are the codes (null -> -1), nothing unified."""
    if not column.num_chunks:
        return _categorical([])
    codes = pc.fill_null(pa.chunked_array([chunk.indices for chunk in column.chunks],
                                          type=pa.int32()), -1)
    return pd.Categorical.from_codes(
        _int32(codes.chunks), dtype=pd.CategoricalDtype(
            pd.Index(column.chunk(0).dictionary.to_pandas()), ordered=False),
        validate=False)  # every index points into the shared dictionary


def _event_type_categorical(heads: list[pa.DictionaryArray],
                            payloads: list[pa.Array]) -> Any:
    """The ``event_type`` column of payload chunks whose heads (:func:`payload_heads`,
    one per chunk) were encoded as they arrived: :data:`TYPE_PATTERN` once per distinct
    head of all of them, the codes mapped with numpy (no unified dictionary column, no
    second pass); the exact rule (:func:`exact_event_types`) when a head cuts a name."""
    if not heads:
        return _categorical([])
    named = _named_heads(heads, HEAD_BYTES)
    for length in LONGER_HEADS:  # a longer name: longer heads, then the exact rule
        if named is not None:
            break
        named = _named_heads([payload_heads(chunk, length) for chunk in payloads], length)
    if named is None:
        return _shared_categorical(exact_event_types(pa.chunked_array(payloads, pa.string())))
    return named


def _named_heads(heads: list[pa.DictionaryArray], length: int) -> Any:
    """:func:`_event_type_categorical` of heads of ``length`` bytes, or ``None`` when one
    of them cuts a name (:func:`_head_names`)."""
    pool = parse_pool()
    # Every chunk's distinct heads, first-seen order kept: their union, encoded once.
    union = pc.dictionary_encode(pa.chunked_array([h.dictionary for h in heads],
                                                  heads[0].dictionary.type),
                                 memory_pool=pool)
    distinct = union.chunk(0).dictionary if union.num_chunks else pa.array([], pa.binary())
    names = head_names(distinct, length)
    if names is None:
        return None
    encoded = pc.dictionary_encode(names, memory_pool=pool)
    # -1 (a missing category) for heads without a name; one more -1 for NULL payloads.
    name_codes = np.append(pc.fill_null(encoded.indices, -1).to_numpy(), np.int32(-1))
    codes = np.empty(sum(len(h) for h in heads), dtype=np.int32)
    at = 0
    for head, chunk_union in zip(heads, union.chunks, strict=True):
        of_head = name_codes[chunk_union.indices.to_numpy()]  # this chunk's heads -> codes
        indices = head.indices
        if indices.null_count:
            indices = pc.fill_null(indices, len(of_head))
            of_head = np.append(of_head, np.int32(-1))
        np.take(of_head, indices.to_numpy(), out=codes[at:at + len(head)])
        at += len(head)
    return pd.Categorical.from_codes(
        codes, dtype=pd.CategoricalDtype(pd.Index(encoded.dictionary.to_pandas()),
                                         ordered=False),
        validate=False)  # every code points into the names' dictionary (or is -1)


def _int32(chunks: list[pa.Array]) -> Any:
    if not chunks:
        return np.empty(0, dtype=np.int32)
    return np.concatenate([chunk.to_numpy() for chunk in chunks])


def _strings(chunks: list[pa.Array]) -> Any:
    """String chunks as the object array ``to_pandas`` gives (None for NULL)."""
    return pa.chunked_array(chunks, type=pa.string()).to_pandas().array

def close_stream(batches: Iterable[Any]) -> None:
    """Close a generator of batches (a no-op for other iterables)."""
    close = getattr(batches, "close", None)
    if callable(close):
        close()


def timestamps(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Epoch milliseconds as ``timestamp[ms, UTC]``."""
    return pc.cast(column, pa.timestamp("ms", tz="UTC"))


def _one_chunk(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks()
    return column


def _list_column(column: pa.ChunkedArray | pa.Array) -> np.ndarray[Any, np.dtype[Any]]:
    """An object array holding one Python list per row."""
    values = column.to_pylist()
    # Assigning a list of equal-length lists to an object array would broadcast it as
    # 2-D; fill element by element instead.
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value if value is not None else []
    return out


def streams_frame(table: pa.Table) -> pd.DataFrame:
    """The frame of ``sql/streams.sql``'s result (see :meth:`Workbench.streams_frame`)."""
    frame: pd.DataFrame = table.drop_columns(["last_write_ms", "event_types"]).to_pandas(
        types_mapper={pa.int64(): pd.Int64Dtype()}.get
    )
    for column in ("events", "head", "deleted_to", "snapshots", "events_to_replay"):
        frame[column] = frame[column].astype("int64")
    frame["persistence_id"] = frame["persistence_id"].astype("category")
    frame["last_write"] = timestamps(table["last_write_ms"]).to_pandas()
    frame["event_types"] = [sorted(v) for v in _list_column(table["event_types"])]
    return frame
