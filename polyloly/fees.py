"""THE venue fee model (Polymarket CLOB V2, sports/esports markets): one formula, one rounding.

Takers pay ``fee = shares × rate × p × (1 − p)`` USDC, ``p`` the fill price in USDC per share
and ``rate`` the market's ``feeSchedule.rate`` (0.03 on sports/esports; exponent 1, taker only).
The venue charges the fee rounded to 5 decimals (0.00001 USDC; anything smaller rounds to 0).
Makers pay nothing and earn a rebate: the venue pays each maker ``MAKER_REBATE_RATE`` (25 % on
sports/esports, docs/VENUE.md §5) of the taker fee of every fill it provided. The real venue pays
it daily outside the fills (``GET /rebates/current``); the simulator and the paper executor
credit it at the fill, so a paper maker fill carries it as a negative fee
(:func:`maker_rebate_usdc`).

Every fee in the project comes from here: the shards' per-share estimate, the paper executor's
fills, the real executor's fills from trade reports, the P&L. ``sim/`` imports nothing of the
project and keeps its own copy; ``tests/unit/test_venue_vocabulary.py`` asserts both agree.
"""

from __future__ import annotations

from typing import Final

FEE_DECIMALS: Final = 5  # the venue's fee precision, USDC
_FEE_SCALE: Final = 10**FEE_DECIMALS
# The maker rebate on sports/esports markets: this fraction of the taker fee of each fill a maker
# provided (Gamma ``feeSchedule.rebateRate``, docs/VENUE.md §5). The one definition in the project;
# the simulator keeps its own copy (it imports nothing) and test_venue_vocabulary checks they agree.
MAKER_REBATE_RATE: Final = 0.25
_MICRO: Final = 1_000_000  # pUSD has 6 decimals: a rebate is credited in whole micro-units


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


def maker_rebate_usdc(
    shares: float, price: float, rate: float, rebate_rate: float = MAKER_REBATE_RATE
) -> float:
    """The rebate a maker earns on one fill of ``shares`` at ``price``: ``rebate_rate`` × the
    taker fee the counterparty paid (:func:`taker_fee_usdc`), rounded to pUSD's micro-units as
    the venue credits it (half to even, as the simulator). The fee is the same whichever token
    the taker traded, since p(1 − p) is symmetric, so the maker's own price gives it."""
    fee = taker_fee_usdc(shares, price, rate)
    if fee <= 0.0 or rebate_rate <= 0.0:
        return 0.0
    return round(round(fee * _MICRO) * rebate_rate) / _MICRO
