"""Temporal arbitrage (SPEC §7.2): trade the truth's implied probability against a stale price.

Pure: implied probability from the truth state, the edge net of the taker fee, fractional Kelly
sizing, and the latency tracker that bounds the edge window (including the venue's matching
delay on sports markets). See specs/06_TEMPORAL_ARB_SPEC.md.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Final

from polyloly.config import TemporalArbConfig
from polyloly.domain import Game, Outcome, TruthStatus
from polyloly.fees import taker_fee_per_share
from polyloly.venue_rules import MIN_NOTIONAL_USDC, floor_shares
from shards.quoting import LegQuote, quote_buy
from shards.truth import GameScore
from shards.win_probability import (
    cs2_map_probability,
    gold_lead_probability,
    live_series_probability,
    valorant_map_probability,
)
from shm import BookSnapshot

PENDING_BASE: Final = 0.85  # SPEC §7.2: PENDING_CONFIRM → 0.85 + confidence × 0.10
PENDING_SLOPE: Final = 0.10
_MAX_SIZING_STEPS: Final = 6


def map_probability(game: Game, score: GameScore, round_win_probability: float
                    ) -> float | None:
    """Team A's chance on the map in progress from the live score; None when nothing is known."""
    if game in (Game.LOL, Game.DOTA2):
        if score.gold_diff_a is None or score.game_time_s is None:
            return None
        return gold_lead_probability(game, score.gold_diff_a, score.game_time_s)
    if score.rounds_a is None or score.rounds_b is None:
        return None
    if game is Game.CS2:
        return cs2_map_probability(score.rounds_a, score.rounds_b, round_win_probability)
    return valorant_map_probability(score.rounds_a, score.rounds_b, round_win_probability)


def implied_probability_yes(
    status: TruthStatus,
    confidence: float,
    winner: str | None,
    score: GameScore,
    game: Game,
    best_of: int,
    params: TemporalArbConfig,
) -> float | None:
    """Probability that team A (YES) wins the market, from the truth state (SPEC §7.2).

    FINAL → ``final_probability`` for the winner; PENDING_CONFIRM → 0.85 + confidence × 0.10
    for the reported winner; LIVE → the best-of-N series probability with the map in progress
    from the game model; PRE_MATCH and PAUSED → None (no signal).
    """
    if status is TruthStatus.FINAL and winner is not None:
        p = params.final_probability
        return p if winner == "A" else 1.0 - p
    if status is TruthStatus.PENDING_CONFIRM and winner is not None:
        p = min(PENDING_BASE + confidence * PENDING_SLOPE, params.final_probability)
        return p if winner == "A" else 1.0 - p
    if status is TruthStatus.LIVE:
        current = map_probability(game, score, params.round_win_probability)
        return live_series_probability(best_of, score.maps_a, score.maps_b, current,
                                       params.prior_map_probability)
    return None


def kelly_stake_usdc(
    probability: float, cost_per_share: float, bankroll_usdc: float, kelly_fraction: float
) -> float:
    """Fractional Kelly stake in USDC for a binary share costing ``cost_per_share`` paying 1.

    Full Kelly for net odds b = (1 − c)/c is f* = (p − c)/(1 − c); the stake is
    ``bankroll × kelly_fraction × f*``, and 0 when there is no edge.
    """
    if cost_per_share >= 1.0 or cost_per_share <= 0.0 or probability <= cost_per_share:
        return 0.0
    full = (probability - cost_per_share) / (1.0 - cost_per_share)
    return bankroll_usdc * kelly_fraction * full


class LatencyTracker:
    """How long the market takes to reprice after a match event (SPEC §7.2), in ms.

    There is no default window: until ``min_samples`` reactions were measured on this market,
    the edge is never available (the market learns from the events it watches first).
    """

    def __init__(self, window_size: int, min_samples: int) -> None:
        self._samples: deque[float] = deque(maxlen=window_size)
        self._min_samples = min_samples

    def record(self, reaction_ms: float) -> None:
        """Add one event → market reaction delay (the caller discards implausible ones)."""
        self._samples.append(max(0.0, reaction_ms))

    @property
    def samples(self) -> int:
        """Number of recorded reactions kept."""
        return len(self._samples)

    @property
    def ready(self) -> bool:
        """Enough reactions measured to trust the window."""
        return len(self._samples) >= self._min_samples

    @property
    def reaction_window_ms(self) -> float | None:
        """Mean recorded reaction delay once ready, else None (no window, no trade)."""
        return statistics.fmean(self._samples) if self.ready else None

    def is_edge_available(
        self, event_age_ms: float, matching_delay_ms: float, buffer: float
    ) -> bool:
        """True while ``age < window × buffer`` and our order matches before the market reacts.

        A marketable order on a sports market is held ``matching_delay_ms`` before it matches,
        so it is useful only if ``age + matching_delay < window``. False before ``ready``.
        """
        window = self.reaction_window_ms
        if window is None:
            return False
        return event_age_ms < window * buffer and event_age_ms + matching_delay_ms < window


@dataclass(frozen=True, slots=True)
class TemporalPlan:
    """Buy the favourite's token: the quote, the implied probability and the edge."""

    quote: LegQuote
    implied_probability: float  # of the outcome bought
    edge: float  # implied − (effective price + fee per share)
    stake_usdc: float  # shares × cost per share

    @property
    def outcome(self) -> Outcome:
        """The outcome bought."""
        return self.quote.outcome


def plan_temporal(
    implied_yes: float,
    book_yes: BookSnapshot,
    book_no: BookSnapshot,
    params: TemporalArbConfig,
    fee_rate: float,
    min_order_size: float,
    held_cost_usdc: float,
) -> TemporalPlan | str:
    """Size a buy of the favourite (SPEC §4.2 buy_winner) or return a refusal reason.

    Edge = implied − (effective price + taker fee per share) for the size, must exceed
    ``min_edge_threshold``; the stake is fractional Kelly at that cost, capped at
    ``max_size_usdc − held_cost_usdc`` (what this market's favourite already cost us).
    """
    if implied_yes == 0.5:
        return "no_favourite"
    outcome = Outcome.YES if implied_yes > 0.5 else Outcome.NO
    probability = implied_yes if outcome is Outcome.YES else 1.0 - implied_yes
    book = book_yes if outcome is Outcome.YES else book_no
    ask = book.best_ask
    if ask is None:
        return "no_asks"
    best_cost = ask + taker_fee_per_share(ask, fee_rate)
    if probability - best_cost <= params.min_edge_threshold:
        return "edge_below_threshold"
    budget = min(params.max_size_usdc - held_cost_usdc,
                 kelly_stake_usdc(probability, best_cost, params.bankroll_usdc,
                                  params.kelly_fraction))
    shares = floor_shares(budget / best_cost) if budget > 0 else 0.0
    for _ in range(_MAX_SIZING_STEPS):
        if shares < min_order_size:
            return "below_min_size"
        quote = quote_buy(book, outcome, shares, fee_rate)
        if quote is None:
            shares = floor_shares(shares / 2.0)
            continue
        cost = quote.cost_per_share
        edge = probability - cost
        if edge <= params.min_edge_threshold:
            shares = floor_shares(shares / 2.0)
            continue
        allowed_usdc = min(params.max_size_usdc - held_cost_usdc,
                           kelly_stake_usdc(probability, cost, params.bankroll_usdc,
                                            params.kelly_fraction))
        allowed = floor_shares(allowed_usdc / cost)
        if shares > allowed:
            shares = allowed
            continue
        if quote.notional_usdc < MIN_NOTIONAL_USDC:
            return "below_min_notional"
        return TemporalPlan(quote, probability, edge, shares * cost)
    return "no_size_with_edge"
