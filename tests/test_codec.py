"""The payload codec: plain JSON unchanged, dataclasses by registry, bad values rejected."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from actorpg_lab import JsonCodec, UnregisteredTypeWarning


@dataclass(frozen=True)
class Money:
    amount: int
    currency: str


@dataclass(frozen=True)
class Transfer:
    source: str
    target: str
    money: Money
    memo: list[str]


@pytest.fixture
def codec() -> JsonCodec:
    c = JsonCodec()
    c.register(Money, "Money")
    c.register(Transfer, "Transfer")
    return c


@pytest.mark.parametrize(
    "value",
    [None, True, False, 0, -1, 2**63 - 1, -(2**63), 2**64 - 1, 0.1, -2.5e300, "",
     "ü ✓ 🚀 \u202e rtl", "nul \x00 inside", [], {},
     {"nested": [1, {"a": None}]}, {"$type": "only one reserved key"}],
)
def test_plain_json_round_trips_unchanged(codec: JsonCodec, value: Any) -> None:
    assert codec.decode(codec.encode(value)) == value


def test_dataclasses_round_trip_nested(codec: JsonCodec) -> None:
    value = Transfer("a", "b", Money(5, "EUR"), ["x"])
    text = codec.encode(value)
    assert '"$type":"Transfer"' in text
    assert codec.decode(text) == value
    assert codec.decode(codec.encode({"list": [Money(1, "USD")]})) == {"list": [Money(1, "USD")]}


def test_unregistered_type_decodes_to_tagged_dict() -> None:
    writer, reader = JsonCodec(), JsonCodec()
    writer.register(Money, "Money")
    assert reader.decode(writer.encode(Money(1, "EUR"))) == {
        "$type": "Money", "$value": {"amount": 1, "currency": "EUR"}}


def test_unregistered_dataclass_is_registered_on_encode_with_a_warning() -> None:
    codec = JsonCodec()
    with pytest.warns(UnregisteredTypeWarning, match=rf"{__name__}\.Money is not registered"):
        text = codec.encode(Money(3, "GBP"))
    assert codec.decode(text) == Money(3, "GBP")
    assert codec.type_name(Money) == f"{__name__}.Money"
    assert codec.is_implicit(f"{__name__}.Money")
    codec.encode(Money(4, "GBP"))  # warned once per class: no second warning (error here)


def test_unregistered_dataclass_can_be_refused_or_registered_silently() -> None:
    strict = JsonCodec(unregistered="error")
    with pytest.raises(TypeError, match="not registered"):
        strict.encode({"nested": [Money(1, "EUR")]})
    assert strict.type_name(Money) is None
    quiet = JsonCodec(unregistered="register")
    assert quiet.decode(quiet.encode(Money(1, "EUR"))) == Money(1, "EUR")
    with pytest.raises(ValueError, match="unregistered"):
        JsonCodec(unregistered="ignore")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [float("nan"), float("-inf"), [1, float("inf")]])
def test_nan_and_infinity_are_rejected(codec: JsonCodec, value: Any) -> None:
    with pytest.raises(ValueError, match="JSON"):
        codec.encode(value)


@pytest.mark.parametrize("value", [object(), b"bytes", {1: "non-str key is fine"}, 1j])
def test_non_json_values(codec: JsonCodec, value: Any) -> None:
    if isinstance(value, dict):
        assert codec.decode(codec.encode(value)) == {"1": "non-str key is fine"}
        return
    with pytest.raises(TypeError, match="not JSON serializable"):
        codec.encode(value)


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, {"deep": [10**30]}])
def test_integers_json_readers_cannot_keep_exact_are_rejected(codec: JsonCodec, value: Any) -> None:
    with pytest.raises(ValueError):
        codec.encode(value)


def test_lone_surrogates_are_rejected(codec: JsonCodec) -> None:
    with pytest.raises(ValueError, match="UTF-8"):
        codec.encode({"s": "\udc80"})


def test_deep_nesting_is_a_value_error(codec: JsonCodec) -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested too deeply"):
        codec.encode(deep)


def test_reserved_shape_is_rejected(codec: JsonCodec) -> None:
    with pytest.raises(ValueError, match="reserved"):
        codec.encode({"$type": "Money", "$value": {"amount": 1, "currency": "x"}})


def test_register_validates(codec: JsonCodec) -> None:
    with pytest.raises(TypeError, match="dataclasses"):
        codec.register(int)
    with pytest.raises(ValueError, match="already registered"):
        codec.register(Transfer, "Money")
