"""Maker quoting (issue 17): post-only quotes around the market-anchored fair value. Pure.

:func:`plan_quotes` says which quotes a market should rest now: a bid on each outcome at
``fair − width ∓ skew`` and an ask on an outcome held beyond the matched pairs at
``fair + width ∓ skew``; the width grows with recent mid volatility and while truth is live,
the skew leans against net inventory. Every price is on tick and strictly inside the book
(a post-only order that would cross is refused by the venue), sizes respect the inventory
caps and the venue's minimum (polyloly/venue_rules.py). Makers pay no fee and earn the
venue's rebate (polyloly/fees.py), so a quote's edge is its distance from fair value plus the
rebate.

:func:`review_quotes` decides, for the quotes resting now, which to cancel (and so replace):
a fair-value move past ``reprice_threshold`` since the quote was posted, a book that moved
through the quote's price, a quote the plan no longer wants, or one whose wanted price moved
by the threshold. See specs/06_TEMPORAL_ARB_SPEC.md §maker.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from polyloly.config import MakerConfig
from polyloly.domain import Outcome, Side
from polyloly.fees import MAKER_REBATE_RATE, taker_fee_per_share
from polyloly.venue_rules import floor_shares
from shards.pair_arb import PairPosition
from shm import BookSnapshot

_EPS: Final = 1e-9


@dataclass(frozen=True, slots=True)
class Quote:
    """One post-only order the plan wants resting."""

    outcome: Outcome
    side: Side
    price: float  # on tick, strictly inside the book
    size: float  # shares
    fair: float  # the outcome's fair value the price was derived from
    rebate_per_share: float = 0.0  # the venue's maker rebate if it fills (polyloly/fees.py)

    @property
    def edge_per_share(self) -> float:
        """Distance from fair value in our favour plus the rebate (makers pay no fee),
        USDC/share."""
        distance = self.fair - self.price if self.side is Side.BUY else self.price - self.fair
        return distance + self.rebate_per_share


@dataclass(frozen=True, slots=True)
class RestingQuote:
    """A quote we sent and that is not terminal yet."""

    intent_id: str
    outcome: Outcome
    side: Side
    price: float
    fair_yes: float | None  # fair value of YES when it was posted (None: not priced on it)


@dataclass(frozen=True, slots=True)
class QuotePlan:
    """The quotes wanted now and, per (outcome, side) not quoted, why not."""

    quotes: tuple[Quote, ...]
    skipped: tuple[tuple[Outcome, Side, str], ...]

    def wanted(self, outcome: Outcome, side: Side) -> Quote | None:
        """The quote wanted on ``outcome``/``side``, if any."""
        for quote in self.quotes:
            if quote.outcome is outcome and quote.side is side:
                return quote
        return None


def half_width(params: MakerConfig, volatility: float, truth_live: bool) -> float:
    """Distance of each quote from fair value: base (× live multiplier) + k × volatility."""
    base = params.half_width * (params.live_width_mult if truth_live else 1.0)
    return base + params.volatility_width_mult * max(0.0, volatility)


def floor_tick(price: float, tick: float) -> float:
    """Round down to the tick (a bid never rounds up into the book)."""
    return round(math.floor(price / tick + 1e-6) * tick, 6)


def ceil_tick(price: float, tick: float) -> float:
    """Round up to the tick (an ask never rounds down into the book)."""
    return round(math.ceil(price / tick - 1e-6) * tick, 6)


def plan_quotes(
    fair_yes: float,
    books: dict[Outcome, BookSnapshot],
    position: PairPosition,
    params: MakerConfig,
    tick: float,
    min_size: float,
    volatility: float,
    truth_live: bool,
    crossed_at: dict[tuple[Outcome, Side], float] | None = None,
    fee_rate: float = 0.0,
) -> QuotePlan:
    """The quotes a market should rest now (pure; see the module doc).

    ``crossed_at``: the price of a quote the venue refused as crossing, per (outcome, side):
    the next one goes at least one tick further back (never as a taker). ``fee_rate``: the
    market's taker fee rate, whose ``MAKER_REBATE_RATE`` share a maker fill earns.
    """
    width = half_width(params, volatility, truth_live)
    net = position.shares_yes - position.shares_no  # > 0: long YES beyond the pairs
    skew = params.skew_per_share * net
    quotes: list[Quote] = []
    skipped: list[tuple[Outcome, Side, str]] = []
    crossed = crossed_at or {}
    for outcome in (Outcome.YES, Outcome.NO):
        fair = fair_yes if outcome is Outcome.YES else 1.0 - fair_yes
        lean = skew if outcome is Outcome.YES else -skew  # long this outcome: quote it lower
        book = books.get(outcome)
        for side in (Side.BUY, Side.SELL):
            verdict = _one_quote(outcome, side, fair, lean, width, book, position, params,
                                 tick, min_size, crossed.get((outcome, side)))
            if isinstance(verdict, str):
                skipped.append((outcome, side, verdict))
                continue
            verdict = replace(verdict, rebate_per_share=MAKER_REBATE_RATE
                              * taker_fee_per_share(verdict.price, fee_rate))
            if _self_crosses(verdict, quotes):
                skipped.append((outcome, side, "self_cross"))
            else:
                quotes.append(verdict)
    return QuotePlan(tuple(quotes), tuple(skipped))


def yes_equivalent(quote: Quote) -> tuple[bool, float]:
    """(is a bid, price) of ``quote`` on the YES book: buying NO at q is selling YES at 1 − q
    on the unified book."""
    if quote.outcome is Outcome.YES:
        return quote.side is Side.BUY, quote.price
    return quote.side is Side.SELL, round(1.0 - quote.price, 9)


def _self_crosses(new: Quote, quotes: Sequence[Quote]) -> bool:
    """Would ``new`` match one of our own quotes on the unified book?"""
    new_bid, new_price = yes_equivalent(new)
    for quote in quotes:
        bid, price = yes_equivalent(quote)
        if bid != new_bid and (new_price >= price - _EPS if new_bid else new_price <= price + _EPS):
            return True
    return False


def _one_quote(
    outcome: Outcome, side: Side, fair: float, lean: float, width: float,
    book: BookSnapshot | None, position: PairPosition, params: MakerConfig, tick: float,
    min_size: float, crossed: float | None,
) -> Quote | str:
    if book is None:
        return "no_book"
    held = position.shares(outcome)
    unmatched = max(0.0, held - position.shares(outcome.other))
    if side is Side.BUY:
        price = min(floor_tick(fair - width - lean, tick), 1.0 - tick)  # skew stays in range
        if book.best_ask is not None:  # strictly below the best ask: post-only never crosses
            price = min(price, floor_tick(book.best_ask - tick, tick))
        if book.mid is not None:  # never above the mid (review_quotes cancels such a bid)
            price = min(price, floor_tick(book.mid, tick))
        if crossed is not None:
            price = min(price, floor_tick(crossed - tick, tick))
        if price < tick - _EPS:
            return "price_below_tick"
        # inventory caps on what this outcome would hold unmatched if the bid filled
        by_shares = params.max_inventory_shares - unmatched
        by_usdc = (params.max_inventory_usdc - _unmatched_cost(position, outcome)) / price
        size = floor_shares(min(params.size_shares, by_shares, by_usdc))
    else:
        if unmatched < min_size - _EPS:
            return "no_inventory"  # asks only against shares held beyond the matched pairs
        price = ceil_tick(fair + width - lean, tick)
        if book.best_bid is not None:
            price = max(price, ceil_tick(book.best_bid + tick, tick))
        if book.mid is not None:
            price = max(price, ceil_tick(book.mid, tick))
        if crossed is not None:
            price = max(price, ceil_tick(crossed + tick, tick))
        price = max(price, tick)  # a skewed ask never leaves the price range
        if price > 1.0 - tick + _EPS:
            return "price_above_range"
        size = floor_shares(min(params.size_shares, unmatched))
    if size < min_size - _EPS:
        return "inventory_limit"
    return Quote(outcome, side, price, size, fair)


def _unmatched_cost(position: PairPosition, outcome: Outcome) -> float:
    held = position.shares(outcome)
    if held <= _EPS:
        return 0.0
    unmatched = max(0.0, held - position.shares(outcome.other))
    return position.cost(outcome) * unmatched / held


@dataclass(frozen=True, slots=True)
class QuoteReview:
    """What to do with the resting quotes: cancel these (with why), post those."""

    cancel: tuple[tuple[str, str], ...]  # (intent id, reason)
    post: tuple[Quote, ...]


def review_quotes(
    plan: QuotePlan,
    resting: Sequence[RestingQuote],
    fair_yes: float,
    books: dict[Outcome, BookSnapshot],
    threshold: float,
) -> QuoteReview:
    """Cancel what must go, keep what still stands, post what is wanted and not resting.

    A resting quote is cancelled when fair value moved ≥ ``threshold`` since it was posted,
    when its book moved through its price (the mid fell below a bid or rose above an ask:
    the crowd is trading through us), when the plan no longer wants that side, or when
    the wanted price is ≥ ``threshold`` away. A side with a resting quote kept gets no new one.
    """
    cancel: list[tuple[str, str]] = []
    kept: set[tuple[Outcome, Side]] = set()
    for quote in resting:
        key = (quote.outcome, quote.side)
        wanted = plan.wanted(quote.outcome, quote.side)
        book = books.get(quote.outcome)
        mid = book.mid if book is not None else None
        if quote.fair_yes is not None and abs(fair_yes - quote.fair_yes) >= threshold - _EPS:
            cancel.append((quote.intent_id, "fair_value_moved"))
        elif mid is not None and (quote.price > mid + _EPS if quote.side is Side.BUY
                                  else quote.price < mid - _EPS):
            cancel.append((quote.intent_id, "book_through_price"))
        elif wanted is None:
            cancel.append((quote.intent_id, "not_wanted"))
        elif abs(wanted.price - quote.price) >= threshold - _EPS or key in kept:
            cancel.append((quote.intent_id, "reprice"))
        else:
            kept.add(key)
    post = tuple(q for q in plan.quotes if (q.outcome, q.side) not in kept)
    return QuoteReview(tuple(cancel), post)


def mid_volatility(mids: Sequence[float]) -> float:
    """Standard deviation of successive mid changes (0 with fewer than 3 mids)."""
    if len(mids) < 3:
        return 0.0
    steps = [b - a for a, b in zip(mids, mids[1:], strict=False)]
    mean = sum(steps) / len(steps)
    return math.sqrt(sum((s - mean) ** 2 for s in steps) / len(steps))
