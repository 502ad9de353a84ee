"""Pair arbitrage properties: never trades when unprofitable, respects every limit,
effective prices consistent with the book."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyloly.config import PairArbConfig
from polyloly.fees import taker_fee_per_share
from shards.pair_arb import (
    PairPlan,
    PairPosition,
    is_pair_profitable,
    plan_pair,
    plan_rebalance,
)
from shm import BookSnapshot

TICK = 0.001


@st.composite
def asks(draw: st.DrawFn) -> list[tuple[float, float]]:
    ticks = draw(st.lists(st.integers(5, 995), min_size=0, max_size=6, unique=True))
    sizes = draw(st.lists(st.floats(0.5, 400), min_size=len(ticks), max_size=len(ticks)))
    return sorted(zip((t * TICK for t in ticks), sizes, strict=True))


def snapshot(levels: list[tuple[float, float]]) -> BookSnapshot:
    return BookSnapshot(
        slot=0, token_id="1", seq=1, t_recv_ns=0, exchange_ts_ms=0, tick_size=TICK,
        best_bid=None, best_ask=levels[0][0] if levels else None, flags=0, book_hash="",
        bid_prices=(), bid_sizes=(), ask_prices=tuple(p for p, _ in levels),
        ask_sizes=tuple(s for _, s in levels), bid_levels_total=0,
        ask_levels_total=len(levels))


params_strategy = st.builds(
    PairArbConfig,
    size_usdc=st.floats(1, 500), safety_margin=st.floats(0, 0.05),
    max_leg_imbalance_usdc=st.floats(1, 300), max_leg_imbalance_shares=st.floats(1, 300),
    max_position_usdc=st.floats(1, 1000),
)
position_strategy = st.builds(
    PairPosition, shares_yes=st.floats(0, 200), shares_no=st.floats(0, 200),
    cost_yes=st.floats(0, 150), cost_no=st.floats(0, 150))


@settings(max_examples=300, deadline=None)
@given(asks(), asks(), params_strategy, st.floats(0, 0.1), st.floats(1, 10), position_strategy)
def test_pair_plan_is_profitable_within_limits_and_consistent_with_the_book(
    yes_levels: list[tuple[float, float]], no_levels: list[tuple[float, float]],
    params: PairArbConfig, fee_rate: float, min_size: float, position: PairPosition,
) -> None:
    plan = plan_pair(snapshot(yes_levels), snapshot(no_levels), params, fee_rate, min_size,
                     position)
    if not isinstance(plan, PairPlan):
        assert isinstance(plan, str) and plan
        return
    yes, no = plan.yes, plan.no
    assert yes.shares == no.shares >= min_size
    assert round(yes.shares, 2) == yes.shares
    # profitability with the venue's fee model at the walked prices
    assert yes.effective_price + no.effective_price < (
        1 - taker_fee_per_share(yes.effective_price, fee_rate)
        - taker_fee_per_share(no.effective_price, fee_rate) - params.safety_margin)
    # every limit
    shares = plan.shares
    assert position.imbalance_shares + shares <= params.max_leg_imbalance_shares + 1e-9
    worst_leg = shares * max(yes.cost_per_share, no.cost_per_share)
    assert position.imbalance_usdc + worst_leg <= params.max_leg_imbalance_usdc + 1e-9
    assert position.total_cost + shares * plan.cost_per_pair <= params.max_position_usdc + 1e-9
    assert shares * (yes_levels[0][0] + no_levels[0][0]) <= params.size_usdc + 1e-6
    # effective price consistent with the book: between best ask and limit, limit is a level
    for quote, levels in ((yes, yes_levels), (no, no_levels)):
        prices = [p for p, _ in levels]
        assert quote.limit_price in prices
        assert levels[0][0] - 1e-12 <= quote.effective_price <= quote.limit_price + 1e-12
        depth = sum(s for p, s in levels if p <= quote.limit_price)
        assert depth >= quote.shares - 1e-9


@settings(max_examples=200, deadline=None)
@given(asks(), asks(), st.floats(0, 0.1))
def test_pair_plan_never_trades_when_best_asks_plus_fees_reach_one(
    yes_levels: list[tuple[float, float]], no_levels: list[tuple[float, float]], fee_rate: float
) -> None:
    params = PairArbConfig(safety_margin=0.0)
    plan = plan_pair(snapshot(yes_levels), snapshot(no_levels), params, fee_rate, 1.0,
                     PairPosition())
    if yes_levels and no_levels:
        best = yes_levels[0][0] + no_levels[0][0]
        if best >= 1.0:
            assert isinstance(plan, str)
    if isinstance(plan, PairPlan):
        assert is_pair_profitable(plan.yes, plan.no, 0.0)


def test_pair_fee_is_the_venue_model_per_share() -> None:
    assert taker_fee_per_share(0.5, 0.03) == 0.0075
    assert taker_fee_per_share(0.9, 0.03) == pytest.approx(0.0027)


@settings(max_examples=200, deadline=None)
@given(asks(), st.floats(5, 100), st.floats(0, 60), st.floats(0.3, 0.7))
def test_pair_rebalance_never_exceeds_the_loss_ceiling(
    levels: list[tuple[float, float]], lead_shares: float, lag_shares: float, lead_avg: float
) -> None:
    params = PairArbConfig()
    position = PairPosition(shares_yes=lead_shares, shares_no=lag_shares,
                            cost_yes=lead_shares * lead_avg, cost_no=lag_shares * 0.4)
    quote = plan_rebalance(snapshot(levels), position, params, 0.03, 5.0)
    if isinstance(quote, str):
        return
    assert quote.shares <= position.imbalance_shares + 1e-9
    leading = quote.outcome.other
    leading_avg = position.cost(leading) / position.shares(leading)
    assert leading_avg + quote.cost_per_share <= 1 + params.rebalance_max_loss_per_share + 1e-9
