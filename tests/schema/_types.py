"""Versions of the same logical event / state types, as successive code would define them.

The classes are registered on *fresh* codecs per test (never on ``default_codec``), so
every test states exactly which "deployed code" reads or writes the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actorpg_lab import JsonCodec

NAME = "schema.Deposited"
OLD_NAME = "schema.MoneyIn"
STATE = "schema.Balance"


@dataclass(frozen=True)
class DepositedV1:
    amount: int


@dataclass(frozen=True)
class DepositedV2:
    amount: int
    currency: str


@dataclass(frozen=True)
class DepositedV3:
    """v3 renamed ``amount`` and split it into ``units`` and ``cents``."""

    units: int
    cents: int
    currency: str


@dataclass(frozen=True)
class BalanceV1:
    total: int


@dataclass(frozen=True)
class BalanceV2:
    total: int
    deposits: int


def v1_to_v2(value: dict[str, Any]) -> dict[str, Any]:
    return {**value, "currency": "EUR"}


def v2_to_v3(value: dict[str, Any]) -> dict[str, Any]:
    amount = value["amount"]
    return {"units": amount // 100, "cents": amount % 100, "currency": value["currency"]}


def balance_v1_to_v2(value: dict[str, Any]) -> dict[str, Any]:
    return {**value, "deposits": 0}


def codec_v1(name: str = NAME) -> JsonCodec:
    """The code that wrote the first rows."""
    codec = JsonCodec()
    codec.register(DepositedV1, name)
    codec.register(BalanceV1, STATE)
    return codec


def codec_v2() -> JsonCodec:
    codec = JsonCodec()
    codec.register(DepositedV2, NAME, version=2)
    codec.upcaster(NAME, 1)(v1_to_v2)
    codec.register(BalanceV2, STATE, version=2)
    codec.upcaster(STATE, 1)(balance_v1_to_v2)
    return codec


def codec_v3(*, with_v1_upcaster: bool = True, aliases: tuple[str, ...] = ()) -> JsonCodec:
    """The newest code: v3 events (v1 -> v2 -> v3), v2 states."""
    codec = JsonCodec()
    codec.register(DepositedV3, NAME, version=3, aliases=aliases)
    if with_v1_upcaster:
        codec.upcaster(NAME, 1)(v1_to_v2)
    codec.upcaster(NAME, 2)(v2_to_v3)
    codec.register(BalanceV2, STATE, version=2)
    codec.upcaster(STATE, 1)(balance_v1_to_v2)
    return codec


def codec_without_state_upcaster() -> JsonCodec:
    """v3 events, but the state class moved to v2 without an upcaster."""
    codec = JsonCodec()
    codec.register(DepositedV3, NAME, version=3)
    codec.upcaster(NAME, 1)(v1_to_v2)
    codec.upcaster(NAME, 2)(v2_to_v3)
    codec.register(BalanceV2, STATE, version=2)
    return codec


def fold(state: int, event: Any) -> int:
    """Balance in cents, whatever version the event class is."""
    if isinstance(event, DepositedV1 | DepositedV2):
        return state + event.amount
    if isinstance(event, DepositedV3):
        return state + event.units * 100 + event.cents
    raise TypeError(f"unexpected event {event!r}")
