"""Value objects and events of the simulated Polymarket venue.

Amounts are integers in micro units (1e-6): prices (`*_u`, 1_000_000 = 1.0 pUSD per share),
share sizes and pUSD collateral, exactly like the on-chain 6-decimal amounts of CLOB orders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

MICRO = 1_000_000


class VenueError(Exception):
    """A request the venue refuses; carries the HTTP status and the venue's error text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Side(StrEnum):
    """Order side as on the wire."""

    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    """Time in force as on the wire."""

    GTC = "GTC"
    GTD = "GTD"
    FOK = "FOK"
    FAK = "FAK"


class OrderStatus(StrEnum):
    """Order status as in `/data/order` and user-channel `order` messages."""

    LIVE = "LIVE"
    MATCHED = "MATCHED"
    DELAYED = "DELAYED"
    UNMATCHED = "UNMATCHED"
    CANCELED = "CANCELED"
    CANCELED_MARKET_RESOLVED = "CANCELED_MARKET_RESOLVED"
    INVALID = "INVALID"


FOK_KILLED_STATUS = (
    "CANCELED_order couldn't be fully filled. FOK orders are fully filled or killed."
)


class TradeStatus(StrEnum):
    """Trade settlement status: MATCHED → MINED → CONFIRMED."""

    MATCHED = "MATCHED"
    MINED = "MINED"
    CONFIRMED = "CONFIRMED"


def fmt_units(value_u: int) -> str:
    """Render micro units as the venue does: `500000` → "0.5", `5000000` → "5"."""
    text = format((Decimal(value_u) / MICRO).normalize(), "f")
    return text


def to_units(value: float | str) -> int:
    """Convert a decimal number (float or numeric string) to micro units, rounding half-even."""
    return int((Decimal(str(value)) * MICRO).to_integral_value())


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """One binary market as the venue knows it (built from a scenario `MarketSpec`)."""

    condition_id: str
    question: str
    token_ids: tuple[str, str]
    outcomes: tuple[str, str]
    tick_size_u: int
    min_order_size_u: int
    taker_fee_rate: float
    neg_risk: bool
    match_id: str
    seconds_delay: float
    # Gamma's sportsMarketType ("moneyline", "child_moneyline"; "" for a neg-risk outcome)
    market_type: str = "moneyline"
    map_number: int = 0
    neg_risk_market_id: str = ""  # the multi-outcome event it belongs to (neg_risk markets)
    group_item_title: str = ""  # Gamma's groupItemTitle: "Map 2 Winner", a team of an event

    @classmethod
    def from_spec(cls, spec: Any, matching_delay_s: float) -> MarketInfo:
        """Build from any object with the `MarketSpec` attributes (duck typing)."""
        return cls(
            condition_id=str(spec.condition_id),
            question=str(spec.question),
            token_ids=(str(spec.token_ids[0]), str(spec.token_ids[1])),
            outcomes=(str(spec.outcomes[0]), str(spec.outcomes[1])),
            tick_size_u=to_units(spec.tick_size),
            min_order_size_u=to_units(spec.min_order_size),
            taker_fee_rate=float(spec.taker_fee_rate),
            neg_risk=bool(spec.neg_risk),
            match_id=str(spec.match_id),
            seconds_delay=float(matching_delay_s),
            market_type=str(getattr(spec, "market_type", "moneyline")),
            map_number=int(getattr(spec, "map_number", 0)),
            neg_risk_market_id=str(getattr(spec, "neg_risk_market_id", "")),
            group_item_title=str(getattr(spec, "group_item_title", "")),
        )


@dataclass(slots=True)
class Order:
    """A venue order; mutable state owned by the core only."""

    id: str
    owner: str
    address: str
    signer: str
    condition_id: str
    token_id: str
    token_index: int  # the token's index in its book's terms (always 0 on independent books)
    outcome: str
    side: Side
    price_u: int
    original_size_u: int
    order_type: OrderType
    created_at_ms: int
    expiration_s: int
    seq: int
    is_agent: bool
    size_matched_u: int = 0
    status: OrderStatus = OrderStatus.LIVE
    reserved_u: int = 0
    associate_trades: list[str] = field(default_factory=list)
    due_monotonic: float = 0.0

    @property
    def remaining_u(self) -> int:
        """Shares still open."""
        return self.original_size_u - self.size_matched_u

    @property
    def yes_is_bid(self) -> bool:
        """True when the order rests on the bid side of the outcome-0 (YES) book."""
        return (self.side is Side.BUY) == (self.token_index == 0)

    @property
    def yes_price_u(self) -> int:
        """The order's limit price in outcome-0 terms."""
        return self.price_u if self.token_index == 0 else MICRO - self.price_u

    def snapshot(self) -> OrderSnapshot:
        """Return an immutable copy for events and REST answers."""
        return OrderSnapshot(
            id=self.id,
            owner=self.owner,
            address=self.address,
            market=self.condition_id,
            asset_id=self.token_id,
            side=self.side.value,
            price_u=self.price_u,
            original_size_u=self.original_size_u,
            size_matched_u=self.size_matched_u,
            outcome=self.outcome,
            order_type=self.order_type.value,
            status=self.status.value,
            created_at_ms=self.created_at_ms,
            expiration_s=self.expiration_s,
            associate_trades=tuple(self.associate_trades),
        )


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """An order as reported to clients."""

    id: str
    owner: str
    address: str
    market: str
    asset_id: str
    side: str
    price_u: int
    original_size_u: int
    size_matched_u: int
    outcome: str
    order_type: str
    status: str
    created_at_ms: int
    expiration_s: int
    associate_trades: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MakerFill:
    """One resting order's part of a trade (`maker_orders[]` on the wire)."""

    order_id: str
    owner: str
    maker_address: str
    matched_amount_u: int
    price_u: int
    fee_rate_bps: int
    asset_id: str
    outcome: str
    side: str


@dataclass(frozen=True, slots=True)
class Trade:
    """One taker match against one or more resting orders."""

    id: str
    taker_order_id: str
    market: str
    asset_id: str
    side: str
    size_u: int
    price_u: int
    fee_rate_bps: int
    fee_u: int
    status: str
    match_time_ms: int
    last_update_ms: int
    outcome: str
    owner: str
    taker_address: str
    transaction_hash: str
    maker_orders: tuple[MakerFill, ...]
    bucket_index: int = 0

    def involves(self, address: str) -> bool:
        """True when `address` is the taker or one of the makers."""
        return self.taker_address == address or any(
            m.maker_address == address for m in self.maker_orders
        )


@dataclass(frozen=True, slots=True)
class LevelChange:
    """New total size of one price level of one token's book (0 = level removed)."""

    token_id: str
    side: str
    price_u: int
    size_u: int


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """An order was placed, updated (matched) or cancelled."""

    kind: str
    order: OrderSnapshot
    timestamp_ms: int
    status_text: str = ""


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """A trade was matched or changed settlement status."""

    trade: Trade
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class BookEvent:
    """Price levels of a market's two books changed."""

    condition_id: str
    changes: tuple[LevelChange, ...]
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class LastTradeEvent:
    """The last traded price of a token."""

    condition_id: str
    token_id: str
    price_u: int
    side: str
    size_u: int
    fee_rate_bps: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class TickSizeEvent:
    """A token's minimum tick size changed."""

    condition_id: str
    token_id: str
    old_tick_u: int
    new_tick_u: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class ResolvedEvent:
    """A market resolved; `winning_token_id` is None for a 50-50 resolution."""

    condition_id: str
    winning_token_id: str | None
    timestamp_ms: int


VenueEvent = OrderEvent | TradeEvent | BookEvent | LastTradeEvent | TickSizeEvent | ResolvedEvent


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The venue's answer to an accepted order (the `POST /order` body)."""

    order_id: str
    status: str
    making_u: int
    taking_u: int
    trade_ids: tuple[str, ...]
    transaction_hashes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A validated-shape order entering the core (signature already checked by the shell)."""

    order_id: str
    owner: str
    address: str
    signer: str
    token_id: str
    side: Side
    price_u: int
    size_u: int
    order_type: OrderType
    expiration_s: int = 0
    post_only: bool = False
    maker_amount_u: int = 0
    taker_amount_u: int = 0
