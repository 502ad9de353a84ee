"""Venue order rules every component shares: tick sizes, minimum sizes, share rounding.

Polymarket CLOB V2 (the simulator in ``sim/`` applies the same rules with its own copy, since
it imports nothing of the project; ``tests/unit/test_venue_vocabulary.py`` asserts they agree):

* a price is a whole number of ticks; a market's tick is one of :data:`TICK_SIZES` (the
  simulator offers the four of them its scenarios use: 0.1, 0.01, 0.001, 0.0001);
* a marketable order (FAK/FOK) must be worth at least :data:`MIN_NOTIONAL_USDC`
  (shares × limit price); a resting order at least the market's ``min_order_size`` shares;
* share quantities have :data:`SHARE_DECIMALS` decimals.
"""

from __future__ import annotations

import math
from typing import Final

TICK_SIZES: Final = (0.1, 0.01, 0.005, 0.0025, 0.001, 0.0001)  # CLOB V2 (py-clob-client-v2)
MIN_NOTIONAL_USDC: Final = 1.0  # minimum shares × price of a marketable (FAK/FOK) order
SHARE_DECIMALS: Final = 2
# The venue's refusal of a post-only order that would match on arrival (CLOB V2 and the
# simulator: "invalid post-only order: order crosses book"); the shard re-places it a tick back
POST_ONLY_CROSSES: Final = "order crosses book"
_SHARE_SCALE: Final = 10**SHARE_DECIMALS
_FLOOR_SLACK: Final = 1e-6  # in hundredths: 0.29 × 100 = 28.999999999999996 is still 29
_TICK_TOLERANCE: Final = 1e-6  # in ticks: float parsing may be this far off a tick


def floor_shares(shares: float) -> float:
    """Round a share quantity down to the venue's 2 decimals (never buy more than planned)."""
    return math.floor(shares * _SHARE_SCALE + _FLOOR_SLACK) / _SHARE_SCALE


SHARE_LOT: Final = 1 / _SHARE_SCALE  # the venue's share resolution (0.01)


def same_shares(a: float, b: float) -> bool:
    """Whether two share quantities are the same order size at the venue's resolution: the
    venue computes matched sizes from 6-decimal USDC amounts, so an order of 59.3 shares may
    match 59.29104 in full (less than one lot apart is the same; a whole lot is not)."""
    return abs(a - b) < SHARE_LOT * (1 - _FLOOR_SLACK)


def on_tick(price: float, tick_size: float) -> bool:
    """Whether ``price`` is a whole number of ``tick_size`` ticks (within float tolerance)."""
    ticks = price / tick_size
    return abs(ticks - round(ticks)) <= _TICK_TOLERANCE
