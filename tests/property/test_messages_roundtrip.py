"""Every wire message round-trips through both codecs; garbage raises the one decode error."""

from __future__ import annotations

import contextlib
import enum
import types
import typing
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyloly import messages
from polyloly.messages import MESSAGE_TYPES, MessageDecodeError

_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=20),
    st.floats(allow_nan=False, allow_infinity=False),
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _strategy_for(annotation: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return _json_values
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(_strategy_for(a) for a in args))
    if annotation is type(None):
        return st.none()
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return st.sampled_from(list(annotation))
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(-(2**63), 2**63 - 1)
    if annotation is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if annotation is str:
        return st.text(max_size=30)
    if origin is tuple:
        return st.lists(_strategy_for(args[0]), max_size=3).map(tuple)
    if origin is dict:
        return st.dictionaries(st.text(max_size=8), _strategy_for(args[1]), max_size=3)
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return _struct_strategy(annotation)
    raise TypeError(f"no strategy for {annotation!r}")


def _struct_strategy(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    fields = {
        f.name: _strategy_for(hints[f.name])
        for f in msgspec.structs.fields(cls)
        if f.name != "v"
    }
    return st.builds(cls, **fields)


@pytest.mark.parametrize("cls", MESSAGE_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_message_round_trips_through_msgpack_and_json(cls: type, data: Any) -> None:
    message = data.draw(_struct_strategy(cls))
    assert messages.decode(messages.encode(message)) == message
    assert messages.decode_json(messages.encode_json(message)) == message
    assert messages.from_builtins(messages.to_builtins(message)) == message


@given(st.binary(max_size=200))
def test_garbage_bytes_raise_only_message_decode_error(data: bytes) -> None:
    with contextlib.suppress(MessageDecodeError):
        messages.decode(data)


@given(st.binary(max_size=200))
def test_garbage_json_raises_only_message_decode_error(data: bytes) -> None:
    with contextlib.suppress(MessageDecodeError):
        messages.decode_json(data)


def test_unknown_schema_version_is_refused() -> None:
    tick = messages.RiskState(halted=True, kill_switch=False, reason="x", t_ns=1)
    raw = messages.to_builtins(tick)
    raw["v"] = 99
    with pytest.raises(MessageDecodeError, match="schema version 99"):
        messages.decode(msgspec.msgpack.encode(raw))


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(MessageDecodeError):
        messages.decode(msgspec.msgpack.encode({"kind": "nope", "v": 1}))


def test_topic_starts_with_kind_and_market() -> None:
    tick = messages.BookTick(
        market_id="0xabc", token_id="1", slot=0, seq=1, t_exchange_ms=0, t_recv_ns=0,
        t_parsed_ns=0, t_shm_ns=0,
    )
    assert messages.topic(tick) == b"book_tick|0xabc|"
