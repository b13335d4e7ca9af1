"""The codec's versioned registry: envelopes, upcasters, aliases, re-registration."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, make_dataclass
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import actorpg_lab
from actorpg_lab import DecodeError, JsonCodec

from ._types import (
    NAME,
    OLD_NAME,
    DepositedV1,
    DepositedV2,
    DepositedV3,
    codec_v1,
    codec_v2,
    codec_v3,
    v1_to_v2,
    v2_to_v3,
)


@dataclass(frozen=True)
class Holder:
    inner: Any  # DepositedV1 when written, DepositedV3 when read
    items: list[Any]


def test_version_1_envelope_omits_the_version() -> None:
    assert orjson.loads(codec_v1().encode(DepositedV1(5))) == {
        "$type": NAME, "$value": {"amount": 5}}
    assert orjson.loads(codec_v3().encode(DepositedV3(1, 2, "EUR"))) == {
        "$type": NAME, "$version": 3, "$value": {"units": 1, "cents": 2, "currency": "EUR"}}


def test_a_version_2_row_reads_through_one_step_and_fast_path_results_agree() -> None:
    text = codec_v2().encode(DepositedV2(250, "USD"))
    codec = codec_v3()
    assert codec.decode(text) == DepositedV3(2, 50, "USD")
    assert codec.decode(text) == codec._revive(orjson.loads(text))
    direct = codec.encode(DepositedV3(2, 50, "USD"))
    assert codec.decode(direct) == codec._revive(orjson.loads(direct)) == DepositedV3(2, 50, "USD")
    assert codec.stored_value(DepositedV3(2, 50, "USD"), direct) == DepositedV3(2, 50, "USD")


def test_nested_typed_values_are_upcast_through_their_own_chains() -> None:
    writer = codec_v1()
    writer.register(Holder, "schema.Holder")
    text = writer.encode(Holder(DepositedV1(101), [DepositedV1(1), DepositedV1(202)]))
    reader = codec_v3()
    reader.register(Holder, "schema.Holder")
    assert reader.decode(text) == Holder(DepositedV3(1, 1, "EUR"),
                                         [DepositedV3(0, 1, "EUR"), DepositedV3(2, 2, "EUR")])


def test_outer_upcasters_see_nested_envelopes_as_json() -> None:
    writer = codec_v1()
    writer.register(Holder, "schema.Holder")
    text = writer.encode(Holder(DepositedV1(5), []))
    reader = codec_v3()
    reader.register(Holder, "schema.Holder", version=2)
    seen: list[Any] = []

    @reader.upcaster("schema.Holder", 1)
    def holder_v1_to_v2(value: dict[str, Any]) -> dict[str, Any]:
        seen.append(value["inner"])
        return value

    assert reader.decode(text) == Holder(DepositedV3(0, 5, "EUR"), [])
    assert seen == [{"$type": NAME, "$value": {"amount": 5}}]


def test_decode_error_names_type_and_both_versions_and_pickles() -> None:
    with pytest.raises(DecodeError) as info:
        codec_v1().decode(codec_v3().encode(DepositedV3(1, 2, "EUR")))
    err = info.value
    assert (err.type_name, err.stored_version, err.current_version) == (NAME, 3, 1)
    assert isinstance(err, ValueError)
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.stored_version == 3


@pytest.mark.parametrize("version", ["2", 0, -1, True, 1.5, None])
def test_an_invalid_stored_version_is_a_decode_error(version: Any) -> None:
    text = orjson.dumps({"$type": NAME, "$version": version, "$value": {"amount": 1}})
    with pytest.raises(DecodeError, match="must be an int >= 1"):
        codec_v1().decode(text)


def test_an_upcaster_returning_a_non_dict_is_named() -> None:
    codec = JsonCodec()
    codec.register(DepositedV2, NAME, version=2)
    codec.upcaster(NAME, 1)(lambda v: [v])  # type: ignore[type-var]
    with pytest.raises(DecodeError, match="returned list, not a dict"):
        codec.decode(codec_v1().encode(DepositedV1(1)))


def test_unknown_types_still_decode_to_plain_dicts() -> None:
    text = codec_v3().encode(DepositedV3(1, 2, "EUR"))
    assert JsonCodec().decode(text) == orjson.loads(text)


def test_the_reserved_shape_with_a_version_is_rejected() -> None:
    with pytest.raises(ValueError, match="reserved"):
        JsonCodec().encode({"$type": "x", "$version": 2, "$value": {}})
    assert JsonCodec().decode(JsonCodec().encode({"$type": "x", "$version": 2})) == {
        "$type": "x", "$version": 2}


def test_aliases_and_introspection() -> None:
    codec = codec_v3(aliases=(OLD_NAME,))
    assert codec.resolve(OLD_NAME) == NAME and codec.resolve("nope") is None
    assert codec.current_version(OLD_NAME) == 3
    assert codec.registered_types()[NAME] == (DepositedV3, 3, (OLD_NAME,))
    assert codec.upcast_chain(OLD_NAME, 1) == [
        f"v1->v2 {v1_to_v2.__module__}.v1_to_v2", f"v2->v3 {v2_to_v3.__module__}.v2_to_v3"]
    assert codec.upcast_chain(NAME, 3) == []
    with pytest.raises(DecodeError, match="newer code"):
        codec.upcast_chain(NAME, 4)
    with pytest.raises(DecodeError, match="not registered"):
        codec.upcast_chain("nope", 1)
    assert codec.describe(codec_v1(OLD_NAME).encode(DepositedV1(1))) == (OLD_NAME, 1)
    assert codec.describe('{"plain": 1}') == (None, None)
    assert "schema.Deposited@v3" in repr(codec)


def test_an_upcaster_registered_under_an_alias_is_used() -> None:
    codec = JsonCodec()
    codec.register(DepositedV2, NAME, version=2, aliases=(OLD_NAME,))
    codec.upcaster(OLD_NAME, 1)(v1_to_v2)
    assert codec.decode(codec_v1(OLD_NAME).encode(DepositedV1(3))) == DepositedV2(3, "EUR")
    assert codec.decode(codec_v1().encode(DepositedV1(4))) == DepositedV2(4, "EUR")


def test_register_validates() -> None:
    codec = codec_v3()
    with pytest.raises(ValueError, match=">= 1"):
        codec.register(Holder, "h", version=0)
    with pytest.raises(TypeError, match="version must be an int"):
        codec.register(Holder, "h", version=True)
    with pytest.raises(TypeError, match="not a str"):
        codec.register(Holder, "h", aliases="old")
    with pytest.raises(ValueError, match="non-empty"):
        codec.register(Holder, "h", aliases=("",))
    with pytest.raises(ValueError, match=f"{NAME!r} is already registered"):
        codec.register(Holder, "h", aliases=(NAME,))
    assert codec.type_name(Holder) is None  # nothing half-registered


def test_upcaster_registration_validates_and_replaces_a_re_run_function() -> None:
    codec = JsonCodec()
    with pytest.raises(ValueError, match=">= 1"):
        codec.upcaster(NAME, 0)
    with pytest.raises(TypeError, match="from_version must be an int"):
        codec.upcaster(NAME, "1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        codec.upcaster(NAME, 1)(42)  # type: ignore[type-var]
    codec.upcaster(NAME, 1)(v1_to_v2)
    codec.upcaster(NAME, 1)(v1_to_v2)  # same function again: fine

    def other(value: dict[str, Any]) -> dict[str, Any]:
        return value

    with pytest.raises(ValueError, match="already has an upcaster from version 1"):
        codec.upcaster(NAME, 1)(other)


def test_a_different_class_cannot_take_a_registered_name() -> None:
    codec = codec_v1()
    with pytest.raises(ValueError, match="already registered"):
        codec.register(DepositedV2, NAME, version=2)


def test_re_registration_drops_the_old_name_and_aliases() -> None:
    codec = JsonCodec()
    first = make_dataclass("Cell", [("a", int)], frozen=True)
    codec.register(first, "cell.A", aliases=("cell.Old",))
    second = make_dataclass("Cell", [("a", int)], frozen=True)
    assert (first.__module__, first.__qualname__) == (second.__module__, second.__qualname__)
    codec.register(second, "cell.B")
    assert codec.resolve("cell.A") is None and codec.resolve("cell.Old") is None
    assert codec.decode(codec.encode(second(1))) == second(1)
    third = make_dataclass("Other", [("a", int)], frozen=True)
    codec.register(third, "cell.A")  # the dropped name is free again


def test_module_level_decorators_register_on_the_default_codec() -> None:
    @actorpg_lab.event_type("tests.schema.Module", version=2, aliases=("tests.schema.Old",))
    @dataclass(frozen=True)
    class Module:
        x: int
        y: int

    @actorpg_lab.upcaster("tests.schema.Module", from_version=1)
    def module_v1_to_v2(value: dict[str, Any]) -> dict[str, Any]:
        return {**value, "y": 0}

    codec = actorpg_lab.default_codec
    assert codec.decode('{"$type":"tests.schema.Old","$value":{"x":1}}') == Module(1, 0)
    assert orjson.loads(codec.encode(Module(1, 2)))["$version"] == 2


# -- the property: v1 + chain == direct latest encoding -------------------------------
amounts = st.integers(min_value=-(2**40), max_value=2**40)
currencies = st.text(min_size=0, max_size=8)


@given(amounts)
def test_v1_plus_the_chain_equals_the_direct_latest_encoding(amount: int) -> None:
    reader = codec_v3()
    via_chain = reader.decode(codec_v1().encode(DepositedV1(amount)))
    latest = DepositedV3(amount // 100, amount % 100, "EUR")
    direct = reader.decode(reader.encode(latest))
    assert via_chain == direct == latest
    assert reader.encode(via_chain) == reader.encode(latest)


@given(amounts, currencies)
def test_v2_plus_the_chain_equals_the_direct_latest_encoding(amount: int, currency: str) -> None:
    reader = codec_v3()
    via_chain = reader.decode(codec_v2().encode(DepositedV2(amount, currency)))
    latest = DepositedV3(amount // 100, amount % 100, currency)
    assert via_chain == reader.decode(reader.encode(latest)) == latest
