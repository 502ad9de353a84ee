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
from polyloly.domain import MatchEventType
from polyloly.messages import MESSAGE_TYPES, PAYLOAD_TYPES, MessageDecodeError, PayloadError

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
    if origin is typing.Annotated:  # a msgspec.Meta bound (counts >= 0, map numbers >= 1)
        low = next((m.ge for m in args[1:] if isinstance(m, msgspec.Meta)), None)
        if args[0] is int:
            return st.integers(-(2**63) if low is None else low, 2**63 - 1)
        return st.floats(min_value=low, allow_nan=False, allow_infinity=False)
    if origin is typing.Literal:
        return st.sampled_from(args)
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
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {
        f.name: _strategy_for(hints[f.name])
        for f in msgspec.structs.fields(cls)
        if f.name != "v"
    }
    if cls is messages.MatchEvent:  # the event type is the payload's (checked on building)
        fields["payload"] = st.sampled_from(PAYLOADS).flatmap(_struct_strategy)
        return st.builds(dict, **fields).map(lambda f: cls(
            event_type=MatchEventType(f["payload"].__struct_config__.tag),
            **{k: v for k, v in f.items() if k != "event_type"}))
    return st.builds(cls, **fields)


PAYLOADS = tuple(PAYLOAD_TYPES.values())


@pytest.mark.parametrize("cls", MESSAGE_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_message_round_trips_through_msgpack_and_json(cls: type, data: Any) -> None:
    message = data.draw(_struct_strategy(cls))
    assert messages.decode(messages.encode(message)) == message
    assert messages.decode_json(messages.encode_json(message)) == message
    assert messages.from_builtins(messages.to_builtins(message)) == message


@pytest.mark.parametrize("cls", PAYLOADS, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_match_payload_round_trips_in_its_event_and_from_an_old_dict(
    cls: type, data: Any
) -> None:
    payload = data.draw(_struct_strategy(cls))
    event = messages.MatchEvent(
        match_id="m", source="grid", tier="A", event_type=MatchEventType(cls.__struct_config__.tag),
        payload=payload, t_event_ms=1, t_recv_ns=2, t_recv_ms=3, seq=4)
    assert messages.decode(messages.encode(event)) == event
    assert messages.decode_json(messages.encode_json(event)) == event
    assert messages.payload_from_dict(event.event_type, messages.payload_fields(payload)) == payload
    # an older recording's or process's MatchEvent: the payload a plain dict with no "type"
    old = messages.to_builtins(event)
    old["payload"] = messages.payload_fields(payload)
    assert messages.from_builtins(old) == event
    assert messages.decode(msgspec.msgpack.encode(old)) == event
    assert messages.decode_json(msgspec.json.encode(old)) == event


@pytest.mark.parametrize(("event_type", "fields", "named"), [
    ("GAME_STATE", {"kills_a": -1}, "kills_a"),
    ("GAME_STATE", {"rounds_b": "3"}, "rounds_b"),
    ("GAME_STATE", {"game_number": 0}, "game_number"),
    ("GAME_STATE", {"gold_diff_a": float("inf")}, "gold_diff_a"),
    ("GAME_STATE", {"kils_a": 1}, "kils_a"),
    ("MAP_ENDED", {"game_number": 1}, "winner"),
    ("MATCH_ENDED", {"winner": "Team AAA"}, "winner"),
    ("MAP_STARTED", {"game_number": 2}, "maps_a"),
])
def test_an_invalid_payload_is_refused_naming_the_field(
    event_type: str, fields: dict[str, Any], named: str
) -> None:
    with pytest.raises(PayloadError, match=f"{event_type} payload: .*{named}"):
        messages.payload_from_dict(MatchEventType(event_type), fields)


def test_a_payload_of_another_event_type_is_refused() -> None:
    with pytest.raises(PayloadError, match="a MATCH_STARTED payload on a MAP_ENDED event"):
        messages.MatchEvent(match_id="m", source="s", tier="A", event_type="MAP_ENDED",
                            payload=messages.MatchStartedPayload(), t_event_ms=1, t_recv_ns=1,
                            t_recv_ms=1)
    wrong = messages.to_builtins(messages.MatchEvent(
        match_id="m", source="s", tier="A", event_type=MatchEventType.MATCH_STARTED,
        payload=messages.MatchStartedPayload(), t_event_ms=1, t_recv_ns=1, t_recv_ms=1))
    wrong["event_type"] = "MATCH_PAUSED"
    with pytest.raises(MessageDecodeError):
        messages.from_builtins(wrong)


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
