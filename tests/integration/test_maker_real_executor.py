"""Maker quotes through the real executor (py-clob-client-v2, unmodified) on the local CLOB V2
(sim/venue): post-only GTC/GTD quotes rest, a crossing one is refused ("order crosses book")
and re-placed one tick back by the maker planner, a quote is cancelled alone, and a resting
quote fills as a maker (no fee) when a taker trades through it. Issue 17; specs/07.

The venue runs on 127.0.0.1 (free port) in its own thread and is stopped after each test.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from engine.executors.base import CROSSES_BOOK, OrderRequest, SubmitOutcome, VenueFill
from engine.executors.polymarket.executor import RealExecutor
from polyloly.config import Config, MakerConfig, validate
from polyloly.domain import OrderStatus, OrderType, Outcome, RejectReason, Side
from shards.maker_quoting import plan_quotes
from shards.pair_arb import PairPosition
from shm import BookSnapshot
from sim.venue.testing import SampleMarket, ThreadedVenue

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ENV = {"LIVE_TRADING": "1", "POLYMARKET_PRIVATE_KEY": KEY}
MARKET = SampleMarket()
YES, NO = MARKET.token_ids


def _config() -> Config:
    return validate({
        "polymarket": {"request_timeout_s": 2.0},
        "execution": {"executor": "real", "heartbeat_interval_s": 60,
                      "retry": {"max_attempts": 2, "base_delay_s": 0.01, "max_delay_s": 0.05},
                      "trade_poll_interval_s": 0.05},
        "markets": [{"market_id": MARKET.condition_id, "token_ids": list(MARKET.token_ids),
                     "match_id": MARKET.match_id, "game": "lol"}],
    })


@pytest.fixture()
def venue() -> Iterator[ThreadedVenue]:
    sim = ThreadedVenue([MARKET], matching_delay_s=3.0).start()
    try:
        yield sim
    finally:
        sim.stop()


def _quote(price: float, order_type: OrderType = OrderType.GTC, expiration_s: int = 0,
           cid: str = "q") -> OrderRequest:
    return OrderRequest(client_order_id=cid, token_id=YES, market_id=MARKET.condition_id,
                        side=Side.BUY, price=price, size=10, order_type=order_type,
                        tick_size=MARKET.tick_size, expiration_s=expiration_s, post_only=True)


def _admin(venue: ThreadedVenue, body: dict[str, Any]) -> Any:
    response = httpx.post(f"{venue.url}/_sim/place", json=body, timeout=5)
    response.raise_for_status()
    return response.json()


def _yes_book(bid: float, ask: float) -> BookSnapshot:
    return BookSnapshot(slot=0, token_id=YES, seq=1, t_recv_ns=0, exchange_ts_ms=0,
                        tick_size=MARKET.tick_size, best_bid=bid, best_ask=ask, flags=0,
                        book_hash="", bid_prices=(bid,), bid_sizes=(100.0,),
                        ask_prices=(ask,), ask_sizes=(100.0,), bid_levels_total=1,
                        ask_levels_total=1)


def test_post_only_quotes_rest_refuse_to_cross_cancel_and_fill_as_maker(
        venue: ThreadedVenue) -> None:
    _admin(venue, {"owner": "mm", "token_id": YES, "side": "SELL", "price": 0.52, "size": 50})
    _admin(venue, {"owner": "mm", "token_id": YES, "side": "BUY", "price": 0.40, "size": 50})
    tick = MARKET.tick_size

    async def body(executor: RealExecutor) -> None:
        # our view of the book is stale (0.50 / 0.60): the planner's bid 0.52 would cross now
        crossed = await executor.submit(_quote(0.52, cid="q0"))
        assert crossed.outcome is SubmitOutcome.REJECTED and not crossed.retryable
        assert crossed.reason is RejectReason.VENUE_REJECTED
        assert CROSSES_BOOK in crossed.message, crossed.message
        assert (await executor.trades(0)).fills == ()  # never a taker
        # the planner re-places it one tick behind the refused price
        plan = plan_quotes(0.60, {Outcome.YES: _yes_book(0.50, 0.60)}, PairPosition(),
                           MakerConfig(enabled=True, half_width=0.0, volatility_width_mult=0),
                           tick, 5.0, 0.0, False, crossed_at={(Outcome.YES, Side.BUY): 0.52})
        wanted = plan.wanted(Outcome.YES, Side.BUY)
        assert wanted is not None and wanted.price == pytest.approx(0.52 - tick)
        again = await executor.submit(_quote(wanted.price, cid="q1"))
        assert again.outcome is SubmitOutcome.LIVE, again  # rests: no 3 s taker hold
        expiry_s = int(time.time()) + 120
        gtd = await executor.submit(_quote(0.45, OrderType.GTD, expiry_s, cid="q2"))
        assert gtd.outcome is SubmitOutcome.LIVE, gtd
        listed = {o.venue_order_id: o for o in (await executor.open_orders()).orders}
        assert set(listed) == {again.venue_order_id, gtd.venue_order_id}
        # cancel one quote (a replace's first half): the other stays
        cancelled = await executor.cancel(again.venue_order_id or "")
        assert cancelled.ok and cancelled.cancelled == (again.venue_order_id,)
        left = (await executor.open_orders()).orders
        assert [o.venue_order_id for o in left] == [gtd.venue_order_id]
        assert left[0].status is OrderStatus.LIVE
        # a taker sells through our GTD bid: a maker fill, no fee (a rebate at most)
        await asyncio.to_thread(_admin, venue, {"owner": "taker", "token_id": YES,
                                                "side": "SELL", "price": 0.45, "size": 10})
        deadline = time.monotonic() + 8.0  # the taker waits out the venue's 3 s hold
        fills: list[VenueFill] = []
        while time.monotonic() < deadline and not fills:
            await executor.tick(executor._now_ms())
            fills = [e for e in await executor.wait_events(0.1) if isinstance(e, VenueFill)]
        assert fills, "the resting GTD quote never filled"
        fill = fills[0]
        assert (fill.venue_order_id, fill.is_maker, fill.side) == (gtd.venue_order_id, True,
                                                                   Side.BUY)
        assert fill.price == pytest.approx(0.45) and fill.fee_usdc <= 0.0

    async def main() -> None:
        executor = await RealExecutor.create(_config(), environ=ENV, host=venue.url,
                                             start_heartbeat=True)
        try:
            await asyncio.wait_for(body(executor), 30)
        finally:
            await executor.close()

    asyncio.run(main())


def test_a_post_only_batch_is_sent_with_the_flag(venue: ThreadedVenue) -> None:
    _admin(venue, {"owner": "mm", "token_id": YES, "side": "SELL", "price": 0.52, "size": 50})

    async def main() -> None:
        executor = await RealExecutor.create(_config(), environ=ENV, host=venue.url,
                                             start_heartbeat=True)
        try:
            results = await executor.submit_batch([_quote(0.52, cid="a"),
                                                   _quote(0.50, cid="b")])
            assert [r.outcome for r in results] == [SubmitOutcome.REJECTED, SubmitOutcome.LIVE]
            assert CROSSES_BOOK in results[0].message
            assert (await executor.trades(0)).fills == ()
        finally:
            await executor.close()

    asyncio.run(main())
