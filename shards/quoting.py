"""Quoting shared by both strategies (pair_arb, temporal_arb): a buy priced through the book.

:func:`quote_buy` walks a copied book's asks for a size and prices the leg at its effective
(average) price plus the venue's taker fee there (polyloly/fees.py). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from polyloly.domain import Outcome, Side
from polyloly.fees import taker_fee_per_share
from shm import BookSnapshot


@dataclass(frozen=True, slots=True)
class LegQuote:
    """Buying ``shares`` of one outcome by walking its asks."""

    outcome: Outcome
    shares: float
    effective_price: float  # average fill price over the walked levels, USDC/share
    limit_price: float  # worst level used: the order's limit
    fee_per_share: float  # taker fee at the effective price, USDC/share

    @property
    def cost_per_share(self) -> float:
        """Effective price plus fee, USDC/share."""
        return self.effective_price + self.fee_per_share

    @property
    def notional_usdc(self) -> float:
        """Shares × limit price: the most this leg can spend before fees."""
        return self.shares * self.limit_price


def quote_buy(book: BookSnapshot, outcome: Outcome, shares: float, fee_rate: float
              ) -> LegQuote | None:
    """Walk ``book``'s asks for ``shares``; None when the visible depth cannot fill them all."""
    if shares <= 0.0:
        return None
    fill = book.effective_price(Side.BUY, shares)
    if not fill.complete or fill.average_price is None or fill.worst_price is None:
        return None
    return LegQuote(outcome, shares, fill.average_price, fill.worst_price,
                    taker_fee_per_share(fill.average_price, fee_rate))
