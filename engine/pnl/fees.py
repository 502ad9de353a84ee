"""Polymarket's fee model: takers pay ``shares × rate × p × (1 − p)`` USDC; makers pay nothing."""

from __future__ import annotations


def taker_fee_usdc(shares: float, price: float, rate: float) -> float:
    """Return the taker fee in USDC for ``shares`` matched at ``price`` with fee ``rate``.

    The fee is largest at p = 0.5 and vanishes at the extremes (``rate`` is a fraction, e.g.
    0.03 for 3 %).
    """
    if shares <= 0.0 or rate <= 0.0:
        return 0.0
    return shares * rate * price * (1.0 - price)


def fill_fee_usdc(shares: float, price: float, rate: float, is_maker: bool) -> float:
    """Return the fee of one fill: the taker fee, or 0 for a maker fill."""
    return 0.0 if is_maker else taker_fee_usdc(shares, price, rate)
