"""Binary pair arbitrage (SPEC §7.1): buy YES and NO when their fill costs sum below 1.

Pure functions over copied books (:class:`shm.BookSnapshot`). Prices are USDC per share,
sizes are shares, fees are the venue's taker model ``shares × rate × p × (1 − p)`` expressed per
share (``rate × p × (1 − p)``) at the leg's effective price (by concavity of p(1 − p) this is
never below the exact per-level fee). See specs/05_PAIR_ARB_SPEC.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from polyloly.config import PairArbConfig
from polyloly.domain import Outcome
from polyloly.venue_rules import MIN_NOTIONAL_USDC, floor_shares
from shards.quoting import LegQuote, quote_buy
from shm import BookSnapshot

_HALVINGS: Final = 4  # sizes tried: target, 1/2, 1/4, 1/8, 1/16


@dataclass(frozen=True, slots=True)
class PairPosition:
    """Shares held and their cost (fees included) per leg, USDC."""

    shares_yes: float = 0.0
    shares_no: float = 0.0
    cost_yes: float = 0.0
    cost_no: float = 0.0

    @property
    def imbalance_shares(self) -> float:
        """|shares_yes − shares_no|."""
        return abs(self.shares_yes - self.shares_no)

    @property
    def imbalance_usdc(self) -> float:
        """|cost_yes − cost_no| (SPEC §7.1 leg imbalance in USDC)."""
        return abs(self.cost_yes - self.cost_no)

    @property
    def total_cost(self) -> float:
        """USDC spent on both legs."""
        return self.cost_yes + self.cost_no

    def shares(self, outcome: Outcome) -> float:
        """Shares held of ``outcome``."""
        return self.shares_yes if outcome is Outcome.YES else self.shares_no

    def cost(self, outcome: Outcome) -> float:
        """USDC spent on ``outcome``."""
        return self.cost_yes if outcome is Outcome.YES else self.cost_no


def locked_pnl(position: PairPosition) -> float:
    """P&L locked by the matched part of the pair: min(shares) × (1 − avg costs), in USDC."""
    matched = min(position.shares_yes, position.shares_no)
    if matched <= 0.0:
        return 0.0
    avg_yes = position.cost_yes / position.shares_yes
    avg_no = position.cost_no / position.shares_no
    return matched * (1.0 - avg_yes - avg_no)


@dataclass(frozen=True, slots=True)
class PairPlan:
    """Both legs of one pair purchase, for the same number of shares."""

    yes: LegQuote
    no: LegQuote

    @property
    def shares(self) -> float:
        """Shares per leg."""
        return self.yes.shares

    @property
    def cost_per_pair(self) -> float:
        """USDC per redeemable pair, fees included."""
        return self.yes.cost_per_share + self.no.cost_per_share

    @property
    def edge_per_share(self) -> float:
        """1 − cost per pair: the locked profit per pair, before the safety margin."""
        return 1.0 - self.cost_per_pair


def is_pair_profitable(yes: LegQuote, no: LegQuote, safety_margin: float) -> bool:
    """SPEC §7.1: eff_yes + eff_no < 1 − fees − safety_margin (fees per share, both legs)."""
    return (yes.effective_price + no.effective_price
            < 1.0 - yes.fee_per_share - no.fee_per_share - safety_margin)


def plan_pair(
    book_yes: BookSnapshot,
    book_no: BookSnapshot,
    params: PairArbConfig,
    fee_rate: float,
    min_order_size: float,
    position: PairPosition,
) -> PairPlan | str:
    """Find the largest pair (≤ ``params.size_usdc``) that is profitable and within limits.

    Limits, each checked with the walked prices of the sizes tried: the pair's cost within
    ``max_position_usdc`` minus what is held; the worst case of one leg filling and the other
    not keeps |Δshares| ≤ ``max_leg_imbalance_shares`` and |Δcost| ≤ ``max_leg_imbalance_usdc``;
    each leg ≥ ``min_order_size`` shares and ≥ 1 USDC. Return the plan or a refusal reason.
    """
    ask_yes, ask_no = book_yes.best_ask, book_no.best_ask
    if ask_yes is None or ask_no is None:
        return "no_asks"
    if not ask_yes + ask_no < 1.0 - params.safety_margin:
        return "not_profitable"
    caps = [
        params.size_usdc / (ask_yes + ask_no),
        params.max_leg_imbalance_shares - position.imbalance_shares,
        (params.max_leg_imbalance_usdc - position.imbalance_usdc) / max(ask_yes, ask_no),
        (params.max_position_usdc - position.total_cost) / (ask_yes + ask_no),
    ]
    target = floor_shares(min(caps))
    if target < min_order_size:
        return "limit_headroom_below_min_size"
    reason = "not_profitable"
    shares = target
    for _ in range(_HALVINGS + 1):
        if shares < min_order_size:
            return "below_min_size" if reason == "not_profitable" else reason
        verdict = _check_pair(book_yes, book_no, shares, params, fee_rate, position)
        if isinstance(verdict, PairPlan):
            return verdict
        reason = verdict
        shares = floor_shares(shares / 2.0)
    return reason


def _check_pair(
    book_yes: BookSnapshot,
    book_no: BookSnapshot,
    shares: float,
    params: PairArbConfig,
    fee_rate: float,
    position: PairPosition,
) -> PairPlan | str:
    yes = quote_buy(book_yes, Outcome.YES, shares, fee_rate)
    no = quote_buy(book_no, Outcome.NO, shares, fee_rate)
    if yes is None or no is None:
        return "insufficient_depth"
    if not is_pair_profitable(yes, no, params.safety_margin):
        return "not_profitable"
    if min(yes.notional_usdc, no.notional_usdc) < MIN_NOTIONAL_USDC:
        return "below_min_notional"
    worst_leg_usdc = shares * max(yes.cost_per_share, no.cost_per_share)
    if position.imbalance_usdc + worst_leg_usdc > params.max_leg_imbalance_usdc:
        return "leg_imbalance_usdc"
    if position.imbalance_shares + shares > params.max_leg_imbalance_shares:
        return "leg_imbalance_shares"
    if position.total_cost + shares * (yes.cost_per_share + no.cost_per_share) > (
            params.max_position_usdc):
        return "position_limit"
    return PairPlan(yes, no)


def plan_rebalance(
    book_lagging: BookSnapshot,
    position: PairPosition,
    params: PairArbConfig,
    fee_rate: float,
    min_order_size: float,
) -> LegQuote | str:
    """Buy the lagging leg's missing shares after a partial fill (SPEC §7.1).

    Accepted only if the completed pair costs at most ``1 + rebalance_max_loss_per_share`` per
    share: the leading leg's average cost (fees included) plus the lagging leg's walked cost.
    Partial depth: tries halves of the missing shares. Return the quote or a refusal reason.
    """
    lagging = Outcome.YES if position.shares_yes < position.shares_no else Outcome.NO
    leading = lagging.other
    missing = floor_shares(position.imbalance_shares)
    if missing < min_order_size:
        return "imbalance_below_min_size"
    lead_avg = position.cost(leading) / position.shares(leading)
    ceiling = 1.0 + params.rebalance_max_loss_per_share
    reason = "insufficient_depth"
    shares = missing
    for _ in range(_HALVINGS + 1):
        if shares < min_order_size:
            return reason
        quote = quote_buy(book_lagging, lagging, shares, fee_rate)
        if quote is not None:
            if lead_avg + quote.cost_per_share > ceiling:
                return "rebalance_too_expensive"
            if quote.notional_usdc >= MIN_NOTIONAL_USDC:
                return quote
            reason = "below_min_notional"
        shares = floor_shares(shares / 2.0)
    return reason


# ---- pair accumulation (issue 17): legs bought over time, the matched part kept below 1 ----


@dataclass(frozen=True, slots=True)
class AccumulationBuy:
    """One buy of one leg: a taker FAK through the asks, or a post-only maker bid."""

    outcome: Outcome
    shares: float
    limit_price: float  # the order's limit (on tick)
    cost_per_share: float  # expected cost with fees (a maker bid: its price, no fee)
    maker: bool
    reason: str

    @property
    def notional_usdc(self) -> float:
        """Shares × limit: the most this buy can spend before fees."""
        return self.shares * self.limit_price


def averages_after(position: PairPosition, outcome: Outcome, shares: float,
                   cost_per_share: float) -> PairPosition:
    """The position after buying ``shares`` of ``outcome`` at ``cost_per_share`` (fees in)."""
    if outcome is Outcome.YES:
        return PairPosition(position.shares_yes + shares, position.shares_no,
                            position.cost_yes + shares * cost_per_share, position.cost_no)
    return PairPosition(position.shares_yes, position.shares_no + shares,
                        position.cost_yes, position.cost_no + shares * cost_per_share)


def pair_cost(position: PairPosition) -> float | None:
    """avg_yes + avg_no (fees included), or None while a leg is empty."""
    if position.shares_yes <= 0.0 or position.shares_no <= 0.0:
        return None
    return position.cost_yes / position.shares_yes + position.cost_no / position.shares_no


def accumulation_ok(position: PairPosition, params: PairArbConfig) -> bool:
    """The invariant: avg_yes + avg_no + fees ≤ 1 − margin (vacuous while a leg is empty)."""
    cost = pair_cost(position)
    return cost is None or cost <= 1.0 - params.safety_margin + 1e-9


def _within_limits(after: PairPosition, before: PairPosition, params: PairArbConfig) -> str | None:
    """Imbalance (shares, USDC) may not grow past its limit; the position stays within its cap."""
    if (after.imbalance_shares > params.max_leg_imbalance_shares + 1e-9
            and after.imbalance_shares > before.imbalance_shares):
        return "leg_imbalance_shares"
    if (after.imbalance_usdc > params.max_leg_imbalance_usdc + 1e-9
            and after.imbalance_usdc > before.imbalance_usdc):
        return "leg_imbalance_usdc"
    if after.total_cost > params.max_position_usdc + 1e-9:
        return "position_limit"
    return None


def _max_maker_price(position: PairPosition, outcome: Outcome, shares: float,
                     params: PairArbConfig) -> float | None:
    """Highest bid on ``outcome`` for ``shares`` that keeps the invariant if it fills; None for
    a first leg (the other empty): a resting first-leg bid fills when the price falls through
    it, i.e. against us (the demo measured it), so a first leg is only a dip taken."""
    other = outcome.other
    if position.shares(other) <= 0.0:
        return None
    avg_other = position.cost(other) / position.shares(other)
    held = position.shares(outcome)
    return ((1.0 - params.safety_margin - avg_other) * (held + shares)
            - position.cost(outcome)) / shares


def plan_accumulation(
    books: dict[Outcome, BookSnapshot],
    position: PairPosition,
    params: PairArbConfig,
    fee_rate: float,
    min_size: float,
    tick: float,
    fair_yes: float | None,
) -> AccumulationBuy | str:
    """The next buy of BUILDING_PAIR, or why none (pure; specs/05 §accumulation).

    The lagging leg (fewer shares; YES on a tie) first, then the other. A buy *completes*
    (the leg lacks ≥ ``min_size`` shares of the other: it buys at most the missing shares) or
    *opens* exposure (a first leg, a new pair on a balanced position, the leading leg: only
    with ``first_leg: dip``, at cost ≤ fair − ``entry_edge``): a taker buy when
    the walked asks keep avg_yes + avg_no + fees ≤ 1 − margin (a first leg: its cost ≤ fair
    − ``entry_edge``, a dip), else (a leg whose other leg is held) a post-only bid at the
    highest price that keeps it, strictly below the best ask. Sizes: the lagging leg's
    missing shares (or ``size_usdc`` worth), halved until the invariant and the limits hold
    and ≥ ``min_size``. The old simultaneous rule is the case of both legs bought in one
    decision (``plan_pair``, tried first by the trader).
    """
    lagging = Outcome.YES if position.shares_yes <= position.shares_no else Outcome.NO
    reasons: list[str] = []
    for outcome in (lagging, lagging.other):
        book = books.get(outcome)
        if book is None:
            reasons.append("no_book")
            continue
        fair = None if fair_yes is None else (fair_yes if outcome is Outcome.YES
                                             else 1.0 - fair_yes)
        verdict = _accumulate_leg(book, outcome, position, params, fee_rate, min_size, tick,
                                  fair)
        if isinstance(verdict, AccumulationBuy):
            return verdict
        reasons.append(verdict)
    return reasons[0]


def _accumulate_leg(
    book: BookSnapshot, outcome: Outcome, position: PairPosition, params: PairArbConfig,
    fee_rate: float, min_size: float, tick: float, fair: float | None,
) -> AccumulationBuy | str:
    missing = position.shares(outcome.other) - position.shares(outcome)
    opening = missing < min_size  # unmatched exposure: a directional bet, not a pair
    if opening and params.first_leg == "none":
        return "no_first_leg"  # accumulation completes inventory; it does not open it
    ask = book.best_ask
    reference = ask if ask is not None else (fair or 0.5)
    # completing never overshoots the missing shares (the excess would be a new first leg)
    wanted = missing if not opening else params.size_usdc / max(reference, tick)
    shares = floor_shares(min(wanted, params.size_usdc / max(reference, tick)))
    reason = "below_min_size"
    for _ in range(_HALVINGS + 1):
        if shares < min_size:
            return reason
        verdict = _accumulate_size(book, outcome, shares, position, params, fee_rate, tick,
                                   fair, opening)
        if isinstance(verdict, AccumulationBuy):
            return verdict
        reason = verdict
        shares = floor_shares(shares / 2.0)
    return reason


def _accumulate_size(
    book: BookSnapshot, outcome: Outcome, shares: float, position: PairPosition,
    params: PairArbConfig, fee_rate: float, tick: float, fair: float | None, opening: bool,
) -> AccumulationBuy | str:
    taker = quote_buy(book, outcome, shares, fee_rate)
    if taker is not None and taker.notional_usdc >= MIN_NOTIONAL_USDC:
        cheap = (fair is not None and taker.cost_per_share <= fair - params.entry_edge
                 if opening else True)
        after = averages_after(position, outcome, shares, taker.cost_per_share)
        if cheap and accumulation_ok(after, params):
            limits = _within_limits(after, position, params)
            if limits is not None:
                return limits
            return AccumulationBuy(outcome, shares, taker.limit_price, taker.cost_per_share,
                                   False, "take dip" if opening else "take within margin")
    ceiling = None if opening else _max_maker_price(position, outcome, shares, params)
    if ceiling is None:  # opening exposure is only ever a dip taken
        return "no_fair_value" if fair is None else "no_dip"
    if not math.isfinite(ceiling):
        return "not_profitable"  # a leg of ~0 shares at a huge average: nothing fits
    price = math.floor(min(ceiling, 1.0 - tick) / tick + 1e-6) * tick
    if book.best_ask is not None:
        price = min(price, math.floor((book.best_ask - tick) / tick + 1e-6) * tick)
    price = round(price, 6)
    if price < tick - 1e-9:
        return "not_profitable"
    after = averages_after(position, outcome, shares, price)
    if not accumulation_ok(after, params):
        return "not_profitable"
    limits = _within_limits(after, position, params)
    if limits is not None:
        return limits
    return AccumulationBuy(outcome, shares, price, price, True, "bid within margin")
