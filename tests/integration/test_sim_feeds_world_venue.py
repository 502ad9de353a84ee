"""The world drives the real venue core: quotes rest, takers trade, markets resolve."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sim.scenario import load_scenario
from sim.world import WorldCore, action_record, start_world

venue_core = pytest.importorskip("sim.venue.core")
venue_clock = pytest.importorskip("sim.venue.clock")

SPEED = 20.0


def test_demo_short_on_the_real_venue_trades_and_resolves_every_market() -> None:
    scenario = load_scenario("demo_short")

    executed: list[Any] = []

    async def main() -> tuple[Any, Any, list[Any], dict[str, Any]]:
        clock = venue_clock.SystemClock(SPEED)
        venue = venue_core.Venue(scenario.markets, clock, seed=scenario.seed,
                                 default_collateral_usdc=scenario.default_collateral_usdc,
                                 matching_delay_s=scenario.matching_delay_s)
        trades: list[Any] = []
        venue.add_trade_listener(trades.append)
        world = await start_world(scenario, venue, speed=SPEED)
        world.listeners.append(executed.append)
        books: dict[str, Any] = {}
        try:
            await asyncio.sleep(1.0)
            books = {t: venue.book(t) for m in scenario.markets for t in m.token_ids}
            while not world.finished.is_set():
                venue.poll()  # the venue's own server normally runs this loop
                await asyncio.sleep(0.05)
        finally:
            await world.stop()
        return venue, world, trades, books

    venue, world, trades, books = asyncio.run(main())
    for bids, asks in books.values():
        assert len(bids) >= 3 and len(asks) >= 3 and bids[0][0] < asks[0][0]
    assert trades and world.stats.taker_orders > 0
    assert world.stats.orders_placed > 100
    for market in scenario.markets:
        resolved, winner = venue.is_resolved(market.condition_id)
        match = scenario.match(market.match_id)
        assert resolved and winner == market.token_ids[0 if match.winner == "A" else 1]

    # The shell executed exactly what the pure core produces for the same seed and epoch.
    replay = WorldCore(scenario, seed=scenario.seed, speed=SPEED,
                       epoch_ms=world.core.context.epoch_ms).run_all()
    assert [action_record(a) for a in executed] == [action_record(a) for a in replay]
