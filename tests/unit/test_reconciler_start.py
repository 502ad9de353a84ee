"""The reconciler runner (against its ReconcileEngine protocol): the start-up run applies the
plan and halts mismatches; periodic runs keep their own suspects."""

from __future__ import annotations

import asyncio
from typing import Any

from engine.executors.base import (
    CancelResult,
    ExecutorEvent,
    VenueFill,
    VenueOrder,
    VenueOrders,
    VenueOrderUpdate,
    VenueTrades,
)
from engine.reconciler import BalanceQuery, LocalOrder, Reconciler
from polyloly.domain import OrderStatus, Side

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

    def drain_events(self) -> list[ExecutorEvent]:
        return []


class _Engine:
    """A :class:`ReconcileEngine` holding one LIVE order of ours and no positions."""

    def __init__(self) -> None:
        self.executor = _Executor()
        self.events: list[ExecutorEvent] = []
        self.halted: dict[str, str] = {}
        self.corrected: list[tuple[str, float]] = []
        self.adopted: list[str] = []

    @property
    def venue(self) -> _Executor:
        return self.executor

    def wall_ms(self) -> int:
        return 1_700_000_000_000

    def market_of_token(self) -> dict[str, str]:
        return {YES: MARKET, NO: MARKET}

    def local_orders(self) -> list[LocalOrder]:
        return [LocalOrder("a", MARKET, YES, Side.BUY, 0.4, 10.0, 0.0, OrderStatus.LIVE)]

    def positions(self) -> dict[str, float]:
        return {}

    def has_fill(self, fill_id: str) -> bool:
        return False

    def is_settled(self, market_id: str) -> bool:
        return False

    def balances(self) -> BalanceQuery | None:
        return self.executor.positions

    def adopt(self, venue_order_id: str) -> None:
        self.adopted.append(venue_order_id)

    def apply_event(self, event: ExecutorEvent) -> None:
        self.events.append(event)

    def correct_position(self, market_id: str, token_id: str, venue_shares: float,
                         reason: str) -> None:
        self.corrected.append((token_id, venue_shares))

    def halt_market(self, market_id: str, reason: str) -> bool:
        if market_id in self.halted:
            return False
        self.halted[market_id] = reason
        return True


def test_start_hook_adopts_fills_closes_missing_orders_halts_and_cancels_foreign() -> None:
    engine = _Engine()
    plan = asyncio.run(Reconciler(engine).on_start())
    assert [type(e).__name__ for e in engine.events] == ["VenueFill", "VenueOrderUpdate"]
    update = engine.events[1]
    assert isinstance(update, VenueOrderUpdate)
    assert (update.venue_order_id, update.status) == ("a", OrderStatus.FILLED)
    assert set(engine.halted) == {MARKET}
    assert engine.executor.cancelled == ["z"]
    assert [c.token_id for c in plan.position_corrections] == [NO]
    assert engine.corrected == [(NO, 3.0)]


def test_periodic_runs_act_on_a_position_mismatch_only_when_two_in_a_row_agree() -> None:
    engine = _Engine()
    reconciler = Reconciler(engine)
    first = asyncio.run(reconciler.periodically())
    assert first is not None and first.position_corrections == ()
    assert dict(reconciler.suspects) == {NO: 3.0} and engine.halted == {}
    second = asyncio.run(reconciler.periodically())
    assert second is not None and [c.token_id for c in second.position_corrections] == [NO]
    assert set(engine.halted) == {MARKET} and engine.corrected == [(NO, 3.0)]
    other = Reconciler(_Engine())  # suspects are the runner's own, not shared
    assert other.suspects == {}
