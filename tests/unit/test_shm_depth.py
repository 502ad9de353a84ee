"""Unit tests of depth walking (SPEC §7.1 effective price) on copied levels."""

from __future__ import annotations

import pytest

from polyloly.domain import Side
from shm import SizeUnit, depth_under_limit, walk_levels

ASKS = ([0.50, 0.52, 0.55], [100.0, 50.0, 10.0])  # best first
BIDS = ([0.48, 0.47], [20.0, 30.0])


def test_buy_in_shares_walks_asks_and_averages() -> None:
    estimate = walk_levels(*ASKS, Side.BUY, 120.0)
    assert estimate.complete and estimate.levels_used == 2
    assert estimate.filled_shares == 120.0
    assert estimate.filled_usdc == pytest.approx(100 * 0.50 + 20 * 0.52)
    assert estimate.average_price == pytest.approx((50.0 + 10.4) / 120.0)
    assert (estimate.best_price, estimate.worst_price) == (0.50, 0.52)


def test_buy_in_usdc_spends_exactly_the_notional() -> None:
    estimate = walk_levels(*ASKS, "BUY", 60.4, SizeUnit.USDC)
    assert estimate.complete and estimate.filled_usdc == 60.4
    assert estimate.filled_shares == pytest.approx(120.0)
    assert estimate.average_price == pytest.approx(60.4 / 120.0)


def test_insufficient_depth_reports_partial_fill_instead_of_infinity() -> None:
    estimate = walk_levels(*ASKS, Side.BUY, 1_000.0)
    assert not estimate.complete
    assert estimate.filled_shares == 160.0 and estimate.levels_used == 3
    assert estimate.average_price == pytest.approx((50 + 26 + 5.5) / 160.0)
    empty = walk_levels([], [], Side.SELL, 5.0, "usdc")
    assert not empty.complete and empty.average_price is None and empty.filled_shares == 0.0


def test_sell_walks_bids_and_zero_quantity_is_complete() -> None:
    estimate = walk_levels(*BIDS, Side.SELL, 25.0)
    assert estimate.average_price == pytest.approx((20 * 0.48 + 5 * 0.47) / 25.0)
    assert estimate.average_price is not None and estimate.average_price <= 0.48
    zero = walk_levels(*BIDS, Side.SELL, 0.0)
    assert zero.complete and zero.average_price is None and zero.levels_used == 0


@pytest.mark.parametrize("quantity", [-1.0, float("nan"), float("inf")])
def test_walk_rejects_negative_or_non_finite_quantity(quantity: float) -> None:
    with pytest.raises(ValueError, match="quantity"):
        walk_levels(*ASKS, Side.BUY, quantity)


def test_depth_under_limit_counts_only_levels_inside_the_limit() -> None:
    buy = depth_under_limit(*ASKS, Side.BUY, 0.52)
    assert (buy.shares, buy.levels) == (150.0, 2)
    assert buy.usdc == pytest.approx(76.0)
    sell = depth_under_limit(*BIDS, "SELL", 0.475)
    assert (sell.shares, sell.levels) == (20.0, 1)
    assert depth_under_limit(*ASKS, Side.BUY, 0.49).shares == 0.0
