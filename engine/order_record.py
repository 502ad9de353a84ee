"""One of our orders as the order manager tracks it, and the allowed status transitions."""

from __future__ import annotations

import msgspec

from polyloly.domain import OrderStatus, OrderType, Outcome, Side, Strategy
from polyloly.messages import OrderView

S = OrderStatus

# status → statuses it may move to (SPEC §8.1). Terminal statuses move nowhere.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING: frozenset({S.SUBMITTED, S.DELAYED, S.LIVE, S.PARTIALLY_FILLED, S.FILLED,
                          S.REJECTED, S.UNKNOWN, S.CANCELLED}),
    S.SUBMITTED: frozenset({S.DELAYED, S.LIVE, S.PARTIALLY_FILLED, S.FILLED, S.REJECTED,
                            S.CANCELLED, S.EXPIRED, S.UNKNOWN}),
    S.UNKNOWN: frozenset({S.SUBMITTED, S.DELAYED, S.LIVE, S.PARTIALLY_FILLED, S.FILLED,
                          S.REJECTED, S.CANCELLED, S.EXPIRED}),
    S.DELAYED: frozenset({S.LIVE, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    S.LIVE: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    """Whether an order in ``current`` may move to ``target`` (staying put is always allowed)."""
    return current is target or target in TRANSITIONS[current]


class OrderRecord(msgspec.Struct, kw_only=True):
    """Mutable state of one order; persisted as JSON in the ``orders`` table.

    ``size`` is the size sent (after risk sizing), ``filled_size`` the cumulative fill (shares),
    ``avg_fill_price`` USDC per share, ``fees_usdc`` the fees paid, times in wall ms.
    """

    order_id: str
    intent_id: str
    idempotency_key: str
    shard_id: int
    market_id: str
    token_id: str
    outcome: Outcome
    side: Side
    price: float
    size: float
    order_type: OrderType
    strategy: Strategy
    status: OrderStatus = OrderStatus.PENDING
    venue_order_id: str | None = None
    filled_size: float = 0.0
    avg_fill_price: float = 0.0
    fees_usdc: float = 0.0
    created_ms: int = 0
    updated_ms: int = 0
    submitted_ms: int = 0
    attempts: int = 0
    t_origin_ns: int = 0
    reason: str = ""

    @property
    def remaining(self) -> float:
        return max(0.0, self.size - self.filled_size)

    def view(self) -> OrderView:
        return OrderView(
            order_id=self.order_id,
            intent_id=self.intent_id,
            market_id=self.market_id,
            token_id=self.token_id,
            side=self.side,
            price=self.price,
            size=self.size,
            filled_size=self.filled_size,
            status=self.status,
            strategy=self.strategy,
        )


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(OrderRecord)


def record_to_json(record: OrderRecord) -> bytes:
    return _encoder.encode(record)


def record_from_json(data: bytes | str) -> OrderRecord:
    return _decoder.decode(data)
