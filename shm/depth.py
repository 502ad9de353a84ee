"""Walking book depth: effective fill price for a size, and size available under a limit.

Pure functions over price/size sequences sorted best-first (asks ascending, bids descending),
as copied out of a slot by :class:`shm.reader.BookSnapshot`. SPEC §7.1 ``effective_price_for_size``
returns ``inf`` when depth runs out; here the result says how much was filled instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from polyloly.domain import Side

_COMPLETE_TOLERANCE = 1e-9  # shares or USDC left over that still counts as filled


class SizeUnit(StrEnum):
    """Unit of a requested quantity: outcome-token shares, or USDC notional to spend/receive."""

    SHARES = "shares"
    USDC = "usdc"


@dataclass(frozen=True, slots=True)
class FillEstimate:
    """What a marketable order of ``requested`` ``unit`` would fill against the visible levels.

    ``average_price`` is ``filled_usdc / filled_shares`` (None when nothing fills), clamped into
    [best level, worst level used] so float rounding never makes it better than the best level.
    ``complete`` is False when the visible depth is smaller than the request; then the filled
    figures are what the visible depth can take.
    """

    side: Side
    unit: SizeUnit
    requested: float
    filled_shares: float
    filled_usdc: float
    average_price: float | None
    best_price: float | None
    worst_price: float | None
    levels_used: int
    complete: bool


@dataclass(frozen=True, slots=True)
class DepthUnderLimit:
    """Depth a marketable order could take without crossing ``limit_price``."""

    side: Side
    limit_price: float
    shares: float
    usdc: float
    levels: int


def walk_levels(
    prices: Sequence[float],
    sizes: Sequence[float],
    side: Side | str,
    quantity: float,
    unit: SizeUnit | str = SizeUnit.SHARES,
) -> FillEstimate:
    """Walk best-first levels until ``quantity`` (shares or USDC) is filled.

    Pass the asks for a BUY and the bids for a SELL (``BookSnapshot.effective_price`` does).
    Raise ValueError for a negative or non-finite quantity.
    """
    side = side if side.__class__ is Side else Side(side)
    unit = unit if unit.__class__ is SizeUnit else SizeUnit(unit)
    if not (quantity >= 0.0) or math.isinf(quantity):
        raise ValueError(f"quantity: expected a finite number >= 0, was {quantity!r}")
    remaining = quantity
    shares = 0.0
    cost = 0.0
    used = 0
    worst: float | None = None
    by_usdc = unit is SizeUnit.USDC
    for price, size in zip(prices, sizes, strict=False):
        if remaining <= _COMPLETE_TOLERANCE:
            break
        # The level that completes the request takes exactly what is left, so that the
        # filled figure equals the request instead of drifting by float rounding.
        if by_usdc:
            level_cost = price * size
            if level_cost < remaining:
                remaining -= level_cost
                shares += size
                cost += level_cost
            else:
                shares += remaining / price
                cost = quantity
                remaining = 0.0
        else:
            if size < remaining:
                remaining -= size
                shares += size
                cost += size * price
            else:
                cost += remaining * price
                shares = quantity
                remaining = 0.0
        used += 1
        worst = price
    best = prices[0] if len(prices) > 0 else None
    average: float | None = None
    if shares > 0.0 and best is not None and worst is not None:
        average = cost / shares
        low, high = (best, worst) if side is Side.BUY else (worst, best)
        average = min(max(average, low), high)
    return FillEstimate(
        side=side,
        unit=unit,
        requested=quantity,
        filled_shares=shares,
        filled_usdc=cost,
        average_price=average,
        best_price=best,
        worst_price=worst,
        levels_used=used,
        complete=remaining <= _COMPLETE_TOLERANCE,
    )


def depth_under_limit(
    prices: Sequence[float], sizes: Sequence[float], side: Side | str, limit_price: float
) -> DepthUnderLimit:
    """Sum the levels a ``side`` order limited at ``limit_price`` could take.

    For a BUY pass the asks (levels priced <= limit count); for a SELL the bids (>= limit).
    """
    side = Side(side)
    shares = 0.0
    usdc = 0.0
    count = 0
    buy = side is Side.BUY
    for price, size in zip(prices, sizes, strict=False):
        if (price > limit_price) if buy else (price < limit_price):
            break
        shares += size
        usdc += size * price
        count += 1
    return DepthUnderLimit(side=side, limit_price=limit_price, shares=shares, usdc=usdc,
                           levels=count)
