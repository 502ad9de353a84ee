"""Order manager: retries only on retryable refusals, UNKNOWN never resent, fills once."""

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
    VenueTrades,
)
from polyloly.domain import OrderStatus, RejectReason, Side
from tests.helpers.engine_rig import MARKET_A, YES_A, EngineRig, intent, make_config


class ScriptedExecutor(Executor):
    """Answers submits from a script; counts calls."""

    name = "scripted"

    def __init__(self, answers: list[SubmitResult]) -> None:
        super().__init__()
        self.answers = answers
        self.submits: list[OrderRequest] = []
        self.venue: dict[str, VenueOrder] = {}

    async def submit(self, order: OrderRequest) -> SubmitResult:
        self.submits.append(order)
        return self.answers.pop(0)

    async def cancel(self, venue_order_id: str) -> CancelResult:
        return CancelResult(not_cancelled=((venue_order_id, "nope"),), ok=False)

    async def cancel_all(self) -> CancelResult:
        return CancelResult()

    async def open_orders(self) -> VenueOrders:
        return VenueOrders(orders=(), fetched_ms=0)

    async def trades(self, since_ms: int) -> VenueTrades:
        return VenueTrades(fills=(), fetched_ms=0)

    async def order_status(self, venue_order_id: str) -> VenueOrder | None:
        return self.venue.get(venue_order_id)

    def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        return None


def _harness(tmp_path: Path, answers: list[SubmitResult]) -> tuple[EngineRig, ScriptedExecutor]:
    harness = EngineRig(make_config(tmp_path))
    scripted = ScriptedExecutor(answers)
    harness.use_executor(scripted)
    return harness, scripted


def test_retryable_refusals_are_resent_with_exponential_backoff(tmp_path: Path) -> None:
    busy = SubmitResult(SubmitOutcome.REJECTED, reason=RejectReason.VENUE_UNAVAILABLE,
                        retryable=True, message="429")
    harness, scripted = _harness(tmp_path, [busy, busy, SubmitResult(SubmitOutcome.LIVE,
                                                                      venue_order_id="v1")])
    asyncio.run(harness.send(intent()))
    assert len(scripted.submits) == 3
    assert len({s.client_order_id for s in scripted.submits}) == 1
    assert len(harness.slept) == 2 and harness.slept[1] > harness.slept[0]
    (record,) = harness.core.orders.orders()
    assert record.status is OrderStatus.LIVE and record.attempts == 3


def test_a_clear_rejection_is_never_resent(tmp_path: Path) -> None:
    refusal = SubmitResult(SubmitOutcome.REJECTED, reason=RejectReason.VENUE_REJECTED,
                           message="invalid order")
    harness, scripted = _harness(tmp_path, [refusal])
    asyncio.run(harness.send(intent()))
    assert len(scripted.submits) == 1
    (record,) = harness.core.orders.orders()
    assert record.status is OrderStatus.REJECTED and "invalid order" in record.reason


def test_three_venue_rejections_halt_the_market(tmp_path: Path) -> None:
    refusal = SubmitResult(SubmitOutcome.REJECTED, reason=RejectReason.VENUE_REJECTED)
    harness, _ = _harness(tmp_path, [refusal] * 3)
    for _ in range(3):
        asyncio.run(harness.send(intent()))
    assert harness.core.risk.breakers.halted(MARKET_A) is not None
    out = asyncio.run(harness.send(intent()))
    assert out[-1].message.reason is RejectReason.MARKET_HALTED


def test_unknown_outcome_is_tracked_not_resent_then_resolved_by_the_venue(tmp_path: Path) -> None:
    harness, scripted = _harness(tmp_path, [SubmitResult(SubmitOutcome.UNKNOWN,
                                                         venue_order_id="v9")])
    asyncio.run(harness.send(intent()))
    (record,) = harness.core.orders.orders()
    assert record.status is OrderStatus.UNKNOWN and len(scripted.submits) == 1
    asyncio.run(harness.resolve_pending())
    assert record.status is OrderStatus.UNKNOWN  # venue does not know it yet: keep waiting
    scripted.venue["v9"] = VenueOrder("v9", YES_A, MARKET_A, Side.BUY, 0.5, 20, 0.0,
                                      OrderStatus.LIVE)
    asyncio.run(harness.resolve_pending())
    assert record.status is OrderStatus.LIVE and len(scripted.submits) == 1


def test_fills_are_applied_once_and_parked_until_the_order_id_is_known(tmp_path: Path) -> None:
    harness, scripted = _harness(tmp_path, [SubmitResult(SubmitOutcome.LIVE,
                                                         venue_order_id="v5")])
    fill = VenueFill("f1", "v5", YES_A, Side.BUY, 0.5, 5.0, 0.0, True, 1, MARKET_A)
    scripted.emit(fill)  # arrives before the order exists: parked
    harness.core.orders.apply_event(fill)
    asyncio.run(harness.send(intent()))
    (record,) = harness.core.orders.orders()
    harness.core.orders.apply_event(fill)
    assert record.filled_size == pytest.approx(5.0)
    assert record.status is OrderStatus.PARTIALLY_FILLED
    assert harness.core.ledger.position(YES_A).shares == pytest.approx(5.0)
