"""Properties of THE venue fee (polyloly/fees.py): bounds, symmetry p ↔ 1 − p, rounding."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyloly.fees import (
    FEE_DECIMALS,
    fill_fee_usdc,
    round_fee_usdc,
    taker_fee_per_share,
    taker_fee_usdc,
)

STEP = 10.0**-FEE_DECIMALS  # one unit of the venue's fee precision
prices = st.floats(0.0, 1.0, allow_nan=False)
ticks = st.integers(1, 999).map(lambda n: n / 1000)  # prices on the 0.001 grid, in (0, 1)
shares = st.floats(0.0, 100_000.0, allow_nan=False)
rates = st.floats(0.0, 0.25, allow_nan=False)


@given(shares, prices, rates)
def test_taker_fee_is_between_zero_and_a_quarter_of_rate_times_shares(c, p, r) -> None:
    fee = taker_fee_usdc(c, p, r)
    assert 0.0 <= fee <= c * r * 0.25 + STEP / 2


@given(shares, prices, rates)
def test_taker_fee_is_the_formula_rounded_to_five_decimals(c, p, r) -> None:
    fee = taker_fee_usdc(c, p, r)
    assert abs(fee - c * r * p * (1.0 - p)) <= STEP / 2 + 1e-9
    assert fee * 10**FEE_DECIMALS == pytest.approx(round(fee * 10**FEE_DECIMALS), abs=1e-6)


@given(shares, prices, rates)
def test_taker_fee_is_symmetric_in_p_and_one_minus_p(c, p, r) -> None:
    # 1 − (1 − p) may differ from p in the last bit: at most one rounding step apart
    assert abs(taker_fee_usdc(c, p, r) - taker_fee_usdc(c, 1.0 - p, r)) <= STEP + 1e-12


@given(shares, ticks, rates)
def test_taker_fee_is_largest_at_one_half(c, p, r) -> None:
    assert taker_fee_usdc(c, p, r) <= taker_fee_usdc(c, 0.5, r)


@given(st.floats(0.0, 10_000.0, allow_nan=False), ticks, rates)
def test_taker_fee_grows_with_the_shares(c, p, r) -> None:
    assert taker_fee_usdc(c, p, r) <= taker_fee_usdc(c + 1.0, p, r)


@given(ticks, rates)
def test_per_share_fee_is_the_unrounded_fee_of_one_share(p, r) -> None:
    assert taker_fee_per_share(p, r) == pytest.approx(r * p * (1.0 - p))
    assert taker_fee_per_share(p, r) == pytest.approx(taker_fee_per_share(1.0 - p, r))
    assert abs(taker_fee_usdc(1.0, p, r) - taker_fee_per_share(p, r)) <= STEP / 2 + 1e-12


@given(shares, prices, rates)
def test_makers_pay_nothing_and_takers_pay_the_taker_fee(c, p, r) -> None:
    assert fill_fee_usdc(c, p, r, is_maker=True) == 0.0
    assert fill_fee_usdc(c, p, r, is_maker=False) == taker_fee_usdc(c, p, r)


@given(st.integers(0, 10**9))
def test_rounding_goes_to_the_nearest_five_decimal_step(units) -> None:
    # a value a quarter step off a 5-decimal boundary rounds like exact decimal arithmetic
    value = (units + 0.25) * STEP
    expected = Decimal(units + 0.25).scaleb(-FEE_DECIMALS).quantize(
        Decimal(1).scaleb(-FEE_DECIMALS), rounding=ROUND_HALF_EVEN)
    assert round_fee_usdc(value) == pytest.approx(float(expected), abs=1e-12)


def test_worked_examples() -> None:
    assert taker_fee_usdc(100, 0.5, 0.03) == 0.75  # 100 × 0.03 × 0.25
    assert taker_fee_usdc(10, 0.55, 0.03) == 0.07425
    assert taker_fee_usdc(1, 0.999, 0.03) == 0.00003  # 0.00002997 rounds up to one step
    assert taker_fee_usdc(1, 0.9999, 0.03) == 0.0  # below half a step: nothing charged
    assert taker_fee_usdc(0, 0.5, 0.03) == taker_fee_usdc(10, 0.5, 0.0) == 0.0
