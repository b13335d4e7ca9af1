"""The codec's fast paths give exactly the results of the slow ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from actorpg_lab import JsonCodec, UnregisteredTypeWarning


@dataclass(frozen=True)
class Flat:
    name: str
    amount: int
    ratio: float
    flag: bool
    note: str | None = None


@dataclass(frozen=True)
class Scalars:
    """No float field: its envelope is written by orjson (see ``_envelope_text``)."""

    name: str
    amount: int
    flag: bool
    note: str | None = None


@dataclass(frozen=True)
class Holder:
    inner: Flat
    items: tuple[int, ...] = ()


@dataclass
class Mutable:
    amount: int


@dataclass(frozen=True)
class Normalised:
    items: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))


@pytest.fixture
def codec() -> JsonCodec:
    c = JsonCodec()
    for cls in (Flat, Scalars, Holder, Mutable, Normalised):
        c.register(cls, cls.__name__)
    return c


@pytest.mark.parametrize("value", [
    Flat("a", 1, 0.5, True),
    Flat("a\u00e9\U0001f600", -(2**63), -0.0, False, "n"),
    Holder(Flat("x", 2, 1.5, False), (1, 2)),
    Normalised((1, 2)),
    Mutable(3),
    {"plain": [1, 2, {"x": None}]},
    [Flat("a", 1, 1.0, True), Flat("b", 2, 2.0, False)],
    {"$type": "only one reserved key", "other": 1},
    {"wrapped": Flat("$type", 1, 1.0, True), "note": '"$type":'},
])
def test_stored_value_equals_decoding_the_text(codec: JsonCodec, value: Any) -> None:
    text = codec.encode(value)
    assert codec.stored_value(value, text) == codec.decode(text)
    assert type(codec.stored_value(value, text)) is type(codec.decode(text))


def test_simple_frozen_events_are_not_reparsed(codec: JsonCodec) -> None:
    event = Flat("a", 1, 0.5, True)
    assert codec.stored_value(event, codec.encode(event)) is event


@pytest.mark.parametrize("value", [
    Mutable(3),  # not frozen: the caller could still change it
    Normalised((1, 2)),  # __post_init__ may transform what it reads back
    Holder(Flat("x", 2, 1.5, False)),  # a nested dataclass field
])
def test_other_values_are_decoded_copies(codec: JsonCodec, value: Any) -> None:
    text = codec.encode(value)
    stored = codec.stored_value(value, text)
    assert stored is not value and stored == codec.decode(text)


@pytest.mark.parametrize("value", [
    [Flat("a", 1, 1.0, True), {"$type": "Flat", "$value": {"name": "x"}}],
    {"event": Holder(Flat("x", 2, 1.5, False)), "fake": {"$type": "a", "$value": 1}},
    {"k": [{"$type": 1, "$value": 2}], "e": Flat("a", 1, 1.0, True)},
])
def test_reserved_shape_is_still_rejected_next_to_real_envelopes(
    codec: JsonCodec, value: Any
) -> None:
    with pytest.raises(ValueError, match="reserved"):
        codec.encode(value)


def test_escaped_quotes_in_keys_do_not_hide_misuse(codec: JsonCodec) -> None:
    # '"a\\"$type":' contains the marker text although the key is not "$type".
    value = {'a"$type': 1, "x": Flat("a", 1, 1.0, True)}
    assert codec.decode(codec.encode(value)) == value
    with pytest.raises(ValueError, match="reserved"):
        codec.encode({'a"$type': 1, "y": {"$type": "t", "$value": {}}})


def test_nan_infinity_and_lone_surrogates_are_still_rejected(codec: JsonCodec) -> None:
    with pytest.raises(ValueError):
        codec.encode(Flat("a", 1, float("nan"), True))
    with pytest.raises(ValueError):
        codec.encode(Flat("\ud800", 1, 1.0, True))


def test_decode_fast_path_matches_the_general_revival(codec: JsonCodec) -> None:
    texts = [codec.encode(v) for v in (Flat("a", 1, 0.5, True),
                                        Holder(Flat("$type", 1, 1.0, True), (3,)))]
    texts += ['{"$type":"not registered","$value":{"a":1}}', '{"$type":"Flat","$value":[1]}',
              '{"$type":"Flat","$value":{"name":"a","amount":1,"ratio":1.0,"flag":true}}']
    for text in texts:
        assert codec.decode(text) == codec._revive(orjson.loads(text))


def test_unregistered_field_default_factory_classes_round_trip(codec: JsonCodec) -> None:
    @dataclass(frozen=True)
    class WithDefault:
        items: list[int] = field(default_factory=list)

    value = WithDefault([1])
    with pytest.warns(UnregisteredTypeWarning):
        text = codec.encode(value)
    assert codec.stored_value(value, text) == codec.decode(text) == value


def _slow_encode(codec: JsonCodec, value: Any) -> str:
    """The general encoder path (the simple-dataclass fast path switched off)."""
    codec._simple.pop(type(value), None)
    try:
        return codec.encode(value)
    finally:
        codec._simple.pop(type(value), None)


@pytest.mark.parametrize("value", [
    Flat("a", 1, 0.1, True), Flat("é\u2028\"\\\n\t", -(2**63), 1e300, False, None),
    Flat("x", 2**64 - 1, -0.0, True, "n"),
])
def test_encode_fast_path_writes_the_same_text(codec: JsonCodec, value: Any) -> None:
    slow = _slow_encode(codec, value)
    codec.stored_value(value, slow)  # learns that Flat is simple
    assert codec._simple.get(Flat) is True
    assert codec.encode(value) == slow
    assert codec.decode(codec.encode(value)) == value


def _every_code_point() -> list[str]:
    """Every code point but the surrogates, in strings of 2,048."""
    points = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    return ["".join(points[i:i + 2048]) for i in range(0, len(points), 2048)]


def test_orjson_envelopes_are_the_standard_encoders_text(codec: JsonCodec) -> None:
    """The fast path writes float-free envelopes with orjson: byte for byte what the
    general path (the standard library's encoder) writes, for every code point, the
    integer range's ends, booleans and None — so digests of texts stored by earlier
    versions still match a retry's."""
    values = [Scalars(text, i, i % 2 == 0, text[::-1])
              for i, text in enumerate(_every_code_point())]
    values += [Scalars("", -(2**63), True), Scalars("$type", 2**64 - 1, False, None),
               Scalars('"$type":\u0000', 0, True, "\x00\x1f\x7f\u2028\u2029")]
    slow = [_slow_encode(codec, value) for value in values]
    codec.stored_value(values[0], slow[0])  # learns that Scalars is simple
    assert codec._simple.get(Scalars) is True
    assert [codec.encode(value) for value in values] == slow
    texts, as_stored = codec.encode_batch(values)
    assert as_stored and texts == slow
    assert [codec.decode(text) for text in slow] == values


def test_orjson_envelopes_keep_every_rejection(codec: JsonCodec) -> None:
    first = Scalars("a", 1, True)
    codec.stored_value(first, codec.encode(first))
    for bad, message in ((Scalars("\ud800", 1, True), "UTF-8"),
                         (Scalars("a", 2**64, True), "read back exactly"),
                         (Scalars("a", -(2**63) - 1, True), "read back exactly")):
        with pytest.raises(ValueError, match=message):
            codec.encode(bad)
        batch = [first, bad]
        assert _errors_of(lambda: codec.encode_many(batch)) == _errors_of(  # noqa: B023
            lambda: [codec.encode(value) for value in batch])  # noqa: B023


def test_encode_fast_path_keeps_every_rejection(codec: JsonCodec) -> None:
    codec.stored_value(Flat("a", 1, 0.1, True), codec.encode(Flat("a", 1, 0.1, True)))
    assert codec._simple.get(Flat) is True
    for bad in (Flat("a", 1, float("nan"), True), Flat("a", 1, float("inf"), True)):
        with pytest.raises(ValueError, match="cannot be serialized"):
            codec.encode(bad)
    with pytest.raises(ValueError, match="UTF-8"):
        codec.encode(Flat("\ud800", 1, 0.1, True))
    with pytest.raises(ValueError, match="read back exactly"):
        codec.encode(Flat("a", 2**64, 0.1, True))
    # a field holding a non-scalar takes the general path (and its checks)
    mixed = Flat({"$type": "x", "$value": {}}, 1, 0.1, True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reserved"):
        codec.encode(mixed)


def _errors_of(encode: Any) -> tuple[Any, str | None]:
    try:
        return encode(), None
    except (TypeError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize("batch", [
    [Flat("a", i, 0.5 * i, i % 2 == 0, None if i % 3 else "n") for i in range(5)],
    [Flat("é\u2028\"\\\n\t", -(2**63), 1e300, False), Flat("x", 2**64 - 1, -0.0, True)],
    [Flat('"$type":', 1, 1.0, True), Flat("1234567890123456789012", 2, 2.0, False)],
    [Flat("a", 1, 1.0, True), Mutable(2), Holder(Flat("x", 2, 1.5, False), (1, 2))],
    [Flat("a", 1, 1.0, True), {"plain": 1}, [1, 2]],
    [Flat("a", 1, 1.0, True), Flat("a", 1, float("nan"), True)],
    [Flat("a", 1, 1.0, True), Flat("\ud800", 1, 0.1, True)],
    [Flat("a", 1, 1.0, True), Flat("a", 2**64, 0.1, True), Flat("b", 1, 0.1, True)],
    [Flat("a", -(2**63) - 1, 1.0, True), Flat("a", 1, 0.1, True)],
    [Flat("a", 1, 1.0, True), Flat({"$type": "x", "$value": {}}, 1, 0.1, True)],  # type: ignore[arg-type]
    [Flat("a", 1, 1.0, True)],
    [],
])
def test_encode_many_gives_what_encode_gives_one_by_one(codec: JsonCodec,
                                                         batch: list[Any]) -> None:
    first = Flat("a", 1, 0.1, True)
    codec.stored_value(first, codec.encode(first))  # learns that Flat is simple
    assert _errors_of(lambda: codec.encode_many(batch)) == _errors_of(
        lambda: [codec.encode(value) for value in batch])


def test_encode_many_uses_an_overridden_encode() -> None:
    class Upper(JsonCodec):
        def encode(self, value: Any) -> str:
            return super().encode(value).upper()

    codec = Upper()
    codec.register(Flat, "Flat")
    values = [Flat("a", 1, 0.1, True), Flat("b", 2, 0.2, False)]
    codec.stored_value(values[0], JsonCodec.encode(codec, values[0]))
    assert codec.encode_many(values) == [codec.encode(v) for v in values]
    assert codec.encode_many(values)[0].startswith('{"$TYPE":"FLAT"')


def test_encode_batch_says_when_every_event_reads_back_as_itself(codec: JsonCodec) -> None:
    first = Flat("a", 1, 0.1, True)
    codec.stored_value(first, codec.encode(first))
    simple = [first, Flat("b", 2, 0.2, False)]
    texts, as_stored = codec.encode_batch(simple)
    assert as_stored and texts == [codec.encode(v) for v in simple]
    assert all(codec.stored_value(v, t) is v for v, t in zip(simple, texts, strict=True))
    for batch in ([first, Mutable(2)], [first, {"plain": 1}], [first],
                  [first, Flat("a", 2**64, 0.1, True)]):
        if batch[-1] == Flat("a", 2**64, 0.1, True):
            with pytest.raises(ValueError, match="read back exactly"):
                codec.encode_batch(batch)
            continue
        texts, as_stored = codec.encode_batch(batch)
        assert not as_stored and texts == [codec.encode(v) for v in batch]

    class OwnStoredValue(JsonCodec):
        def stored_value(self, value: Any, text: str) -> Any:
            return self.decode(text)

    other = OwnStoredValue()
    other.register(Flat, "Flat")
    other.stored_value(first, other.encode(first))
    other._simple[Flat] = True
    assert other.encode_batch(simple)[1] is False
