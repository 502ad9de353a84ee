"""Paper executor: post-only orders rest or are refused (never taken), GTD orders expire
(issue 17; specs/07 §post-only). The order manager sends a maker intent's terms with every
attempt, and a CancelIntent with intent ids cancels only those orders (engine core)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import msgspec

from engine.books import StaticBookSource, make_snapshot
from engine.executors.base import (
    CROSSES_BOOK,
    OrderRequest,
    SubmitOutcome,
    SubmitResult,
    VenueOrderUpdate,
)
from engine.executors.paper import PaperExecutor
from engine.risk.decision import ExposureView
from engine.risk.manager import RiskManager
from polyloly.clock import ManualClock
from polyloly.config import MarketConfig
from polyloly.domain import Game, OrderStatus, OrderType, RejectReason, Side, Strategy
from polyloly.messages import CancelIntent, ExecutionReport, RiskState
from tests.helpers.engine_rig import (
    MARKET_A,
    T0_MS,
    YES_A,
    EngineRig,
    intent,
    make_config,
)

TOKEN = "1001"
MARKET = MarketConfig(market_id="0xm", token_ids=(TOKEN, "1002"), match_id="m", game=Game.LOL,
                      tick_size=0.01, taker_fee_rate=0.03)


def _setup(latency_ms: float = 0.0) -> tuple[PaperExecutor, StaticBookSource, ManualClock]:
    books = StaticBookSource()
    books.set(TOKEN, [(0.48, 50.0)], [(0.50, 30.0)])
    clock = ManualClock()
    return PaperExecutor(books, [MARKET], clock, 3.0, latency_ms), books, clock


def _order(price: float, order_type: OrderType = OrderType.GTC, side: Side = Side.BUY,
           post_only: bool = True, expiration_s: int = 0) -> OrderRequest:
    return OrderRequest(client_order_id="c1", token_id=TOKEN, market_id="0xm", side=side,
                        price=price, size=10.0, order_type=order_type, tick_size=0.01,
                        post_only=post_only, expiration_s=expiration_s)


def test_a_crossing_post_only_order_is_refused_never_taken() -> None:
    executor, _, _ = _setup()
    for order in (_order(0.50), _order(0.48, side=Side.SELL)):
        result = asyncio.run(executor.submit(order))
        assert result.outcome is SubmitOutcome.REJECTED and result.fills == ()
        assert result.reason is RejectReason.VENUE_REJECTED and not result.retryable
        assert CROSSES_BOOK in result.message
    # the same price without post-only is a taker (held by the 3 s matching delay)
    taker = asyncio.run(executor.submit(_order(0.50, post_only=False)))
    assert taker.outcome is SubmitOutcome.DELAYED


def test_a_resting_post_only_bid_fills_as_maker_when_the_book_trades_through() -> None:
    executor, books, clock = _setup()
    result = asyncio.run(executor.submit(_order(0.49)))
    assert result.outcome is SubmitOutcome.LIVE  # one tick below the ask: rests, no delay
    books.set(TOKEN, [(0.45, 50.0)], [(0.49, 25.0)])
    clock.advance(ms=10)
    asyncio.run(executor.tick(clock.wall_ms()))
    fills = [e for e in executor.drain_events() if not isinstance(e, VenueOrderUpdate)]
    assert [(f.price, f.size, f.is_maker) for f in fills] == [(0.49, 10.0, True)]
    assert fills[0].fee_usdc <= 0.0  # a maker pays nothing (a rebate is a negative fee)


def test_post_only_fak_and_a_past_gtd_are_refused_with_the_reason() -> None:
    executor, _, clock = _setup()
    fak = asyncio.run(executor.submit(_order(0.40, OrderType.FAK)))
    assert fak.outcome is SubmitOutcome.REJECTED and "only GTC and GTD" in fak.message
    now_s = clock.wall_ms() // 1000
    past = asyncio.run(executor.submit(_order(0.40, OrderType.GTD, expiration_s=now_s)))
    assert past.outcome is SubmitOutcome.REJECTED and "expiration" in past.message


def test_a_gtd_order_expires_at_its_expiry() -> None:
    executor, _, clock = _setup()
    expiry_s = clock.wall_ms() // 1000 + 61
    result = asyncio.run(executor.submit(_order(0.45, OrderType.GTD, expiration_s=expiry_s)))
    assert result.outcome is SubmitOutcome.LIVE
    clock.advance(ms=60_000)
    asyncio.run(executor.tick(clock.wall_ms()))
    assert executor.drain_events() == []
    clock.advance(ms=1_000)
    asyncio.run(executor.tick(clock.wall_ms()))
    (update,) = executor.drain_events()
    assert isinstance(update, VenueOrderUpdate) and update.status is OrderStatus.EXPIRED


def test_a_post_only_order_that_crosses_on_arrival_is_rejected() -> None:
    executor, books, clock = _setup(latency_ms=50)
    result = asyncio.run(executor.submit(_order(0.49)))
    assert result.outcome is SubmitOutcome.ACCEPTED
    books.set(TOKEN, [(0.45, 50.0)], [(0.49, 25.0)])  # the ask came down to our bid in flight
    clock.advance(ms=60)
    asyncio.run(executor.tick(clock.wall_ms()))
    (update,) = executor.drain_events()
    assert isinstance(update, VenueOrderUpdate) and update.status is OrderStatus.REJECTED
    assert CROSSES_BOOK in update.reason


def test_engine_sends_post_only_and_gtd_and_cancels_only_the_named_quote(
        tmp_path: Path) -> None:
    rig = EngineRig(make_config(tmp_path))
    try:
        sent: list[OrderRequest] = []
        submit = rig.executor.submit

        async def spy(order: OrderRequest) -> SubmitResult:
            sent.append(order)
            return cast(SubmitResult, await submit(order))

        rig.executor.submit = spy
        expiry_s = T0_MS // 1000 + 120
        quotes = [msgspec.structs.replace(
            intent(price=price, size=10, order_type=OrderType.GTD, strategy=Strategy.MAKER),
            post_only=True, expiration_s=expiry_s) for price in (0.45, 0.46)]
        crossing = msgspec.structs.replace(
            intent(price=0.50, size=10, order_type=OrderType.GTC, strategy=Strategy.MAKER),
            post_only=True)
        for quote in (*quotes, crossing):
            asyncio.run(rig.send(quote))
        asyncio.run(rig.tick())
        assert [(o.post_only, o.expiration_s) for o in sent] == [
            (True, expiry_s), (True, expiry_s), (True, 0)]
        reports = rig.messages(ExecutionReport)
        status = {r.intent_id: r.status for r in reports}
        assert status[quotes[0].intent_id] is OrderStatus.LIVE
        # the crossing quote was refused by the venue, never filled as a taker
        assert status[crossing.intent_id] is OrderStatus.REJECTED
        assert not asyncio.run(rig.executor.trades(0)).fills
        cancel = CancelIntent(intent_id="c-1", shard_id=0, market_id=MARKET_A, t_sent_ns=4,
                              reason="fair_value_moved", intent_ids=(quotes[0].intent_id,))
        asyncio.run(rig.send(cancel))
        asyncio.run(rig.tick())
        status = {r.intent_id: r.status for r in rig.messages(ExecutionReport)}
        assert status[quotes[0].intent_id] is OrderStatus.CANCELLED
        assert status[quotes[1].intent_id] is OrderStatus.LIVE  # the other quote stays
    finally:
        rig.close()


def test_crossing_post_only_refusals_do_not_trip_the_reject_breaker(tmp_path: Path) -> None:
    rig = EngineRig(make_config(tmp_path))
    try:
        for _ in range(5):  # breaker: 3 consecutive venue rejects halt the market
            crossing = msgspec.structs.replace(
                intent(price=0.50, size=10, order_type=OrderType.GTC,
                       strategy=Strategy.MAKER), post_only=True)
            asyncio.run(rig.send(crossing))
            asyncio.run(rig.tick())
        assert not [m for m in rig.messages(RiskState) if m.halted]
        assert rig.core.risk.breakers.halted(MARKET_A) is None
        # the same refusals from ordinary orders do count (the breaker is not switched off)
        for _ in range(3):
            asyncio.run(rig.send(intent(price=0.40, size=10, order_type=OrderType.FOK)))
            asyncio.run(rig.tick())
        assert rig.core.risk.breakers.halted(MARKET_A) is not None
    finally:
        rig.close()


def test_risk_measures_no_slippage_on_post_only_and_keeps_every_other_limit(
        tmp_path: Path) -> None:
    manager = RiskManager(make_config(tmp_path, risk={"max_order_size_usdc": 1000}))
    for _ in range(12):
        manager.volatility.observe(YES_A, 0.495)
    book = make_snapshot(YES_A, [(0.49, 100.0)], [(0.50, 100.0), (0.60, 1000.0)])
    # the same 300 shares at 0.60: a taker walks the book (refused), a post-only order cannot
    # match on arrival (the venue refuses it if it would): no slippage to measure
    taker = intent(price=0.60, size=300, order_type=OrderType.GTC)
    assert manager.check(taker, book, ExposureView(), T0_MS).reason is RejectReason.SLIPPAGE
    maker = msgspec.structs.replace(taker, post_only=True, strategy=Strategy.MAKER)
    decision = manager.check(maker, book, ExposureView(), T0_MS)
    assert decision.allowed and decision.slippage_bps == 0.0
    # inventory limits per market and per correlation group hold for quotes as for any order
    full = ExposureView(by_market={MARKET_A: 995.0})
    assert manager.check(maker, book, full, T0_MS).reason is RejectReason.MARKET_EXPOSURE_LIMIT
    group = ExposureView(by_group={"worlds": 1995.0})
    assert manager.check(maker, book, group, T0_MS).reason is RejectReason.CORRELATION_LIMIT
