"""Typed wire schemas of Polymarket's market and user WebSocket channels (VENUE §1–§2).

One frozen ``msgspec.Struct`` per ``event_type``, one tagged-union decode (ARCHITECTURE §9:
msgspec typed decoding beat orjson). Numbers arrive as JSON strings; the decoders run with
``strict=False`` so ``"0.48"`` decodes straight into a float. Unknown keys are ignored.

Every number is range-checked and every list and string capped in the schema itself (issue 20
#5): a value out of range fails the decode, so the element becomes a dead letter before anything
reaches the shm writer (whose int64 header a timestamp ≥ 2**63 once broke half-way).
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec
from msgspec import Meta

from polyloly.domain import Side

MAX_LEVELS: Final = 20_000  # levels of one side of one book (the venue's deepest: ~1 000)
MAX_CHANGES: Final = 20_000  # entries of one price_change
MAX_ID_CHARS: Final = 200  # token ids are ~78 digits, condition ids 66 chars
MAX_HASH_CHARS: Final = 128
MAX_SIZE: Final = 1e12  # shares at one level or in one trade (the venue's cap is far below)

TimestampMs = Annotated[int, Meta(ge=0, le=(1 << 63) - 1)]  # stored as int64 in shm headers
Price = Annotated[float, Meta(ge=0.0, le=1.0)]  # 0 and 1 are the empty-side sentinels
TickSize = Annotated[float, Meta(ge=0.0001, le=0.1)]  # the venue's ticks: 0.1 … 0.0001
Size = Annotated[float, Meta(ge=0.0, le=MAX_SIZE)]  # NaN and inf fail these bounds too
Id = Annotated[str, Meta(max_length=MAX_ID_CHARS)]
Hash = Annotated[str, Meta(max_length=MAX_HASH_CHARS)]


class _Event(msgspec.Struct, frozen=True, tag_field="event_type", kw_only=True):
    pass


class WsLevel(msgspec.Struct, frozen=True):
    """One book level: price in USDC per share, size in shares."""

    price: Price
    size: Size


class WsBook(_Event, frozen=True, tag="book"):
    """Full snapshot of one token's book; bids ascending and asks descending (best last)."""

    asset_id: Id
    market: Id
    bids: Annotated[list[WsLevel], Meta(max_length=MAX_LEVELS)]
    asks: Annotated[list[WsLevel], Meta(max_length=MAX_LEVELS)]
    timestamp: TimestampMs  # ms since the epoch
    hash: Hash = ""


class WsPriceChangeEntry(msgspec.Struct, frozen=True, kw_only=True):
    """Current shape (since 2025-09-15): one level change with the token's top after it."""

    asset_id: Id
    price: Price
    size: Size  # new total size at the level; 0 removes it
    side: Side  # BUY = bid level, SELL = ask level
    hash: Hash = ""
    best_bid: Price | None = None  # 0 when the bid side is empty
    best_ask: Price | None = None  # 1 when the ask side is empty


class WsLegacyChange(msgspec.Struct, frozen=True, kw_only=True):
    """Legacy shape (Oct 2024 – Sep 2025): ``changes[]`` entries of one token."""

    price: Price
    size: Size
    side: Side


class WsPriceChange(_Event, frozen=True, tag="price_change"):
    """All three historical ``price_change`` shapes; exactly one of them is filled in.

    * current: ``price_changes[]`` (entries may name different tokens of the market);
    * legacy: top-level ``asset_id`` + ``changes[]``;
    * 2024 flat: top-level ``asset_id``, ``price``, ``size``, ``side``.
    """

    market: Id
    timestamp: TimestampMs
    price_changes: Annotated[list[WsPriceChangeEntry], Meta(max_length=MAX_CHANGES)] | None = None
    asset_id: Id | None = None
    changes: Annotated[list[WsLegacyChange], Meta(max_length=MAX_CHANGES)] | None = None
    price: Price | None = None
    size: Size | None = None
    side: Side | None = None
    hash: Hash = ""


class WsTickSizeChange(_Event, frozen=True, tag="tick_size_change"):
    asset_id: Id
    market: Id
    old_tick_size: TickSize
    new_tick_size: TickSize
    timestamp: TimestampMs


class WsLastTradePrice(_Event, frozen=True, tag="last_trade_price"):
    asset_id: Id
    market: Id
    price: Price
    timestamp: TimestampMs
    side: Side | None = None  # taker side
    size: Size = 0.0


class WsBestBidAsk(_Event, frozen=True, tag="best_bid_ask"):
    asset_id: Id
    market: Id
    best_bid: Price
    best_ask: Price
    timestamp: TimestampMs


class WsNewMarket(_Event, frozen=True, tag="new_market"):
    market: Id = ""
    timestamp: TimestampMs = 0


class WsMarketResolved(_Event, frozen=True, tag="market_resolved"):
    market: Id
    winning_asset_id: Id = ""
    winning_outcome: Id = ""
    timestamp: TimestampMs = 0


MarketEvent = (
    WsBook
    | WsPriceChange
    | WsTickSizeChange
    | WsLastTradePrice
    | WsBestBidAsk
    | WsNewMarket
    | WsMarketResolved
)


# --- user channel ------------------------------------------------------------------------
# Time and size fields stay strings here: the venue sends "" for some of them (killed FOK).


Text = Annotated[str, Meta(max_length=64)]  # numbers as text, types, sides
Status = Annotated[str, Meta(max_length=1024)]  # the venue appends reasons to some statuses


class WsOrder(_Event, frozen=True, tag="order"):
    id: Id
    market: Id
    asset_id: Id
    side: Side
    price: Price
    original_size: Text = "0"
    size_matched: Text = "0"
    status: Status = ""
    type: Text = ""  # PLACEMENT, UPDATE, CANCELLATION
    timestamp: Text = ""


class WsMakerOrder(msgspec.Struct, frozen=True, kw_only=True):
    order_id: Id
    asset_id: Id
    price: Price
    matched_amount: Size
    side: Side | None = None
    owner: Id = ""


MakerOrders = Annotated[list[WsMakerOrder], Meta(max_length=MAX_CHANGES)]


class WsTrade(_Event, frozen=True, tag="trade"):
    id: Id
    market: Id
    asset_id: Id
    side: Side
    price: Price
    size: Size
    status: Status
    trader_side: Text = ""
    taker_order_id: Id = ""
    maker_orders: MakerOrders = []
    fee_rate_bps: Text = "0"
    timestamp: Text = ""
    match_time: Text = ""


UserEvent = WsOrder | WsTrade

market_frame_decoder = msgspec.json.Decoder(
    list[MarketEvent] | MarketEvent, strict=False
)
market_event_decoder = msgspec.json.Decoder(MarketEvent, strict=False)
user_frame_decoder = msgspec.json.Decoder(
    list[UserEvent] | UserEvent, strict=False
)
user_event_decoder = msgspec.json.Decoder(UserEvent, strict=False)
elements_decoder = msgspec.json.Decoder(list[msgspec.Raw])


class RestTrade(msgspec.Struct, frozen=True, kw_only=True):
    """A trade object of REST ``GET /data/trades`` (the WS ``trade`` without ``event_type``)."""

    id: Id
    market: Id
    asset_id: Id
    side: Side
    price: Price
    size: Size
    status: Status
    trader_side: Text = ""
    taker_order_id: Id = ""
    maker_orders: MakerOrders = []
    fee_rate_bps: Text = "0"
    match_time: Text = ""
    last_update: Text = ""


rest_trade_decoder = msgspec.json.Decoder(RestTrade, strict=False)


class RestBook(msgspec.Struct, frozen=True, kw_only=True):
    """REST ``GET /book`` body (VENUE §3.3): the WS ``book`` fields plus market facts."""

    market: Id
    asset_id: Id
    bids: Annotated[list[WsLevel], Meta(max_length=MAX_LEVELS)]
    asks: Annotated[list[WsLevel], Meta(max_length=MAX_LEVELS)]
    timestamp: TimestampMs
    hash: Hash = ""
    tick_size: TickSize | None = None
    min_order_size: Size | None = None


rest_book_decoder = msgspec.json.Decoder(RestBook, strict=False)
