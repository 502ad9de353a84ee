"""Wire messages between processes (ARCHITECTURE §4) and the event-log envelope (SPEC §10.3).

Every message is a frozen ``msgspec.Struct`` tagged by ``kind``; one codec pair
(:func:`encode` / :func:`decode`) serves ZeroMQ and the event log. ``v`` is the schema version
of the message; decoders refuse versions they do not know.

Times: ``*_ns`` are CLOCK_MONOTONIC nanoseconds (comparable across processes on one host),
``*_ms`` are wall-clock milliseconds since the epoch. ``t_origin_ns`` is the monotonic time the
gateway received the frame that started the chain, carried along so any process can compute
tick-to-X latency by subtraction.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Final, Literal, Union, cast

import msgspec

from polyloly.domain import (
    FillType,
    MatchEventType,
    OrderStatus,
    OrderType,
    Outcome,
    RejectReason,
    Side,
    SourceTier,
    Strategy,
    TradingState,
    TruthStatus,
)

SCHEMA_VERSION: Final = 1


class MessageDecodeError(ValueError):
    """Raised for any bytes that are not one valid message of a known kind and version."""


class _Message(msgspec.Struct, frozen=True, tag_field="kind", kw_only=True):
    v: int = SCHEMA_VERSION


# --- gateway → all (PUB) -------------------------------------------------------------------


class BookTick(_Message, frozen=True, tag="book_tick"):
    """A book in shared memory changed: read slot ``slot`` at or after ``seq``."""

    market_id: str
    token_id: str
    slot: int
    seq: int
    t_exchange_ms: int  # venue timestamp of the update
    t_recv_ns: int  # frame received by the gateway
    t_parsed_ns: int  # frame decoded
    t_shm_ns: int  # shm write finished
    flags: int = 0  # shm slot flags at publish time (STALE, RESYNCING, CROSSED)


# --- MatchEvent payloads: one frozen struct per MatchEventType, tagged by ``type`` --------------
# Built and validated once, in the gateway adapters (gateway/esports/events.py); the shards read
# typed fields. Team sides are "A"/"B" (A = YES = token 0); counts are integers >= 0.

TeamSide = Literal["A", "B"]
Count = Annotated[int, msgspec.Meta(ge=0)]
GameNumber = Annotated[int, msgspec.Meta(ge=1)]  # 1-based map (game) number in the series
NonNegative = Annotated[float, msgspec.Meta(ge=0)]


class PayloadError(ValueError):
    """A MatchEvent payload that does not match its event type's struct; names the field."""


class _Payload(msgspec.Struct, frozen=True, kw_only=True, tag_field="type",
               forbid_unknown_fields=True, omit_defaults=True):
    """Base of the payload structs (unknown fields are refused: a misspelt key is a bug;
    fields at their default, None for "not reported", are left off the wire)."""


class MatchStartedPayload(_Payload, frozen=True, tag="MATCH_STARTED"):
    """The provider says the match is live."""


class MatchPausedPayload(_Payload, frozen=True, tag="MATCH_PAUSED"):
    """The provider paused the match."""


class MatchResumedPayload(_Payload, frozen=True, tag="MATCH_RESUMED"):
    """The provider resumed the match."""


class MapStartedPayload(_Payload, frozen=True, tag="MAP_STARTED"):
    """Game ``game_number`` began; the series score before it."""

    game_number: GameNumber
    maps_a: Count
    maps_b: Count


class GameStatePayload(_Payload, frozen=True, tag="GAME_STATE"):
    """An in-game snapshot of map ``game_number`` (None: the map in progress); every in-map
    field is None when the provider does not report it for this game."""

    game_number: GameNumber | None = None
    maps_a: Count | None = None
    maps_b: Count | None = None
    gold_diff_a: float | None = None  # team A minus team B, gold (finite)
    game_time_s: NonNegative | None = None
    rounds_a: Count | None = None  # rounds of this map (they restart at 0 on each map)
    rounds_b: Count | None = None
    kills_a: Count | None = None
    kills_b: Count | None = None
    towers_a: Count | None = None
    towers_b: Count | None = None
    inhibitors_a: Count | None = None
    inhibitors_b: Count | None = None
    barons_a: Count | None = None
    barons_b: Count | None = None
    dragons_a: Count | None = None
    dragons_b: Count | None = None

    def __post_init__(self) -> None:
        _check_finite(self, "gold_diff_a", "game_time_s")


class MapEndedPayload(_Payload, frozen=True, tag="MAP_ENDED"):
    """Map ``game_number`` (None: the map in progress) was won by ``winner``; the series score
    after it when the provider states it. ``backfill``: over before we watched (no signal)."""

    winner: TeamSide
    game_number: GameNumber | None = None
    maps_a: Count | None = None
    maps_b: Count | None = None
    backfill: bool = False
    winner_team: str = ""  # the provider's name and id of the winner, for the audit
    winner_team_id: str = ""


class MatchEndedPayload(_Payload, frozen=True, tag="MATCH_ENDED"):
    """The series was won by ``winner``; the final series score when the provider states it."""

    winner: TeamSide
    maps_a: Count | None = None
    maps_b: Count | None = None
    backfill: bool = False
    winner_team: str = ""
    winner_team_id: str = ""


MatchPayload = Union[  # noqa: UP007 - a runtime union for msgspec's tagged decoding
    MatchStartedPayload,
    GameStatePayload,
    MapStartedPayload,
    MapEndedPayload,
    MatchPausedPayload,
    MatchResumedPayload,
    MatchEndedPayload,
]
PAYLOAD_TYPES: Final[dict[MatchEventType, type[_Payload]]] = {
    MatchEventType(t.__struct_config__.tag): t
    for t in MatchPayload.__args__  # type: ignore[attr-defined]
}
"""Event type → its payload struct (one each)."""


def _check_finite(payload: msgspec.Struct, *names: str) -> None:
    for name in names:
        value = getattr(payload, name)
        if value is not None and not math.isfinite(value):
            raise PayloadError(f"{name}: expected a finite number, got {value!r}")


def payload_from_dict(event_type: MatchEventType, data: dict[str, Any]) -> MatchPayload:
    """Build and validate ``event_type``'s payload struct from plain fields (an adapter's, or
    an older recording's dict payload); raise :class:`PayloadError` naming the field."""
    kind = PAYLOAD_TYPES[MatchEventType(event_type)]
    try:
        # the struct of the event type: a member of MatchPayload by construction of the table
        payload = cast(MatchPayload, msgspec.convert(data, kind, strict=True))
    except (msgspec.ValidationError, ValueError, TypeError) as exc:
        raise PayloadError(f"{MatchEventType(event_type).value} payload: "
                           f"{_field_message(str(exc))}") from None
    return payload


def payload_fields(payload: MatchPayload) -> dict[str, Any]:
    """The fields a payload reports, as plain values: no ``type`` tag, none at its default
    (None, ``backfill`` False, an empty team name), for logs, audits and comparisons."""
    fields: dict[str, Any] = msgspec.to_builtins(payload)
    fields.pop("type", None)
    return fields


def _field_message(text: str) -> str:
    """msgspec's ``Expected `int`, got `str` - at `$.kills_a``` as ``kills_a: Expected …``."""
    head, sep, where = text.rpartition(" - at `$.")
    if sep:
        return f"{where.rstrip('`')}: {head}"
    return text


class MatchEvent(_Message, frozen=True, tag="match_event"):
    """A normalized esports event from one provider (SPEC §6); ``payload`` is the struct of
    ``event_type`` (checked on construction and decoding)."""

    match_id: str
    source: str
    tier: SourceTier
    event_type: MatchEventType
    payload: MatchPayload
    t_event_ms: int  # when the provider says it happened
    t_recv_ns: int
    t_recv_ms: int
    seq: int = 0  # per-source sequence number assigned by the gateway

    def __post_init__(self) -> None:
        tag = self.payload.__struct_config__.tag
        if tag != str(self.event_type):  # StrEnum: its value
            raise PayloadError(f"payload: a {tag} payload on a {self.event_type} event")


class TradePrint(_Message, frozen=True, tag="trade_print"):
    """A trade on the venue's public tape (market channel ``last_trade_price``)."""

    market_id: str
    token_id: str
    price: float
    size: float
    side: Side
    t_exchange_ms: int
    t_recv_ns: int


class SourceHealth(_Message, frozen=True, tag="source_health"):
    """Staleness of one feed (SPEC §6.3), published when it changes."""

    source: str
    tier: SourceTier
    stale: bool
    last_event_age_ms: int
    stale_threshold_ms: int
    t_ns: int
    match_id: str | None = None
    detail: str = ""


# --- shard → engine (DEALER → ROUTER) ------------------------------------------------------


class FactRef(msgspec.Struct, frozen=True, kw_only=True):
    """One fact an intent rested on: which field, which source said it, and when it says it
    happened (wall-clock ms, the source's own time)."""

    field: str
    source: str
    t_source_ms: int
    value: str = ""  # the fact as text ("2-1", "A", "13"): the audit compares it to the truth


class IntentTruth(msgspec.Struct, frozen=True, kw_only=True):
    """The truth an intent was based on, so an audit can count intents whose inputs were stale
    or never true: the Truth Engine state, its confirmation rule, and the facts used."""

    status: TruthStatus
    rule: str = ""  # the confirmation rule when FINAL ("timeout_fallback" is flagged so)
    facts: tuple[FactRef, ...] = ()



class OrderIntent(_Message, frozen=True, tag="order_intent"):
    """A strategy's wish to place one order; the engine decides whether it becomes one."""

    intent_id: str
    idempotency_key: str
    shard_id: int
    market_id: str
    token_id: str
    outcome: Outcome
    side: Side
    price: float  # limit price, on tick
    size: float  # shares
    order_type: OrderType
    strategy: Strategy
    t_origin_ns: int
    t_decision_ns: int
    t_sent_ns: int
    reason: str = ""
    expected_edge: float = 0.0
    expected_price: float = 0.0  # effective fill price the shard computed from depth
    t_parsed_ns: int = 0  # the originating BookTick's stamps (0: not from a book tick)
    t_shm_ns: int = 0
    truth: IntentTruth | None = None  # None only from older shards (wire compatible)
    # maker quotes (issue 17): rest only, never take (a crossing one is refused by the venue);
    # GTD expiry in epoch seconds (0: none). Defaults keep older shards' intents valid.
    post_only: bool = False
    expiration_s: int = 0


class CancelIntent(_Message, frozen=True, tag="cancel_intent"):
    """Ask the engine to cancel our open orders in a market (one token, or all)."""

    intent_id: str
    shard_id: int
    market_id: str
    t_sent_ns: int
    token_id: str | None = None
    reason: str = ""
    # only the orders of these intents (a maker quote's cancel or replace); empty: every order
    # of the market (token)
    intent_ids: tuple[str, ...] = ()


class MarketStatus(_Message, frozen=True, tag="market_status"):
    """A shard's view of one market, for status displays and the event log."""

    shard_id: int
    market_id: str
    match_id: str
    truth_status: TruthStatus
    confidence: float
    trading_state: TradingState
    t_ns: int
    implied_probability: float | None = None
    winner: str | None = None


class StateQuery(_Message, frozen=True, tag="state_query"):
    """A (re)starting shard asks the engine for its markets' positions and open orders."""

    shard_id: int
    market_ids: tuple[str, ...]
    t_sent_ns: int


# --- engine → shard / all --------------------------------------------------------------------


class IntentAck(_Message, frozen=True, tag="intent_ack"):
    """The engine's answer to one intent: accepted, or rejected with a reason code."""

    intent_id: str
    idempotency_key: str
    accepted: bool
    t_ns: int
    reason: RejectReason | None = None
    detail: str = ""
    order_id: str | None = None


class PositionView(msgspec.Struct, frozen=True, kw_only=True):
    market_id: str
    token_id: str
    outcome: Outcome
    shares: float
    cost_usdc: float
    fees_usdc: float


class OrderView(msgspec.Struct, frozen=True, kw_only=True):
    order_id: str
    intent_id: str
    market_id: str
    token_id: str
    side: Side
    price: float
    size: float
    filled_size: float
    status: OrderStatus
    strategy: Strategy
    order_type: OrderType | None = None  # GTC/GTD: a resting quote (None: an older engine)


class ResolvedMarketView(msgspec.Struct, frozen=True, kw_only=True):
    """A market the engine settled (the venue resolved it); ``winning_token_id`` None = 50-50."""

    market_id: str
    winning_token_id: str | None = None


class StateSnapshot(_Message, frozen=True, tag="state_snapshot"):
    """The engine's answer to :class:`StateQuery`.

    ``resolved_markets`` lists the asked-for markets the engine already settled, so a shard
    restarted after a resolution goes straight to RESOLVED (empty from older engines).
    """

    shard_id: int
    positions: tuple[PositionView, ...]
    open_orders: tuple[OrderView, ...]
    halted_markets: tuple[str, ...]
    kill_switch: bool
    t_ns: int
    resolved_markets: tuple[ResolvedMarketView, ...] = ()


class ExecutionReport(_Message, frozen=True, tag="execution_report"):
    """A change in one of our orders: status, and the fill that caused it if any."""

    order_id: str
    intent_id: str
    idempotency_key: str
    shard_id: int
    market_id: str
    token_id: str
    outcome: Outcome
    side: Side
    strategy: Strategy
    status: OrderStatus
    price: float
    size: float
    filled_size: float
    avg_fill_price: float
    t_ns: int
    t_origin_ns: int = 0
    last_fill_size: float = 0.0
    last_fill_price: float = 0.0
    fee_usdc: float = 0.0
    fill_type: FillType | None = None
    venue_order_id: str | None = None
    reason: str = ""


class RiskState(_Message, frozen=True, tag="risk_state"):
    """A market halted or released, or the global kill switch pulled or released."""

    halted: bool
    kill_switch: bool
    reason: str
    t_ns: int
    market_id: str | None = None  # None: global


class MarketResolved(_Message, frozen=True, tag="market_resolved"):
    """The venue resolved a market (market channel ``market_resolved``); gateway → all (PUB).

    ``winning_token_id`` None means a 50-50 resolution (each share pays 0.5).
    """

    market_id: str
    t_exchange_ms: int
    t_recv_ns: int
    winning_token_id: str | None = None


# --- gateway → engine (PUSH → PULL): user channel ----------------------------------------


class UserOrderUpdate(_Message, frozen=True, tag="user_order"):
    """User-channel ``order`` event (PLACEMENT / UPDATE / CANCELLATION)."""

    venue_order_id: str
    market_id: str
    token_id: str
    side: Side
    price: float
    original_size: float
    size_matched: float
    status: str  # venue status string, e.g. LIVE, MATCHED, CANCELED
    update_type: str  # PLACEMENT, UPDATE, CANCELLATION
    t_exchange_ms: int
    t_recv_ns: int


class MakerFill(msgspec.Struct, frozen=True, kw_only=True):
    venue_order_id: str
    token_id: str
    price: float
    matched_size: float
    side: Side | None = None
    owner: str = ""


class UserTradeUpdate(_Message, frozen=True, tag="user_trade"):
    """User-channel ``trade`` event: a match involving one of our orders."""

    trade_id: str
    market_id: str
    token_id: str
    side: Side  # taker side
    price: float
    size: float
    status: str  # MATCHED, MINED, CONFIRMED, RETRYING, FAILED
    trader_side: str  # TAKER or MAKER
    taker_order_id: str
    maker_orders: tuple[MakerFill, ...]
    t_exchange_ms: int
    t_recv_ns: int
    fee_rate_bps: float = 0.0


# --- shard internal, recorded in the event log ----------------------------------------------


class TruthDelta(_Message, frozen=True, tag="truth_delta"):
    """The Truth Engine changed a match's state or confidence."""

    match_id: str
    status: TruthStatus
    confidence: float
    change: str
    t_ns: int
    data: dict[str, Any] = {}


class TruthFinal(_Message, frozen=True, tag="truth_final"):
    """The Truth Engine finalized a match's winner."""

    match_id: str
    winner: str
    confidence: float
    sources: tuple[str, ...]
    rule: str
    t_ns: int


Message = Union[  # noqa: UP007 - a runtime union for msgspec's tagged decoding
    BookTick,
    MatchEvent,
    TradePrint,
    SourceHealth,
    OrderIntent,
    CancelIntent,
    MarketStatus,
    StateQuery,
    IntentAck,
    StateSnapshot,
    ExecutionReport,
    RiskState,
    UserOrderUpdate,
    UserTradeUpdate,
    TruthDelta,
    TruthFinal,
    MarketResolved,
]
MESSAGE_TYPES: Final[tuple[type, ...]] = Message.__args__  # type: ignore[attr-defined]

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)
_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder(Message)


class _LegacyMatchEvent(_Message, frozen=True, tag="match_event"):
    """A MatchEvent as written before typed payloads (``payload`` a plain dict, no ``type``):
    what an older recording, journal or process sends; upgraded by :func:`_upgrade`."""

    match_id: str
    source: str
    tier: SourceTier
    event_type: MatchEventType
    payload: dict[str, Any]
    t_event_ms: int
    t_recv_ns: int
    t_recv_ms: int
    seq: int = 0


_legacy_decoder = msgspec.msgpack.Decoder(_LegacyMatchEvent)
_legacy_json_decoder = msgspec.json.Decoder(_LegacyMatchEvent)


def _upgrade(old: _LegacyMatchEvent) -> MatchEvent:
    """The typed MatchEvent of a dict-payload one; raise :class:`PayloadError` (field named)."""
    payload = payload_from_dict(old.event_type, old.payload)
    return MatchEvent(match_id=old.match_id, source=old.source, tier=old.tier,
                      event_type=old.event_type, payload=payload, t_event_ms=old.t_event_ms,
                      t_recv_ns=old.t_recv_ns, t_recv_ms=old.t_recv_ms, seq=old.seq, v=old.v)


def _legacy(decode_old: Any, data: Any, error: Exception) -> Message:
    """Retry a refused input as an older dict-payload MatchEvent; re-raise ``error`` (the
    current schema's complaint) when it is not one."""
    try:
        old = decode_old(data)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError):
        raise error from None
    try:
        return _upgrade(old)
    except PayloadError as exc:
        raise MessageDecodeError(f"match_event: {exc}") from None


def encode(message: Message) -> bytes:
    """Encode one message for the wire (msgpack)."""
    return _encoder.encode(message)


def decode(data: bytes) -> Message:
    """Decode one wire message; raise :class:`MessageDecodeError` for anything else."""
    try:
        message = _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError) as exc:
        error = MessageDecodeError(f"undecodable message ({len(data)} bytes): {exc}")
        message = _legacy(_legacy_decoder.decode, data, error)
    return _check_version(message)


def encode_json(message: Message) -> bytes:
    """Encode one message as JSON (event log, debugging)."""
    return _json_encoder.encode(message)


def decode_json(data: bytes | str) -> Message:
    """Decode one JSON-encoded message; raise :class:`MessageDecodeError` for anything else."""
    try:
        message = _json_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError) as exc:
        error = MessageDecodeError(f"undecodable JSON message: {exc}")
        message = _legacy(_legacy_json_decoder.decode, data, error)
    return _check_version(message)


def to_builtins(message: Message) -> dict[str, Any]:
    """Turn a message into plain JSON-able builtins (dict with its ``kind`` tag)."""
    result: dict[str, Any] = msgspec.to_builtins(message)
    return result


def from_builtins(data: Any) -> Message:
    """Inverse of :func:`to_builtins`; raise :class:`MessageDecodeError` on bad data."""
    try:
        message = msgspec.convert(data, Message)
    except (msgspec.ValidationError, ValueError, TypeError) as exc:
        error = MessageDecodeError(f"invalid message data: {exc}")
        message = _legacy(lambda d: msgspec.convert(d, _LegacyMatchEvent), data, error)
    return _check_version(message)


def _check_version(message: Message) -> Message:
    if message.v != SCHEMA_VERSION:
        raise MessageDecodeError(
            f"{type(message).__name__}: unknown schema version {message.v}, "
            f"expected {SCHEMA_VERSION}"
        )
    return message


def topic(message: Message) -> bytes:
    """ZeroMQ topic: the kind and the market or match id, so SUB filters by prefix."""
    kind = message.__struct_config__.tag
    key = getattr(message, "market_id", None) or getattr(message, "match_id", None) or "*"
    return f"{kind}|{key}|".encode()
