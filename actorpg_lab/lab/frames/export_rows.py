"""The exported rows in Arrow: the schema of ``journal_frame()``'s columns and the
conversion of the journal SELECT's record batches to it, column by column (no pandas)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from .columns import split_tags, xid8_to_int64
from .event_type import event_types
from .iteration import empty_journal_frame
from .payloads import parse_pool

__all__ = ["journal_schema", "to_arrow"]


def journal_schema() -> pa.Schema:
    """The Arrow schema of ``journal_frame()``'s columns (from the frame of an empty
    journal, built by the same code): what every exported row group is converted to."""
    fields = []
    for field in pa.Schema.from_pandas(empty_journal_frame(), preserve_index=False):
        if pa.types.is_dictionary(field.type):
            # A categorical without categories has no value type yet: ids are strings,
            # and the indices are int32 in every row group (pandas picks by size).
            field = field.with_type(pa.dictionary(pa.int32(), pa.string()))
        fields.append(field)
    return pa.schema(fields)


def to_arrow(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """One record batch of the journal SELECT as ``schema`` (journal_frame()'s types),
    column by column in Arrow — no pandas round trip, no copy of the columns whose type
    already matches.  Runs on each batch as it arrives, so the raw batch can go at once."""
    pool = parse_pool()
    arrays = []
    for field in schema:
        if field.name == "event_type":  # not a SELECT column: read from the payload
            arrays.append(event_types(batch.column("payload")).cast(field.type))
            continue
        column = batch.column(field.name)
        if field.name == "tags":
            arrays.append(split_tags(column, pool))
        elif field.name == "position" and not pa.types.is_integer(column.type):
            arrays.append(xid8_to_int64(column))
        elif pa.types.is_dictionary(field.type):
            arrays.append(pc.dictionary_encode(column, memory_pool=pool).cast(field.type))
        else:
            arrays.append(pc.cast(column, field.type, memory_pool=pool))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
