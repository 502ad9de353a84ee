"""Typed wire schemas of Polymarket's market and user WebSocket channels (VENUE §1–§2).

One frozen ``msgspec.Struct`` per ``event_type``, one tagged-union decode (ARCHITECTURE §9:
msgspec typed decoding beat orjson). Numbers arrive as JSON strings; the decoders run with
``strict=False`` so ``"0.48"`` decodes straight into a float. Unknown keys are ignored.
"""

from __future__ import annotations

import msgspec

from polyloly.domain import Side


class _Event(msgspec.Struct, frozen=True, tag_field="event_type", kw_only=True):
    pass


class WsLevel(msgspec.Struct, frozen=True):
    """One book level: price in USDC per share, size in shares."""

    price: float
    size: float


class WsBook(_Event, frozen=True, tag="book"):
    """Full snapshot of one token's book; bids ascending and asks descending (best last)."""

    asset_id: str
    market: str
    bids: list[WsLevel]
    asks: list[WsLevel]
    timestamp: int  # ms since the epoch
    hash: str = ""


class WsPriceChangeEntry(msgspec.Struct, frozen=True, kw_only=True):
    """Current shape (since 2025-09-15): one level change with the token's top after it."""

    asset_id: str
    price: float
    size: float  # new total size at the level; 0 removes it
    side: Side  # BUY = bid level, SELL = ask level
    hash: str = ""
    best_bid: float | None = None  # 0 when the bid side is empty
    best_ask: float | None = None  # 1 when the ask side is empty


class WsLegacyChange(msgspec.Struct, frozen=True, kw_only=True):
    """Legacy shape (Oct 2024 – Sep 2025): ``changes[]`` entries of one token."""

    price: float
    size: float
    side: Side


class WsPriceChange(_Event, frozen=True, tag="price_change"):
    """All three historical ``price_change`` shapes; exactly one of them is filled in.

    * current: ``price_changes[]`` (entries may name different tokens of the market);
    * legacy: top-level ``asset_id`` + ``changes[]``;
    * 2024 flat: top-level ``asset_id``, ``price``, ``size``, ``side``.
    """

    market: str
    timestamp: int
    price_changes: list[WsPriceChangeEntry] | None = None
    asset_id: str | None = None
    changes: list[WsLegacyChange] | None = None
    price: float | None = None
    size: float | None = None
    side: Side | None = None
    hash: str = ""


class WsTickSizeChange(_Event, frozen=True, tag="tick_size_change"):
    asset_id: str
    market: str
    old_tick_size: float
    new_tick_size: float
    timestamp: int


class WsLastTradePrice(_Event, frozen=True, tag="last_trade_price"):
    asset_id: str
    market: str
    price: float
    timestamp: int
    side: Side | None = None  # taker side
    size: float = 0.0


class WsBestBidAsk(_Event, frozen=True, tag="best_bid_ask"):
    asset_id: str
    market: str
    best_bid: float
    best_ask: float
    timestamp: int


class WsNewMarket(_Event, frozen=True, tag="new_market"):
    market: str = ""
    timestamp: int = 0


class WsMarketResolved(_Event, frozen=True, tag="market_resolved"):
    market: str
    winning_asset_id: str = ""
    winning_outcome: str = ""
    timestamp: int = 0


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


class WsOrder(_Event, frozen=True, tag="order"):
    id: str
    market: str
    asset_id: str
    side: Side
    price: float
    original_size: str = "0"
    size_matched: str = "0"
    status: str = ""
    type: str = ""  # PLACEMENT, UPDATE, CANCELLATION
    timestamp: str = ""


class WsMakerOrder(msgspec.Struct, frozen=True, kw_only=True):
    order_id: str
    asset_id: str
    price: float
    matched_amount: float
    side: Side | None = None
    owner: str = ""


class WsTrade(_Event, frozen=True, tag="trade"):
    id: str
    market: str
    asset_id: str
    side: Side
    price: float
    size: float
    status: str
    trader_side: str = ""
    taker_order_id: str = ""
    maker_orders: list[WsMakerOrder] = []
    fee_rate_bps: str = "0"
    timestamp: str = ""
    match_time: str = ""


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

    id: str
    market: str
    asset_id: str
    side: Side
    price: float
    size: float
    status: str
    trader_side: str = ""
    taker_order_id: str = ""
    maker_orders: list[WsMakerOrder] = []
    fee_rate_bps: str = "0"
    match_time: str = ""
    last_update: str = ""


rest_trade_decoder = msgspec.json.Decoder(RestTrade, strict=False)


class RestBook(msgspec.Struct, frozen=True, kw_only=True):
    """REST ``GET /book`` body (VENUE §3.3): the WS ``book`` fields plus market facts."""

    market: str
    asset_id: str
    bids: list[WsLevel]
    asks: list[WsLevel]
    timestamp: int
    hash: str = ""
    tick_size: float | None = None
    min_order_size: float | None = None


rest_book_decoder = msgspec.json.Decoder(RestBook, strict=False)
