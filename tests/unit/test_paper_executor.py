"""Paper executor: fills, partials, FOK/FAK/GTC, matching delay and consumed depth."""

from __future__ import annotations

import asyncio

import pytest

from engine.books import StaticBookSource
from engine.executors.base import OrderRequest, SubmitOutcome, VenueFill, VenueOrderUpdate
from engine.executors.paper import PaperExecutor
from polyloly.clock import ManualClock
from polyloly.config import MarketConfig
from polyloly.domain import Game, OrderStatus, OrderType, RejectReason, Side
from polyloly.fees import MAKER_REBATE_RATE, taker_fee_usdc

TOKEN = "1001"
MARKET = MarketConfig(market_id="0xm", token_ids=(TOKEN, "1002"), match_id="m", game=Game.LOL,
                      tick_size=0.01, taker_fee_rate=0.03)


def _setup(delay_s: float = 0.0) -> tuple[PaperExecutor, StaticBookSource, ManualClock]:
    books = StaticBookSource()
    books.set(TOKEN, [(0.48, 50.0)], [(0.50, 30.0), (0.52, 20.0)])
    clock = ManualClock()
    return PaperExecutor(books, [MARKET], clock, delay_s), books, clock


def _order(size: float, price: float, order_type: OrderType, side: Side = Side.BUY,
           cid: str = "c1") -> OrderRequest:
    return OrderRequest(client_order_id=cid, token_id=TOKEN, market_id="0xm", side=side,
                        price=price, size=size, order_type=order_type, tick_size=0.01)


def test_fak_walks_levels_pays_taker_fees_and_cancels_the_rest() -> None:
    executor, _, _ = _setup()
    result = asyncio.run(executor.submit(_order(60, 0.52, OrderType.FAK)))
    assert [(f.price, f.size) for f in result.fills] == [(0.50, 30.0), (0.52, 20.0)]
    assert result.fills[0].fee_usdc == pytest.approx(30 * 0.03 * 0.5 * 0.5)
    assert not result.fills[0].is_maker
    (update,) = executor.drain_events()
    assert isinstance(update, VenueOrderUpdate) and update.status is OrderStatus.CANCELLED


def test_fok_is_all_or_nothing() -> None:
    executor, _, _ = _setup()
    short = asyncio.run(executor.submit(_order(60, 0.52, OrderType.FOK)))
    assert short.fills == ()
    (update,) = executor.drain_events()
    assert update.status is OrderStatus.CANCELLED
    full = asyncio.run(executor.submit(_order(40, 0.52, OrderType.FOK, cid="c2")))
    assert full.outcome is SubmitOutcome.MATCHED
    assert sum(f.size for f in full.fills) == pytest.approx(40)


def test_non_marketable_fak_is_rejected_without_liquidity() -> None:
    executor, _, _ = _setup()
    result = asyncio.run(executor.submit(_order(10, 0.45, OrderType.FAK)))
    assert result.outcome is SubmitOutcome.REJECTED
    assert result.reason is RejectReason.NO_LIQUIDITY and not result.retryable


def test_consumed_depth_is_not_filled_twice_until_the_book_updates() -> None:
    executor, books, _ = _setup()
    first = asyncio.run(executor.submit(_order(30, 0.50, OrderType.FAK)))
    assert sum(f.size for f in first.fills) == pytest.approx(30)
    second = asyncio.run(executor.submit(_order(30, 0.50, OrderType.FAK, cid="c2")))
    assert second.fills == ()
    books.set(TOKEN, [(0.48, 50.0)], [(0.50, 30.0)])
    third = asyncio.run(executor.submit(_order(30, 0.50, OrderType.FAK, cid="c3")))
    assert sum(f.size for f in third.fills) == pytest.approx(30)


def test_gtc_rests_then_fills_as_maker_when_the_book_crosses_it() -> None:
    executor, books, clock = _setup()
    result = asyncio.run(executor.submit(_order(40, 0.45, OrderType.GTC)))
    assert result.outcome is SubmitOutcome.LIVE and result.fills == ()
    books.set(TOKEN, [(0.40, 50.0)], [(0.45, 25.0)])
    clock.advance(ms=10)
    asyncio.run(executor.tick(clock.wall_ms()))
    (fill,) = executor.drain_events()
    assert isinstance(fill, VenueFill)
    # no fee; the venue's rebate, 25 % of the taker fee 25 × 0.03 × 0.45 × 0.55 = 0.18563 (5
    # decimals) = 46407.5 micro-pUSD, half to even 46408, is credited as a negative fee
    assert (fill.price, fill.size, fill.is_maker) == (0.45, 25.0, True)
    assert fill.fee_usdc == pytest.approx(-0.046408, abs=1e-12)
    status = asyncio.run(executor.order_status(result.venue_order_id))
    assert status.status is OrderStatus.PARTIALLY_FILLED and status.size_matched == 25
    listing = asyncio.run(executor.open_orders())
    assert [o.venue_order_id for o in listing.orders] == [result.venue_order_id]


def test_marketable_gtc_fills_what_is_there_and_rests_the_rest() -> None:
    executor, _, _ = _setup()
    result = asyncio.run(executor.submit(_order(40, 0.50, OrderType.GTC)))
    assert result.outcome is SubmitOutcome.LIVE
    assert sum(f.size for f in result.fills) == pytest.approx(30)


def test_matching_delay_fills_against_the_book_as_it_is_when_the_delay_elapses() -> None:
    executor, books, clock = _setup(delay_s=3.0)
    result = asyncio.run(executor.submit(_order(30, 0.52, OrderType.FAK)))
    assert result.outcome is SubmitOutcome.DELAYED and result.fills == ()
    books.set(TOKEN, [(0.48, 50.0)], [(0.51, 10.0), (0.55, 100.0)])  # book moved meanwhile
    clock.advance(s=2.9)
    asyncio.run(executor.tick(clock.wall_ms()))
    assert executor.drain_events() == []
    clock.advance(s=0.2)
    asyncio.run(executor.tick(clock.wall_ms()))
    events = executor.drain_events()
    fills = [e for e in events if isinstance(e, VenueFill)]
    assert [(f.price, f.size) for f in fills] == [(0.51, 10.0)]
    assert events[-1].status is OrderStatus.CANCELLED


def test_cancel_and_cancel_all() -> None:
    executor, _, _ = _setup()
    a = asyncio.run(executor.submit(_order(10, 0.40, OrderType.GTC, cid="a")))
    asyncio.run(executor.submit(_order(10, 0.41, OrderType.GTC, cid="b")))
    assert asyncio.run(executor.cancel(a.venue_order_id)).cancelled == (a.venue_order_id,)
    assert not asyncio.run(executor.cancel(a.venue_order_id)).ok
    assert len(asyncio.run(executor.cancel_all()).cancelled) == 1
    assert asyncio.run(executor.open_orders()).orders == ()


def test_a_maker_fill_credits_the_rebate_and_a_taker_fill_none() -> None:
    """Rebate = MAKER_REBATE_RATE × the taker fee of the fill, only on maker fills, at the maker's
    price (the 0.5 level: 20 × 0.03 × 0.25 = 0.015 fee, 0.00375 rebate)."""
    executor, books, clock = _setup()
    resting = asyncio.run(executor.submit(_order(20, 0.49, OrderType.GTC, side=Side.SELL)))
    assert resting.outcome is SubmitOutcome.LIVE
    books.set(TOKEN, [(0.50, 40.0)], [(0.55, 10.0)])  # a buyer at 0.50 crosses our 0.49 ask
    clock.advance(ms=10)
    asyncio.run(executor.tick(clock.wall_ms()))
    (fill,) = executor.drain_events()
    assert isinstance(fill, VenueFill) and fill.is_maker and fill.price == 0.49
    fee = taker_fee_usdc(20, 0.49, 0.03)
    assert fill.fee_usdc == pytest.approx(-MAKER_REBATE_RATE * fee, abs=1e-6) and fee > 0
    taker = asyncio.run(executor.submit(_order(5, 0.55, OrderType.FAK, cid="c2")))
    assert taker.fills[0].fee_usdc == pytest.approx(taker_fee_usdc(5, 0.55, 0.03))
