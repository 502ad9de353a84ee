"""Read the venue's order and trade reports (REST and user channel) as our fills and orders.

The subtle part is attribution (VENUE §2.3, §5): a Polymarket trade is described from the
taker's side — top-level ``asset_id``/``side``/``price`` are the taker order's — and lists the
resting ``maker_orders``. Because the two books of a binary market mirror each other, a maker
order can be on the *other* token: a taker BUY of YES at 0.518 can match a maker BUY of NO at
0.482 (the pair is minted). Reading such a maker fill with the taker's token and price books a
YES position we do not have; NautilusTrader's adapter had exactly this bug. Here a maker fill
always takes the maker leg's own token and price, and its side is the leg's ``side`` when the
venue sends it, else the taker's side for a cross-token leg and the opposite side for a
same-token leg. A taker fill is priced at the volume-weighted maker prices, each converted
into the taker's token (``1 - p`` for a cross-token leg).
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from engine.executors.base import VenueFill, VenueOrder
from polyloly.domain import OrderStatus, Side
from polyloly.fees import taker_fee_usdc
from polyloly.messages import UserOrderUpdate, UserTradeUpdate

FILL_DUST_SHARES: Final = 0.01
"""Size differences below this (the venue's 2-decimal lot) count as equal."""
FAILED_TRADE: Final = "FAILED"


class ReportError(ValueError):
    """A venue report is missing a field or has a bad value; the message names it."""


@dataclass(frozen=True, slots=True)
class Identity:
    """How to recognise our orders in a trade: our API key (the ``owner`` of our orders), our
    maker/funder addresses (lower case), and the venue ids of orders we know we placed."""

    api_key: str
    addresses: frozenset[str]
    order_ids: Container[str]

    def owns(self, order_id: str, owner: str = "", address: str = "") -> bool:
        """Whether the order with these fields is ours."""
        return (
            order_id in self.order_ids
            or (bool(owner) and owner == self.api_key)
            or (bool(address) and address.lower() in self.addresses)
        )


@dataclass(frozen=True, slots=True)
class MakerLeg:
    order_id: str
    token_id: str
    price: float
    size: float
    side: Side | None
    owner: str
    address: str


@dataclass(frozen=True, slots=True)
class TradeReport:
    """One venue trade, from the taker's side, with its maker legs. ``t_ms`` epoch ms."""

    trade_id: str
    market_id: str
    token_id: str
    side: Side
    price: float
    size: float
    status: str
    trader_side: str
    taker_order_id: str
    owner: str
    maker_legs: tuple[MakerLeg, ...]
    fee_rate_bps: float
    t_ms: int


def _text(data: Mapping[str, Any], key: str, required: bool = True) -> str:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise ReportError(f"{key}: missing")
        return ""
    return str(value)


def _number(data: Mapping[str, Any], key: str, default: float | None = None) -> float:
    value = data.get(key)
    if value is None or value == "":
        if default is None:
            raise ReportError(f"{key}: missing")
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ReportError(f"{key}: expected a number, was {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ReportError(f"{key}: expected a finite number, was {value!r}")
    return number


def _side(value: Any, key: str = "side") -> Side:
    try:
        return Side(str(value).upper())
    except ValueError:
        raise ReportError(f"{key}: expected BUY or SELL, was {value!r}") from None


def epoch_ms(value: Any) -> int:
    """Epoch ms from the venue's seconds/ms strings or ISO-8601 text; 0 when absent."""
    if value is None or value == "":
        return 0
    text = str(value)
    if text.isdigit():
        number = int(text)
        return number if number >= 10**12 else number * 1000
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise ReportError(f"time: not epoch seconds/ms or ISO-8601: {value!r}") from None


def trade_from_rest(data: Mapping[str, Any]) -> TradeReport:
    """Parse one ``/data/trades`` entry (or a user-channel ``trade`` frame)."""
    if not isinstance(data, Mapping):
        raise ReportError(f"trade: expected an object, was {type(data).__name__}")
    legs = []
    for index, raw in enumerate(data.get("maker_orders") or ()):
        if not isinstance(raw, Mapping):
            raise ReportError(f"maker_orders[{index}]: expected an object")
        legs.append(
            MakerLeg(
                order_id=_text(raw, "order_id"),
                token_id=_text(raw, "asset_id"),
                price=_number(raw, "price"),
                size=_number(raw, "matched_amount"),
                side=_side(raw["side"], f"maker_orders[{index}].side")
                if raw.get("side")
                else None,
                owner=_text(raw, "owner", required=False),
                address=_text(raw, "maker_address", required=False),
            )
        )
    return TradeReport(
        trade_id=_text(data, "id"),
        market_id=_text(data, "market"),
        token_id=_text(data, "asset_id"),
        side=_side(data.get("side")),
        price=_number(data, "price"),
        size=_number(data, "size"),
        status=_text(data, "status").upper(),
        trader_side=_text(data, "trader_side", required=False).upper(),
        taker_order_id=_text(data, "taker_order_id", required=False),
        owner=_text(data, "owner", required=False),
        maker_legs=tuple(legs),
        fee_rate_bps=_number(data, "fee_rate_bps", 0.0),
        t_ms=epoch_ms(data.get("match_time") or data.get("timestamp")),
    )


def trade_from_message(message: UserTradeUpdate) -> TradeReport:
    """Turn the gateway's user-channel trade message into a :class:`TradeReport`."""
    return TradeReport(
        trade_id=message.trade_id,
        market_id=message.market_id,
        token_id=message.token_id,
        side=message.side,
        price=message.price,
        size=message.size,
        status=message.status.upper(),
        trader_side=message.trader_side.upper(),
        taker_order_id=message.taker_order_id,
        owner="",
        maker_legs=tuple(
            MakerLeg(
                order_id=leg.venue_order_id,
                token_id=leg.token_id,
                price=leg.price,
                size=leg.matched_size,
                side=leg.side,
                owner=leg.owner,
                address="",
            )
            for leg in message.maker_orders
        ),
        fee_rate_bps=message.fee_rate_bps,
        t_ms=message.t_exchange_ms,
    )


def maker_leg_side(trade: TradeReport, leg: MakerLeg) -> Side:
    """The maker order's own side: given, or implied by whether it is on the taker's token."""
    if leg.side is not None:
        return leg.side
    if leg.token_id == trade.token_id:
        return Side.SELL if trade.side is Side.BUY else Side.BUY
    return trade.side


def taker_fill_price(trade: TradeReport) -> float:
    """Volume-weighted execution price of the taker, in the taker's token."""
    total = sum(leg.size for leg in trade.maker_legs)
    if total <= 0:
        return trade.price
    value = sum(
        leg.size * (leg.price if leg.token_id == trade.token_id else 1.0 - leg.price)
        for leg in trade.maker_legs
    )
    return round(value / total, 6)


def fills_of_ours(
    trade: TradeReport, identity: Identity, fallback_fee_rate: float = 0.0
) -> list[VenueFill]:
    """Our fills in one trade (none for a FAILED trade). ``fallback_fee_rate`` (e.g. 0.03) is
    used when the venue reports a zero ``fee_rate_bps`` for a taker fill."""
    if trade.status == FAILED_TRADE:
        return []
    fills: list[VenueFill] = []
    taker_is_ours = trade.trader_side == "TAKER" or identity.owns(
        trade.taker_order_id, trade.owner
    )
    if taker_is_ours and trade.taker_order_id:
        price = taker_fill_price(trade)
        rate = trade.fee_rate_bps / 10_000 if trade.fee_rate_bps > 0 else fallback_fee_rate
        fills.append(
            VenueFill(
                fill_id=f"{trade.trade_id}:{trade.taker_order_id}",
                venue_order_id=trade.taker_order_id,
                token_id=trade.token_id,
                side=trade.side,
                price=price,
                size=trade.size,
                fee_usdc=taker_fee_usdc(trade.size, price, rate),
                is_maker=False,
                t_ms=trade.t_ms,
                market_id=trade.market_id,
            )
        )
    for leg in trade.maker_legs:
        if leg.order_id == trade.taker_order_id or not identity.owns(
            leg.order_id, leg.owner, leg.address
        ):
            continue
        fills.append(
            VenueFill(
                fill_id=f"{trade.trade_id}:{leg.order_id}",
                venue_order_id=leg.order_id,
                token_id=leg.token_id,
                side=maker_leg_side(trade, leg),
                price=leg.price,
                size=leg.size,
                fee_usdc=0.0,
                is_maker=True,
                t_ms=trade.t_ms,
                market_id=trade.market_id,
            )
        )
    return fills


def order_status(venue_status: str, size_matched: float, original_size: float) -> OrderStatus:
    """Map the venue's status text (``LIVE``, ``ORDER_STATUS_LIVE``, ``CANCELED_…``, …)."""
    status = venue_status.upper().removeprefix("ORDER_STATUS_")
    filled = original_size > 0 and size_matched >= original_size - FILL_DUST_SHARES
    if status.startswith("CANCEL") or status == "INVALID":
        return OrderStatus.FILLED if filled else OrderStatus.CANCELLED
    if status == "MATCHED":
        return OrderStatus.FILLED if filled else OrderStatus.PARTIALLY_FILLED
    if status == "DELAYED":
        return OrderStatus.DELAYED
    if status in ("LIVE", "UNMATCHED", "OPEN"):
        return OrderStatus.PARTIALLY_FILLED if size_matched > 0 else OrderStatus.LIVE
    return OrderStatus.UNKNOWN


def order_from_rest(data: Mapping[str, Any]) -> VenueOrder:
    """Parse one ``/data/orders`` or ``/data/order/<id>`` entry."""
    if not isinstance(data, Mapping):
        raise ReportError(f"order: expected an object, was {type(data).__name__}")
    original = _number(data, "original_size")
    matched = _number(data, "size_matched", 0.0)
    return VenueOrder(
        venue_order_id=_text(data, "id"),
        token_id=_text(data, "asset_id"),
        market_id=_text(data, "market"),
        side=_side(data.get("side")),
        price=_number(data, "price"),
        original_size=original,
        size_matched=matched,
        status=order_status(_text(data, "status"), matched, original),
        created_ms=epoch_ms(data.get("created_at")),
    )


def order_from_message(message: UserOrderUpdate) -> VenueOrder:
    """Turn the gateway's user-channel order message into a :class:`VenueOrder`."""
    return VenueOrder(
        venue_order_id=message.venue_order_id,
        token_id=message.token_id,
        market_id=message.market_id,
        side=message.side,
        price=message.price,
        original_size=message.original_size,
        size_matched=message.size_matched,
        status=order_status(message.status, message.size_matched, message.original_size),
        created_ms=message.t_exchange_ms,
    )
