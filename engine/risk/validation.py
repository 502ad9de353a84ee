"""Intent validation: the checks every intent passes before any risk layer (bad input)."""

from __future__ import annotations

import math

from engine.risk.decision import Decision
from polyloly.config import MarketConfig
from polyloly.domain import RejectReason
from polyloly.messages import OrderIntent
from polyloly.venue_rules import on_tick


def validate_intent(intent: OrderIntent, market: MarketConfig | None) -> Decision | None:
    """Return a refusal for a malformed intent, or None when it is well formed.

    Checks, in order: known market, token of that market, outcome matches the token, size
    finite and > 0, price finite in (0, 1), price on the market's tick, size >= the market's
    minimum order size.
    """
    if market is None:
        return Decision.refuse(
            RejectReason.UNKNOWN_MARKET, f"market {intent.market_id!r} is not configured"
        )
    if intent.token_id not in market.token_ids:
        return Decision.refuse(
            RejectReason.UNKNOWN_TOKEN,
            f"token {intent.token_id!r} is not in market {intent.market_id}",
        )
    outcome_index = 0 if intent.outcome.value == "YES" else 1
    if market.token_ids[outcome_index] != intent.token_id:
        return Decision.refuse(
            RejectReason.UNKNOWN_TOKEN,
            f"token {intent.token_id!r} is not the {intent.outcome.value} token of "
            f"{intent.market_id}",
        )
    if not math.isfinite(intent.size) or intent.size <= 0.0:
        return Decision.refuse(
            RejectReason.NON_POSITIVE_SIZE, f"size: expected a positive number, was {intent.size!r}"
        )
    if not math.isfinite(intent.price) or not 0.0 < intent.price < 1.0:
        return Decision.refuse(
            RejectReason.PRICE_OUT_OF_RANGE, f"price: expected (0, 1), was {intent.price!r}"
        )
    if not on_tick(intent.price, market.tick_size):
        return Decision.refuse(
            RejectReason.PRICE_OFF_TICK,
            f"price {intent.price!r} is not on tick {market.tick_size}",
        )
    if intent.size < market.min_order_size:
        return Decision.refuse(
            RejectReason.BELOW_MIN_SIZE,
            f"size {intent.size} is below the minimum {market.min_order_size}",
        )
    return None
