"""``execution.paper_latency_ms``: a paper order reaches the book that long after its submit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.books import StaticBookSource
from engine.executors.base import OrderRequest, SubmitOutcome, VenueFill, VenueOrderUpdate
from engine.executors.paper import PaperExecutor
from polyloly.clock import ManualClock
from polyloly.config import MarketConfig
from polyloly.domain import Game, OrderStatus, OrderType, Side
from polyloly.messages import IntentAck
from tests.helpers.engine_rig import T0_MS, YES_A, EngineRig, intent, make_config

TOKEN = "1001"
MARKET = MarketConfig(market_id="0xm", token_ids=(TOKEN, "1002"), match_id="m", game=Game.LOL,
                      tick_size=0.01, taker_fee_rate=0.03)


def _setup(latency_ms: float, delay_s: float = 0.0
           ) -> tuple[PaperExecutor, StaticBookSource, ManualClock]:
    books = StaticBookSource()
    books.set(TOKEN, [(0.48, 50.0)], [(0.50, 30.0), (0.52, 20.0)])
    clock = ManualClock(wall_ms=T0_MS)
    return PaperExecutor(books, [MARKET], clock, delay_s, latency_ms=latency_ms), books, clock


def _order(size: float, price: float, order_type: OrderType) -> OrderRequest:
    return OrderRequest(client_order_id="c1", token_id=TOKEN, market_id="0xm", side=Side.BUY,
                        price=price, size=size, order_type=order_type, tick_size=0.01)


def test_the_order_meets_the_book_as_it_is_when_it_arrives() -> None:
    executor, books, clock = _setup(latency_ms=250)
    result = asyncio.run(executor.submit(_order(10, 0.55, OrderType.FAK)))
    assert result.outcome is SubmitOutcome.ACCEPTED and result.latency_ms == 250
    assert result.fills == ()
    books.set(TOKEN, [(0.50, 50.0)], [(0.53, 40.0)])  # the book moves while the order travels
    clock.advance(ms=249)
    asyncio.run(executor.tick(clock.wall_ms()))
    assert executor.drain_events() == []
    clock.advance(ms=1)
    asyncio.run(executor.tick(clock.wall_ms()))
    (fill,) = executor.drain_events()
    assert isinstance(fill, VenueFill)
    assert (fill.price, fill.size, fill.t_ms) == (0.53, 10.0, T0_MS + 250)


def test_a_fak_that_no_longer_crosses_on_arrival_is_cancelled() -> None:
    executor, books, clock = _setup(latency_ms=100)
    asyncio.run(executor.submit(_order(10, 0.50, OrderType.FAK)))
    books.set(TOKEN, [(0.48, 50.0)], [(0.51, 40.0)])
    clock.advance(ms=100)
    asyncio.run(executor.tick(clock.wall_ms()))
    (update,) = executor.drain_events()
    assert isinstance(update, VenueOrderUpdate) and update.status is OrderStatus.CANCELLED


def test_a_resting_order_goes_live_on_arrival_and_can_be_cancelled_in_flight() -> None:
    executor, _, clock = _setup(latency_ms=100)
    asyncio.run(executor.submit(_order(10, 0.40, OrderType.GTC)))
    clock.advance(ms=100)
    asyncio.run(executor.tick(clock.wall_ms()))
    (update,) = executor.drain_events()
    assert update.status is OrderStatus.LIVE
    in_flight = asyncio.run(executor.submit(OrderRequest(
        client_order_id="c2", token_id=TOKEN, market_id="0xm", side=Side.BUY, price=0.55,
        size=5, order_type=OrderType.FAK, tick_size=0.01)))
    assert asyncio.run(executor.cancel(in_flight.venue_order_id)).ok
    clock.advance(ms=500)
    asyncio.run(executor.tick(clock.wall_ms()))
    assert executor.drain_events() == []  # cancelled before it reached the book


def test_the_matching_delay_counts_from_the_arrival() -> None:
    executor, _, clock = _setup(latency_ms=100, delay_s=3.0)
    asyncio.run(executor.submit(_order(10, 0.55, OrderType.FAK)))
    clock.advance(ms=100)
    asyncio.run(executor.tick(clock.wall_ms()))
    (update,) = executor.drain_events()
    assert update.status is OrderStatus.DELAYED
    clock.advance(ms=2999)
    asyncio.run(executor.tick(clock.wall_ms()))
    assert executor.drain_events() == []
    clock.advance(ms=1)
    asyncio.run(executor.tick(clock.wall_ms()))
    assert sum(f.size for f in executor.drain_events() if isinstance(f, VenueFill)) == 10


def test_the_engine_sees_the_fill_only_after_the_latency(tmp_path: Path) -> None:
    config = make_config(tmp_path, execution={"paper_latency_ms": 200.0})
    rig = EngineRig(config, _LatencyPaper)
    asyncio.run(rig.send(intent(price=0.50, size=20)))
    (ack,) = rig.messages(IntentAck)
    assert ack.accepted
    assert rig.core.orders.get(ack.order_id).status is OrderStatus.SUBMITTED
    assert rig.core.ledger.position(YES_A) is None
    rig.clock.advance(ms=200)
    asyncio.run(rig.driver.tick())
    assert rig.core.orders.get(ack.order_id).status is OrderStatus.FILLED
    assert rig.core.ledger.position(YES_A).shares == pytest.approx(20)
    rig.close()


class _LatencyPaper(PaperExecutor):
    def __init__(self, books: StaticBookSource, config: object, clock: ManualClock) -> None:
        super().__init__(books, config.markets, clock,  # type: ignore[attr-defined]
                         config.polymarket.matching_delay_s,  # type: ignore[attr-defined]
                         latency_ms=config.execution.paper_latency_ms)  # type: ignore[attr-defined]
