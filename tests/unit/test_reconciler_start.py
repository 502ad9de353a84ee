"""The engine start-up hook applies the plan through the order manager and halts mismatches."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from engine.executors.base import (
    CancelResult,
    VenueFill,
    VenueOrder,
    VenueOrders,
    VenueOrderUpdate,
    VenueTrades,
)
from engine.reconciler import reconcile_on_start
from polyloly.clock import ManualClock
from polyloly.domain import OrderStatus, Side
from polyloly.messages import RiskState

MARKET = "0x" + "aa" * 32
YES, NO = "111", "222"


class _Executor:
    def __init__(self) -> None:
        self.cancelled: list[str] = []

    async def open_orders(self) -> VenueOrders:
        foreign = VenueOrder("z", "999", "0xother", Side.BUY, 0.5, 5, 0, OrderStatus.LIVE)
        return VenueOrders((foreign,), 0)

    async def trades(self, since_ms: int) -> VenueTrades:
        fill = VenueFill("t1:a", "a", YES, Side.BUY, 0.4, 10, 0.0, True, 5, MARKET)
        return VenueTrades((fill,), 0)

    async def order_status(self, venue_order_id: str) -> VenueOrder | None:
        return None

    async def positions(self, tokens: Any) -> dict[str, float]:
        return {YES: 10.0, NO: 3.0}  # NO differs from our books: halt

    async def cancel(self, venue_order_id: str) -> CancelResult:
        self.cancelled.append(venue_order_id)
        return CancelResult(cancelled=(venue_order_id,))


class _Breakers:
    def __init__(self) -> None:
        self.halted: dict[str, str] = {}

    def halt(self, market_id: str, reason: str, now_ms: int) -> object | None:
        if market_id in self.halted:
            return None
        self.halted[market_id] = reason
        return object()


def test_start_hook_adopts_fills_closes_missing_orders_halts_and_cancels_foreign() -> None:
    events: list[Any] = []
    record = SimpleNamespace(
        venue_order_id="a", market_id=MARKET, token_id=YES, side=Side.BUY, price=0.4,
        size=10.0, filled_size=0.0, status=OrderStatus.LIVE,
    )
    orders = SimpleNamespace(
        open_orders=lambda: [record], apply_event=events.append, outbox=[],
    )
    breakers = _Breakers()
    core = SimpleNamespace(
        executor=_Executor(),
        config=SimpleNamespace(markets=[SimpleNamespace(market_id=MARKET, token_ids=(YES, NO))]),
        orders=orders,
        ledger=SimpleNamespace(positions=lambda: []),
        store=SimpleNamespace(has_fill=lambda fill_id: False),
        clock=ManualClock(),
        risk=SimpleNamespace(breakers=breakers, kill=SimpleNamespace(engaged=False)),
    )
    plan = asyncio.run(reconcile_on_start(core))
    assert [type(e).__name__ for e in events] == ["VenueFill", "VenueOrderUpdate"]
    update = events[1]
    assert isinstance(update, VenueOrderUpdate)
    assert (update.venue_order_id, update.status) == ("a", OrderStatus.FILLED)
    assert set(breakers.halted) == {MARKET}
    assert any(isinstance(m, RiskState) and m.halted for m in orders.outbox)
    assert core.executor.cancelled == ["z"]
    assert [c.token_id for c in plan.position_corrections] == [NO]
