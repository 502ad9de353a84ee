"""THE venue fee model (Polymarket CLOB V2, sports/esports markets): one formula, one rounding.

Takers pay ``fee = shares × rate × p × (1 − p)`` USDC, ``p`` the fill price in USDC per share
and ``rate`` the market's ``feeSchedule.rate`` (0.03 on sports/esports; exponent 1, taker only).
The venue charges the fee rounded to 5 decimals (0.00001 USDC; anything smaller rounds to 0).
Makers pay nothing. The venue's maker rebate (a daily pro-rata share of taker fees, 25 % on
sports) is paid outside the fills, so no fill carries it and it is not modelled here.

Every fee in the project comes from here: the shards' per-share estimate, the paper executor's
fills, the real executor's fills from trade reports, the P&L. ``sim/`` imports nothing of the
project and keeps its own copy; ``tests/unit/test_venue_vocabulary.py`` asserts both agree.
"""

from __future__ import annotations

from typing import Final

FEE_DECIMALS: Final = 5  # the venue's fee precision, USDC
_FEE_SCALE: Final = 10**FEE_DECIMALS


def taker_fee_per_share(price: float, rate: float) -> float:
    """Unrounded taker fee per share bought or sold at ``price``: ``rate × p × (1 − p)``, USDC.

    For planning (cost per share of a quote); a fill's charged fee is :func:`taker_fee_usdc`.
    Largest at p = 0.5, symmetric in p ↔ 1 − p, 0 at the extremes and for ``rate`` ≤ 0.
    """
    if rate <= 0.0:
        return 0.0
    return rate * price * (1.0 - price)


def round_fee_usdc(fee: float) -> float:
    """Round a fee to the venue's precision (5 decimals, half to even on the scaled value, as
    the simulator does)."""
    return round(fee * _FEE_SCALE) / _FEE_SCALE


def taker_fee_usdc(shares: float, price: float, rate: float) -> float:
    """The taker fee the venue charges for ``shares`` matched at ``price`` with ``rate``, USDC,
    rounded to 5 decimals; 0 for no shares or a zero rate."""
    if shares <= 0.0 or rate <= 0.0:
        return 0.0
    return round_fee_usdc(shares * rate * price * (1.0 - price))


def fill_fee_usdc(shares: float, price: float, rate: float, is_maker: bool) -> float:
    """The fee of one fill: :func:`taker_fee_usdc` for a taker, 0 for a maker (never charged)."""
    if is_maker:
        return 0.0
    return taker_fee_usdc(shares, price, rate)
