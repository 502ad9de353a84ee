"""One of our orders as the order manager tracks it, and its lifecycle state machine.

The lifecycle is a :class:`polyloly.fsm.StateMachine` table: every status report (from the
venue, the executor or our own cancel) is an :class:`OrderEvent`, and :func:`next_status`
applies it or raises :class:`polyloly.fsm.InvalidTransition`: a forbidden move is a bug, never
silently ignored. Reports that legitimately arrive late (the venue's messages are not ordered
with our own view) are explicit rows that leave the status where it is.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

import msgspec

from polyloly.domain import OrderStatus, OrderType, Outcome, Side, Strategy
from polyloly.fsm import InvalidTransition, StateMachine
from polyloly.messages import OrderView

S = OrderStatus


class OrderEvent(StrEnum):
    """A report that an order has reached a status (one event per status but PENDING)."""

    SUBMIT = "SUBMIT"  # the venue took it, no status yet
    DELAY = "DELAY"  # held by the sports matching delay
    ACCEPT = "ACCEPT"  # resting on the book
    PARTIAL_FILL = "PARTIAL_FILL"
    FILL = "FILL"
    REJECT = "REJECT"
    LOSE = "LOSE"  # outcome of a send unknown (timeout, connection lost)
    CANCEL = "CANCEL"
    EXPIRE = "EXPIRE"


E = OrderEvent

EVENT_OF_STATUS: Final[dict[OrderStatus, OrderEvent]] = {
    S.SUBMITTED: E.SUBMIT, S.DELAYED: E.DELAY, S.LIVE: E.ACCEPT,
    S.PARTIALLY_FILLED: E.PARTIAL_FILL, S.FILLED: E.FILL, S.REJECTED: E.REJECT,
    S.UNKNOWN: E.LOSE, S.CANCELLED: E.CANCEL, S.EXPIRED: E.EXPIRE,
}
STATUS_OF_EVENT: Final[dict[OrderEvent, OrderStatus]] = {
    e: status for status, e in EVENT_OF_STATUS.items()
}

# Forward moves (SPEC §8.1): status → statuses it may move to.
_FORWARD: Final[dict[OrderStatus, frozenset[OrderStatus]]] = {
    S.PENDING: frozenset({S.SUBMITTED, S.DELAYED, S.LIVE, S.PARTIALLY_FILLED, S.FILLED,
                          S.REJECTED, S.UNKNOWN, S.CANCELLED}),
    S.SUBMITTED: frozenset({S.DELAYED, S.LIVE, S.PARTIALLY_FILLED, S.FILLED, S.REJECTED,
                            S.CANCELLED, S.EXPIRED, S.UNKNOWN}),
    S.UNKNOWN: frozenset({S.SUBMITTED, S.DELAYED, S.LIVE, S.PARTIALLY_FILLED, S.FILLED,
                          S.REJECTED, S.CANCELLED, S.EXPIRED}),
    S.DELAYED: frozenset({S.LIVE, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    S.LIVE: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.FILLED, S.CANCELLED, S.EXPIRED}),
}

# Late reports: the status stays (the report is older than what we already know). The venue's
# user channel, its REST answers and our cancel calls are not ordered with each other.
_STAYS: Final[dict[OrderStatus, frozenset[OrderEvent]]] = {
    # fills are the venue's truth: a fill after a cancel or expiry raced it and is booked,
    # the order stays closed (SPEC §14 "late fill after cancel"); a placement message (LIVE,
    # DELAYED) older than the cancel changes nothing
    S.CANCELLED: frozenset({E.PARTIAL_FILL, E.FILL, E.ACCEPT, E.DELAY}),
    S.EXPIRED: frozenset({E.PARTIAL_FILL, E.FILL, E.ACCEPT, E.DELAY}),
    # all shares matched: an older resting/partial report (turned into PARTIAL_FILL since the
    # order has fills) or a cancel acknowledged after the last fill leave it FILLED
    S.FILLED: frozenset({E.PARTIAL_FILL, E.CANCEL}),
    # an order we concluded never reached the venue whose fill shows up later (reconciliation)
    S.REJECTED: frozenset({E.PARTIAL_FILL, E.FILL}),
}


def _table() -> dict[tuple[OrderStatus, OrderEvent], OrderStatus]:
    table: dict[tuple[OrderStatus, OrderEvent], OrderStatus] = {}
    for source, targets in _FORWARD.items():
        for target in targets:
            table[(source, EVENT_OF_STATUS[target])] = target
    for status, event in EVENT_OF_STATUS.items():  # a repeated report moves nothing
        table[(status, event)] = status
    for status, events in _STAYS.items():
        for event in events:
            table[(status, event)] = status
    return table


ORDER_TRANSITIONS: Final[dict[tuple[OrderStatus, OrderEvent], OrderStatus]] = _table()
"""(status, event) → status; any pair not listed is forbidden."""


def next_status(order_id: str, current: OrderStatus, reported: OrderStatus) -> OrderStatus:
    """The status an order in ``current`` takes when ``reported`` is reported for it; raise
    :class:`polyloly.fsm.InvalidTransition` for a pair the table forbids (and for PENDING,
    which nothing reports)."""
    name = f"order[{order_id}]"
    event = EVENT_OF_STATUS.get(reported)
    if event is None:  # PENDING: only an order's first status
        if reported is current:
            return current
        raise InvalidTransition(name, current, reported)
    return StateMachine(name, ORDER_TRANSITIONS, current).trigger(event)


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
            order_type=self.order_type,
        )


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(OrderRecord)


def record_to_json(record: OrderRecord) -> bytes:
    return _encoder.encode(record)


def record_from_json(data: bytes | str) -> OrderRecord:
    return _decoder.decode(data)
