"""The market-maker and the takers, driven by their pure cores, against a fake venue."""

from __future__ import annotations

import random

from sim.agents.fake_venue import FakeVenue
from sim.agents.market_maker import MarketMakerCore, apply_quote_plan, build_ladder
from sim.agents.takers import TakerCore
from sim.scenario import (
    MarketMakerSettings,
    MispricingSpec,
    TakerSettings,
    load_scenario,
)

OWNER = "sim-market-maker"


def _setup(**changes: object) -> tuple[MarketMakerCore, FakeVenue, object]:
    scenario = load_scenario("demo_short")
    market = scenario.markets[0]
    settings = MarketMakerSettings(levels=4, level_size=100, level_step=0.01, half_spread=0.01,
                                   reprice_lag_s=5.0, noise=0.0, refresh_s=100.0,
                                   **changes)  # type: ignore[arg-type]
    core = MarketMakerCore(settings, (market,), {market.match_id: 0.5}, random.Random(1))
    return core, FakeVenue(), market


def _mid(venue: FakeVenue, token_id: str) -> float:
    bids, asks = venue.book(token_id)
    return (bids[0][0] + asks[0][0]) / 2


def test_market_maker_quotes_both_sides_of_both_tokens_with_depth() -> None:
    core, venue, market = _setup()
    plans = core.step(0.0)
    assert [p.reason for p in plans] == ["initial"]
    placed, refused = apply_quote_plan(venue, OWNER, plans[0])
    assert (placed, refused) == (16, 0)
    for token_id in market.token_ids:
        bids, asks = venue.book(token_id)
        assert len(bids) == 4 and len(asks) == 4
        assert bids[0][0] == 0.49 and asks[0][0] == 0.51
        assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)


def test_market_maker_reprices_only_after_the_lag() -> None:
    core, venue, market = _setup()
    apply_quote_plan(venue, OWNER, core.step(0.0)[0])
    core.observe(10.0, market.match_id, 0.80)
    for t in (10.0, 12.0, 14.75):
        assert core.step(t) == []
    assert _mid(venue, market.token_ids[0]) == 0.5  # stale: the temporal edge
    plans = core.step(15.0)
    assert [p.reason for p in plans] == ["reprice"]
    apply_quote_plan(venue, OWNER, plans[0])
    assert _mid(venue, market.token_ids[0]) == 0.8
    assert round(_mid(venue, market.token_ids[1]), 6) == 0.2
    assert len(venue.orders) == 16  # old quotes cancelled, not stacked


def test_market_maker_leaves_the_pair_mispriced_during_the_window() -> None:
    spec_edge, margin = 0.06, 0.01
    core, venue, market = _setup(mispricings=(MispricingSpec("lol-demo", 20.0, 10.0, spec_edge,
                                                             50.0),))
    apply_quote_plan(venue, OWNER, core.step(0.0)[0])
    plans = core.step(20.0)
    assert [p.reason for p in plans] == ["mispricing"]
    apply_quote_plan(venue, OWNER, plans[0])
    asks = [venue.book(t)[1][0] for t in market.token_ids]
    total = asks[0][0] + asks[1][0]
    fees = sum(market.taker_fee_rate * p * (1 - p) for p, _ in asks)
    assert total < 1 - fees - margin
    assert [size for _, size in asks] == [50.0, 50.0]
    for token_id in market.token_ids:  # never crossed inside one token's book
        bids, token_asks = venue.book(token_id)
        assert bids[0][0] < token_asks[0][0]
    plans = core.step(30.0)
    apply_quote_plan(venue, OWNER, plans[0])
    asks = [venue.book(t)[1][0][0] for t in market.token_ids]
    assert asks[0] + asks[1] > 1.0


def test_market_maker_pulls_quotes_after_the_match_ends() -> None:
    core, venue, market = _setup()
    apply_quote_plan(venue, OWNER, core.step(0.0)[0])
    core.observe(40.0, market.match_id, 1.0, final=True)
    plans = core.step(45.0)
    assert [(p.reason, p.quotes) for p in plans] == [("match_end", ())]
    apply_quote_plan(venue, OWNER, plans[0])
    assert venue.orders == {}
    assert core.step(200.0) == []


def test_ladder_prices_stay_on_ticks_inside_the_price_range() -> None:
    market = load_scenario("demo_short").markets[0]
    quotes = build_ladder(market, 0.995, MarketMakerSettings(levels=5))
    assert all(0.001 <= q.price <= 0.999 for q in quotes)
    assert all(abs(q.price * 1000 - round(q.price * 1000)) < 1e-6 for q in quotes)


def test_random_takers_cross_the_market_maker_so_books_move() -> None:
    core, venue, market = _setup()
    apply_quote_plan(venue, OWNER, core.step(0.0)[0])
    takers = TakerCore(TakerSettings(rate_per_market_s=2.0, count=2), core.settings,
                       (market,), random.Random(3))
    orders = []
    for k in range(1, 41):
        orders += takers.step(k * 0.25, 0.25, core.believed, set())
    assert len(orders) >= 5
    assert {o.owner for o in orders} <= {"sim-taker-0", "sim-taker-1"}
    for order in orders:
        assert order.price * order.size >= 1.0 and order.size >= market.min_order_size
        venue.place_internal(order.owner, order.token_id, order.side, order.price, order.size,
                             order.order_type)
    assert len(venue.trades) >= len(orders) // 2
    assert not any(o.owner.startswith("sim-taker") for o in venue.orders.values())  # FAK


def test_takers_leave_excluded_markets_alone_but_draw_the_same_randomness() -> None:
    core, _, market = _setup()
    first = TakerCore(TakerSettings(rate_per_market_s=5.0), core.settings, (market,),
                      random.Random(9))
    second = TakerCore(TakerSettings(rate_per_market_s=5.0), core.settings, (market,),
                       random.Random(9))
    assert first.step(1.0, 1.0, core.believed, {market.match_id}) == []
    assert second.step(1.0, 1.0, core.believed, set())
    assert first.rng.random() == second.rng.random()
