"""The real executor against the local CLOB V2 (sim/venue), through unmodified py-clob-client-v2.

Each test starts the venue on 127.0.0.1 (free port) in its own thread and stops it after.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from engine.executors.base import (
    OrderRequest,
    SubmitOutcome,
    VenueFill,
    VenueOrderUpdate,
)
from engine.executors.polymarket.executor import RealExecutor, RealExecutorError
from polyloly.config import Config, validate
from polyloly.domain import OrderStatus, OrderType, RejectReason, Side
from sim.venue.testing import SampleMarket, ThreadedVenue

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
MARKET = SampleMarket()
YES, NO = MARKET.token_ids
T = TypeVar("T")


def _config(timeout_s: float = 2.0) -> Config:
    return validate(
        {
            "polymarket": {"request_timeout_s": timeout_s},
            "execution": {
                "executor": "real",
                "retry": {"max_attempts": 4, "base_delay_s": 0.01, "max_delay_s": 0.05},
                "heartbeat_interval_s": 60,
                "unknown_order_timeout_s": 1.0,
                "trade_poll_interval_s": 0.05,
            },
            "markets": [
                {
                    "market_id": MARKET.condition_id,
                    "token_ids": list(MARKET.token_ids),
                    "match_id": MARKET.match_id,
                    "game": "lol",
                }
            ],
        }
    )


ENV = {"LIVE_TRADING": "1", "POLYMARKET_PRIVATE_KEY": KEY}


@pytest.fixture()
def venue() -> Iterator[ThreadedVenue]:
    sim = ThreadedVenue([MARKET], matching_delay_s=0.0).start()
    try:
        yield sim
    finally:
        sim.stop()


def _run(venue: ThreadedVenue, body: Callable[[RealExecutor], Awaitable[T]], **kw: Any) -> T:
    async def main() -> T:
        executor = await RealExecutor.create(
            _config(**kw), environ=ENV, host=venue.url, start_heartbeat=True
        )
        try:
            return await asyncio.wait_for(body(executor), 20)
        finally:
            await executor.close()

    return asyncio.run(main())


def _order(
    side: Side, price: float, size: float, order_type: OrderType = OrderType.GTC,
    token: str = YES, client_id: str = "c1",
) -> OrderRequest:
    return OrderRequest(
        client_order_id=client_id, token_id=token, market_id=MARKET.condition_id, side=side,
        price=price, size=size, order_type=order_type, tick_size=MARKET.tick_size,
    )


def _admin(venue: ThreadedVenue, path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(f"{venue.url}/_sim/{path}", json=body, timeout=5)
    response.raise_for_status()
    return response.json()


async def _events_until(
    executor: RealExecutor, done: Callable[[list[Any]], bool], timeout_s: float = 5.0
) -> list[Any]:
    seen: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not done(seen):
        await executor.tick(executor._now_ms())
        seen.extend(await executor.wait_events(0.05))
    return seen


def test_place_rest_list_and_cancel(venue: ThreadedVenue) -> None:
    async def body(executor: RealExecutor) -> None:
        result = await executor.submit(_order(Side.BUY, 0.40, 10))
        assert result.outcome is SubmitOutcome.LIVE, result
        listed = await executor.open_orders()
        assert [o.venue_order_id for o in listed.orders] == [result.venue_order_id]
        assert listed.orders[0].status is OrderStatus.LIVE
        cancelled = await executor.cancel(result.venue_order_id or "")
        assert cancelled.ok and cancelled.cancelled == (result.venue_order_id,)
        assert (await executor.open_orders()).orders == ()

    _run(venue, body)


def test_partial_fill_reports_fill_and_leaves_the_rest_live(venue: ThreadedVenue) -> None:
    _admin(venue, "place", {"owner": "mm", "token_id": YES, "side": "SELL",
                            "price": 0.52, "size": 10})

    async def body(executor: RealExecutor) -> None:
        before = await executor.balances([YES, NO])
        result = await executor.submit(_order(Side.BUY, 0.52, 25))
        assert result.outcome in (SubmitOutcome.LIVE, SubmitOutcome.MATCHED), result
        events = await _events_until(
            executor, lambda seen: any(isinstance(e, VenueFill) for e in seen)
        )
        fills = [e for e in events if isinstance(e, VenueFill)]
        assert len(fills) == 1
        fill = fills[0]
        assert (fill.token_id, fill.side, fill.size, fill.is_maker) == (YES, Side.BUY, 10, False)
        assert fill.price == pytest.approx(0.52)
        assert fill.fee_usdc == pytest.approx(10 * 0.03 * 0.52 * 0.48, abs=1e-5)
        assert fill.venue_order_id == result.venue_order_id
        listed = (await executor.open_orders()).orders
        assert len(listed) == 1 and listed[0].size_matched == pytest.approx(10)
        assert listed[0].status is OrderStatus.PARTIALLY_FILLED
        after = await executor.balances([YES, NO])
        assert after.shares[YES] == pytest.approx(before.shares[YES] + 10)
        assert after.shares[NO] == pytest.approx(before.shares[NO])
        assert after.collateral_usdc == pytest.approx(
            before.collateral_usdc - 10 * 0.52 - fill.fee_usdc, abs=1e-4
        )

    _run(venue, body)


def test_fok_that_cannot_fill_is_rejected_without_retry(venue: ThreadedVenue) -> None:
    async def body(executor: RealExecutor) -> None:
        result = await executor.submit(_order(Side.BUY, 0.60, 10, OrderType.FOK))
        assert result.outcome is SubmitOutcome.REJECTED
        assert result.reason is RejectReason.NO_LIQUIDITY, result
        assert result.retryable is False
        assert (await executor.open_orders()).orders == ()

    _run(venue, body)


def test_a_short_429_storm_is_one_post_per_submit_and_ridden_out_by_resending(
        venue: ThreadedVenue) -> None:
    """One POST per submit (issue 20 #14: the executor's own retries nested inside the order
    manager's made up to 9 POSTs of one order); the order manager resends the same request
    after its backoff, as here, and the same signed order (same venue id) goes out."""
    _admin(venue, "fault", {"kind": "status", "status": 429, "count": 2, "paths": ["/order"]})

    async def body(executor: RealExecutor) -> None:
        order = _order(Side.BUY, 0.30, 10)
        prepared = executor.prepare(order)
        for _ in range(2):
            refused = await executor.submit(order)
            assert refused.outcome is SubmitOutcome.REJECTED and refused.retryable, refused
        result = await executor.submit(order)
        assert result.outcome is SubmitOutcome.LIVE, result
        assert result.venue_order_id == prepared
        assert len((await executor.open_orders()).orders) == 1

    _run(venue, body)


def test_a_long_429_storm_ends_in_a_retryable_rejection_and_no_order(
    venue: ThreadedVenue,
) -> None:
    _admin(venue, "fault", {"kind": "status", "status": 429, "count": 50, "paths": ["/order"]})

    async def body(executor: RealExecutor) -> None:
        result = await executor.submit(_order(Side.BUY, 0.30, 10))
        assert result.outcome is SubmitOutcome.REJECTED
        assert result.reason is RejectReason.VENUE_UNAVAILABLE
        assert result.retryable is True
        assert (await executor.open_orders()).orders == ()

    _run(venue, body)


@pytest.mark.parametrize("fault", ["delay_response", "drop_response"])
def test_an_accepted_submit_whose_answer_is_lost_is_found_and_never_resent(
    venue: ThreadedVenue, fault: str
) -> None:
    _admin(venue, "fault", {"kind": fault, "delay_s": 3, "count": 1, "paths": ["/order"]})

    async def body(executor: RealExecutor) -> None:
        result = await executor.submit(_order(Side.BUY, 0.35, 10))
        assert result.outcome is SubmitOutcome.UNKNOWN, result
        assert result.venue_order_id in executor.unknown_order_ids()
        events = await _events_until(
            executor, lambda seen: any(isinstance(e, VenueOrderUpdate) for e in seen)
        )
        updates = [e for e in events if isinstance(e, VenueOrderUpdate)]
        assert updates[0].venue_order_id == result.venue_order_id
        assert updates[0].status is OrderStatus.LIVE
        assert executor.unknown_order_ids() == ()
        listed = (await executor.open_orders()).orders
        assert [o.venue_order_id for o in listed] == [result.venue_order_id]

    _run(venue, body, timeout_s=0.5)


def test_an_unknown_submit_the_venue_never_saw_is_declared_rejected(venue: ThreadedVenue) -> None:
    async def body(executor: RealExecutor) -> None:
        signed = executor._sign(_order(Side.BUY, 0.35, 10, client_id="ghost"))
        executor._orders[signed.order_id].unknown = True
        events = await _events_until(
            executor, lambda seen: any(isinstance(e, VenueOrderUpdate) for e in seen)
        )
        update = next(e for e in events if isinstance(e, VenueOrderUpdate))
        assert (update.venue_order_id, update.status) == (signed.order_id, OrderStatus.REJECTED)

    _run(venue, body)


def test_cross_token_maker_fill_is_booked_on_our_token_and_price(venue: ThreadedVenue) -> None:
    async def body(executor: RealExecutor) -> None:
        result = await executor.submit(_order(Side.BUY, 0.45, 10, token=NO))
        assert result.outcome is SubmitOutcome.LIVE
        await asyncio.to_thread(
            _admin, venue, "place",
            {"owner": "taker", "token_id": YES, "side": "BUY", "price": 0.56, "size": 10},
        )
        events = await _events_until(
            executor, lambda seen: any(isinstance(e, VenueFill) for e in seen)
        )
        fill = next(e for e in events if isinstance(e, VenueFill))
        assert (fill.token_id, fill.side, fill.is_maker, fill.fee_usdc) == (NO, Side.BUY, True, 0)
        assert fill.price == pytest.approx(0.45)
        assert fill.size == pytest.approx(10)
        balances = await executor.balances([YES, NO])
        assert balances.shares[NO] == pytest.approx(10)
        assert balances.shares[YES] == pytest.approx(0)

    _run(venue, body)


def test_batch_submit_posts_both_legs_and_reports_each(venue: ThreadedVenue) -> None:
    async def body(executor: RealExecutor) -> None:
        results = await executor.submit_batch(
            [
                _order(Side.BUY, 0.40, 10, token=YES, client_id="a"),
                _order(Side.BUY, 0.4005, 10, token=NO, client_id="b"),
                _order(Side.BUY, 0.40, 10, token=NO, client_id="c"),
            ]
        )
        assert [r.outcome for r in results] == [
            SubmitOutcome.LIVE, SubmitOutcome.REJECTED, SubmitOutcome.LIVE,
        ]
        assert results[1].reason is RejectReason.PRICE_OFF_TICK
        assert len((await executor.open_orders()).orders) == 2
        assert len((await executor.cancel_all()).cancelled) == 2

    _run(venue, body)


def test_failing_heartbeat_makes_the_executor_refuse_submits(venue: ThreadedVenue) -> None:
    async def body(executor: RealExecutor) -> None:
        assert executor.healthy()
        await asyncio.to_thread(
            _admin, venue, "fault",
            {"kind": "status", "status": 500, "count": 5, "message": "boom",
             "paths": ["/v1/heartbeats"]},
        )
        assert executor.heartbeat is not None
        assert not await executor.heartbeat.beat()
        assert not await executor.heartbeat.beat()
        assert not executor.healthy()
        result = await executor.submit(_order(Side.BUY, 0.30, 10))
        assert result.reason is RejectReason.HEARTBEAT_UNHEALTHY
        assert (await executor.open_orders()).orders == ()

    _run(venue, body)


def test_creation_without_live_trading_or_key_is_refused(venue: ThreadedVenue) -> None:
    async def create(env: dict[str, str]) -> None:
        await RealExecutor.create(_config(), environ=env, host=venue.url)

    with pytest.raises(RealExecutorError, match="LIVE_TRADING=1"):
        asyncio.run(create({"POLYMARKET_PRIVATE_KEY": KEY}))
    with pytest.raises(RealExecutorError, match="POLYMARKET_PRIVATE_KEY"):
        asyncio.run(create({"LIVE_TRADING": "1"}))
