"""FAK orders the venue rounds finish (issue 20 #9): we send 59.3 shares, the venue matches
59.29104 (sizes computed from 6-decimal USDC amounts). Before, the order stayed
PARTIALLY_FILLED forever and reconciliation's FILLED proposal was refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.executors.base import (
    CancelResult,
    Executor,
    OrderRequest,
    SubmitOutcome,
    SubmitResult,
    VenueFill,
    VenueOrder,
    VenueOrders,
    VenueOrderUpdate,
    VenueTrades,
)
from engine.reconciler import LocalOrder, VenueSnapshot, reconcile
from polyloly.domain import OrderStatus, Side
from polyloly.venue_rules import same_shares
from tests.helpers.engine_rig import MARKET_A, YES_A, EngineRig, intent, make_config


class OneAnswer(Executor):
    """Answers every submit with ``answer(request)``."""

    name = "scripted"

    def __init__(self, fill_size: float | None) -> None:
        super().__init__()
        self.fill_size = fill_size

    async def submit(self, order: OrderRequest) -> SubmitResult:
        fills = () if self.fill_size is None else (VenueFill(
            "f1", "v1", order.token_id, order.side, order.price, self.fill_size, 0.0, False, 1,
            order.market_id),)
        outcome = SubmitOutcome.ACCEPTED if self.fill_size is None else SubmitOutcome.MATCHED
        return SubmitResult(outcome, venue_order_id="v1", fills=fills)

    async def cancel(self, venue_order_id: str) -> CancelResult:
        return CancelResult()

    async def cancel_all(self) -> CancelResult:
        return CancelResult()

    async def open_orders(self) -> VenueOrders:
        return VenueOrders(orders=(), fetched_ms=0)

    async def trades(self, since_ms: int) -> VenueTrades:
        return VenueTrades(fills=(), fetched_ms=0)

    async def order_status(self, venue_order_id: str) -> VenueOrder | None:
        return None

    def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        return None


def _rig(tmp_path: Path, fill: float | None) -> EngineRig:
    rig = EngineRig(make_config(tmp_path))
    rig.use_executor(OneAnswer(fill))
    return rig


def test_same_shares_is_one_venue_lot() -> None:
    assert same_shares(59.3, 59.29104)
    assert not same_shares(59.3, 59.29)  # a whole lot short is short
    assert not same_shares(0.3, 0.29)


def test_a_rounded_fak_fill_finishes_the_order(tmp_path: Path) -> None:
    rig = _rig(tmp_path, 59.29104)
    asyncio.run(rig.send(intent(price=0.05, size=59.3)))
    (record,) = rig.core.orders.orders()
    assert record.size == pytest.approx(59.3)
    assert record.status is OrderStatus.FILLED
    assert record.filled_size == pytest.approx(59.29104)
    rig.close()


def test_the_venues_filled_is_terminal_once_its_matched_size_is_booked(tmp_path: Path) -> None:
    rig = _rig(tmp_path, 30.0)  # the FAK met 30 of 59.3 and the venue calls it done
    asyncio.run(rig.send(intent(price=0.05, size=59.3)))
    (record,) = rig.core.orders.orders()
    assert record.status is OrderStatus.PARTIALLY_FILLED
    rig.core.apply_venue_event(VenueOrderUpdate("v1", OrderStatus.FILLED, 30.0, 2))
    assert record.status is OrderStatus.FILLED
    rig.close()


def test_the_venues_filled_waits_for_fills_it_matched_but_we_miss(tmp_path: Path) -> None:
    rig = _rig(tmp_path, 30.0)
    asyncio.run(rig.send(intent(price=0.05, size=59.3)))
    (record,) = rig.core.orders.orders()
    rig.core.apply_venue_event(VenueOrderUpdate("v1", OrderStatus.FILLED, 59.29104, 2))
    assert record.status is OrderStatus.PARTIALLY_FILLED  # 29.29 shares still to book
    rig.core.apply_venue_event(VenueFill("f2", "v1", YES_A, Side.BUY, 0.05, 29.29104, 0.0,
                                         False, 3, MARKET_A))
    assert record.status is OrderStatus.FILLED
    rig.close()


def test_reconciliations_filled_proposal_is_accepted(tmp_path: Path) -> None:
    rig = _rig(tmp_path, 30.0)
    asyncio.run(rig.send(intent(price=0.05, size=59.3)))
    (record,) = rig.core.orders.orders()
    assert record.status is OrderStatus.PARTIALLY_FILLED
    venue_fills = tuple(VenueFill(fid, "v1", YES_A, Side.BUY, 0.05, size, 0.0, False, t,
                                  MARKET_A) for fid, size, t in (("f1", 30.0, 1),
                                                                  ("f2", 29.29104, 3)))
    local = [LocalOrder("v1", MARKET_A, YES_A, Side.BUY, 0.05, record.size,
                        record.filled_size, record.status)]
    plan = reconcile(local, {YES_A: 30.0}, {"f1"}, VenueSnapshot(
        VenueOrders(orders=(), fetched_ms=0), VenueTrades(fills=venue_fills, fetched_ms=0),
        lookups={"v1": None}), {YES_A: MARKET_A})
    (correction,) = plan.order_corrections
    assert correction.status is OrderStatus.FILLED
    assert correction.size_matched == pytest.approx(59.29104)
    asyncio.run(rig.driver.reconciler.apply(plan))
    assert record.status is OrderStatus.FILLED
    assert record.filled_size == pytest.approx(59.29104)
    rig.close()
