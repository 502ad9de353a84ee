"""An in-memory ``VenueProtocol`` for tests and offline runs of the agents.

Two independent books per market (one per token), immediate price-time matching for
crossing orders, no fees, no balances. It records every call so tests can assert on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class FakeOrder:
    """A resting order."""

    order_id: str
    owner: str
    token_id: str
    side: str
    price: float
    size: float


@dataclass(frozen=True, slots=True)
class FakeTrade:
    """A fill between a taker and a resting maker order."""

    token_id: str
    price: float
    size: float
    taker: str
    maker: str
    taker_side: str


class FakeVenue:
    """Independent per-token books with immediate matching."""

    def __init__(self) -> None:
        self.orders: dict[str, FakeOrder] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.trades: list[FakeTrade] = []
        self.resolved: dict[str, str | None] = {}
        self._listeners: list[Callable[[Any], None]] = []
        self._counter = 0

    def place_internal(self, owner: str, token_id: str, side: str, price: float, size: float,
                       order_type: str = "GTC") -> str:
        """Match against the opposite side of ``token_id``'s book, rest the rest (GTC)."""
        if side not in ("BUY", "SELL") or not 0 < price < 1 or size <= 0:
            raise ValueError(f"invalid order {side} {size}@{price}")
        self.calls.append(("place", owner, token_id, side, price, size, order_type))
        self._counter += 1
        order_id = f"fake-{self._counter}"
        remaining = size
        opposite = sorted(
            (o for o in self.orders.values() if o.token_id == token_id and o.side != side
             and (o.price <= price if side == "BUY" else o.price >= price)),
            key=lambda o: (o.price if side == "BUY" else -o.price, int(o.order_id[5:])))
        for maker in opposite:
            if remaining <= 0:
                break
            qty = min(remaining, maker.size)
            maker.size = round(maker.size - qty, 6)
            remaining = round(remaining - qty, 6)
            trade = FakeTrade(token_id, maker.price, qty, owner, maker.owner, side)
            self.trades.append(trade)
            for listener in self._listeners:
                listener(trade)
            if maker.size <= 0:
                del self.orders[maker.order_id]
        if remaining > 0 and order_type in ("GTC", "GTD"):
            self.orders[order_id] = FakeOrder(order_id, owner, token_id, side, price, remaining)
        return order_id

    def cancel_internal(self, owner: str, order_id: str) -> bool:
        """Cancel one order of ``owner``."""
        self.calls.append(("cancel", owner, order_id))
        order = self.orders.get(order_id)
        if order is None or order.owner != owner:
            return False
        del self.orders[order_id]
        return True

    def cancel_all_internal(self, owner: str, token_id: str | None = None) -> int:
        """Cancel every order of ``owner`` (on ``token_id`` when given)."""
        self.calls.append(("cancel_all", owner, token_id))
        ids = [o.order_id for o in self.orders.values()
               if o.owner == owner and (token_id is None or o.token_id == token_id)]
        for order_id in ids:
            del self.orders[order_id]
        return len(ids)

    def book(self, token_id: str) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """Return aggregated (bids, asks), best first."""
        levels: dict[tuple[str, float], float] = {}
        for order in self.orders.values():
            if order.token_id == token_id:
                key = (order.side, order.price)
                levels[key] = levels.get(key, 0.0) + order.size
        bids = sorted(((p, s) for (side, p), s in levels.items() if side == "BUY"),
                      reverse=True)
        asks = sorted((p, s) for (side, p), s in levels.items() if side == "SELL")
        return bids, asks

    def resolve_market(self, condition_id: str, winning_token_id: str | None) -> None:
        """Record the resolution."""
        self.calls.append(("resolve", condition_id, winning_token_id))
        self.resolved[condition_id] = winning_token_id

    def add_trade_listener(self, callback: Callable[[Any], None]) -> None:
        """Register a trade callback."""
        self._listeners.append(callback)
