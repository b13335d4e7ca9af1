"""The frame builder's column conversions, without a database: the fast paths give what
the general Arrow/pandas conversions give (values, dtypes, codes), on every shape."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from actorpg_lab.lab.frames.builder import FrameBuilder, timestamps
from actorpg_lab.lab.frames.columns import split_tags


def _split_by_pattern(csv: pa.Array) -> list[object]:
    """The general split (what split_tags gave before its single-tag fast path)."""
    return [[t for t in v if t] if v is not None else None
            for v in pc.split_pattern(csv, ",").to_pylist()]


@pytest.mark.parametrize("values", [
    ["a", "b", "c"],                 # one tag each: the fast path
    ["a", "", "b", ""],              # untagged events among single tags
    ["", ""],                        # nothing tagged
    [],
    ["a,b", "", "c"],                # several tags: the general split
    ["a", None, "b"],                # NULL (not stored by the library): general split
])
def test_split_tags_matches_the_general_split(values: list[str | None]) -> None:
    arr = pa.array(values, pa.string())
    for column in (arr, arr.slice(1), pa.chunked_array([arr])):
        split = split_tags(column)
        assert split.type == pa.list_(pa.string())
        source = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        assert split.to_pylist() == _split_by_pattern(source)


def _batch(pids: list[str], seqs: list[int], tags: list[str]) -> pa.RecordBatch:
    n = len(pids)
    return pa.record_batch({
        "persistence_id": pa.array(pids), "sequence_nr": pa.array(seqs, pa.int64()),
        "position": pa.array(range(100, 100 + n), pa.int64()),
        "payload": pa.array([f'{{"n":{s}}}' for s in seqs]), "tags": pa.array(tags),
        "timestamp": pa.array([1_700_000_000_000 + s for s in seqs], pa.int64()),
    })


def _reference(batches: list[pa.RecordBatch]) -> pd.DataFrame:
    """The frame through one ``Table.to_pandas`` (the conversion the builder replaces)."""
    table = pa.Table.from_batches(batches)
    base: pd.DataFrame = pa.table({
        "persistence_id": pc.dictionary_encode(table["persistence_id"]),
        "sequence_nr": table["sequence_nr"], "position": table["position"],
        "timestamp": timestamps(table["timestamp"]),
    }).to_pandas()
    base["tags"] = pd.Series(pd.arrays.ArrowExtensionArray(split_tags(table["tags"])))
    base["payload"] = table["payload"].to_pandas()
    return base


@pytest.mark.parametrize("shape", ["one batch", "two batches, different dictionaries",
                                   "empty"])
def test_frame_columns_match_the_to_pandas_conversion(shape: str) -> None:
    batches = {
        "one batch": [_batch(["a", "a", "b"], [1, 2, 1], ["x", "", "x,y"])],
        "two batches, different dictionaries": [
            _batch(["a", "b"], [1, 1], ["x", "y"]), _batch(["c", "b", "c"], [1, 2, 2], ["", "z", "x"]),
        ],
        "empty": [],
    }[shape]
    builder = FrameBuilder("sequence_nr", tags=True, expand=False, position=True)
    for batch in batches:
        builder.add(batch)
    frame = builder.frame()
    expected = _reference(batches) if batches else FrameBuilder(
        "sequence_nr", tags=True, expand=False, position=True).frame()
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert list(frame.columns) == ["persistence_id", "sequence_nr", "position", "timestamp",
                                   "tags", "payload"]
    assert str(frame["timestamp"].dtype) == "datetime64[ms, UTC]"
    if batches:
        assert frame["persistence_id"].cat.codes.dtype == expected["persistence_id"].cat.codes.dtype
        # The frame owns its numbers: writable like any DataFrame.
        frame.loc[0, "sequence_nr"] = 99
        frame.loc[0, "timestamp"] = pd.Timestamp(0, unit="ms", tz="UTC")
        assert frame["sequence_nr"].iloc[0] == 99


def _typed_batch(payloads: list[str | None]) -> pa.RecordBatch:
    n = len(payloads)
    return pa.record_batch({
        "persistence_id": pa.array(["p"] * n), "sequence_nr": pa.array(range(n), pa.int64()),
        "position": pa.array(range(n), pa.int64()), "payload": pa.array(payloads, pa.string()),
        "tags": pa.array([""] * n), "timestamp": pa.array(range(n), pa.int64()),
        "correlation_id": pa.array([None] * n, pa.string()),
        "causation_id": pa.array([None] * n, pa.string()),
    })


def _envelope(name: str) -> str:
    return '{"$type":"' + name + '","$value":{"n":1}}'


@pytest.mark.parametrize("shape", ["short names", "a name longer than the head",
                                   "a name longer than the longer head", "one batch",
                                   "a NULL payload"])
def test_event_type_of_heads_encoded_per_batch_matches_the_whole_column(shape: str) -> None:
    """The builder encodes each batch's payload heads as the batch arrives and names them
    once in frame(): the same categories (first-seen order) and codes as
    :func:`event_types` over the whole column, whatever the batches' own dictionaries."""
    from actorpg_lab.lab.frames.builder import _shared_categorical
    from actorpg_lab.lab.frames.event_type import event_types

    shapes: dict[str, list[list[str | None]]] = {
        "short names": [[_envelope("b.B"), '{"plain": 1}', _envelope("a.A")],
                        [_envelope("c.C"), _envelope("a.A"), "not json"],
                        [_envelope("b.B")]],
        "a name longer than the head": [[_envelope("a.A")],
                                        [_envelope("x." + "long" * 10), _envelope("a.A")]],
        "a name longer than the longer head": [[_envelope("a.A")],
                                               [_envelope("x." + "long" * 20)]],
        "one batch": [[_envelope("a.A"), _envelope("a.A")]],
        "a NULL payload": [[_envelope("a.A"), None], [None, _envelope("b.B")]],
    }
    batches = shapes[shape]
    builder = FrameBuilder("sequence_nr", tags=True, expand=False, position=True,
                           metadata=True)
    for payloads in batches:
        builder.add(_typed_batch(payloads))
    column = builder.frame()["event_type"].array
    # What frame() built before: the whole column's event_types as one categorical.
    whole = _shared_categorical(event_types(
        pa.chunked_array([pa.array(p, pa.string()) for p in batches])))
    pd.testing.assert_extension_array_equal(column, whole)
    assert column.categories.tolist() == whole.categories.tolist()  # first-seen order
    assert column.codes.tolist() == whole.codes.tolist()


@pytest.mark.parametrize("ids", [
    [None, None],                                        # no metadata at all
    [None, ["req-1", "cmd-1"], ["req-2", None], [None, None]],
    [["a", "b"]],
])
def test_metadata_ids_list_column_splits_into_the_two_columns(
        ids: list[list[str | None] | None]) -> None:
    """A batch with the ids as one list column (NULL: no metadata) gives the frame the
    two columns it gets when they come separately."""
    def frame(**columns: pa.Array) -> pd.DataFrame:
        batch = _typed_batch([_envelope("a.A")] * len(ids)).drop_columns(
            ["correlation_id", "causation_id"])
        for name, values in columns.items():
            batch = batch.append_column(name, values)
        builder = FrameBuilder("sequence_nr", tags=True, expand=False, position=True,
                               metadata=True)
        builder.add(batch)
        return builder.frame()

    listed = frame(metadata_ids=pa.array(ids, pa.list_(pa.string())))
    separate = frame(
        correlation_id=pa.array([None if v is None else v[0] for v in ids], pa.string()),
        causation_id=pa.array([None if v is None else v[1] for v in ids], pa.string()))
    pd.testing.assert_frame_equal(listed, separate, check_exact=True)
