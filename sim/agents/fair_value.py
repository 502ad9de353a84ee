"""Win-probability models used by the simulated market-maker (ESPORTS §6).

Pure functions, no state. Probabilities are for team A (outcome 0). The shards have their own
implementation on the other side of the venue boundary; the simulator is "the world" and keeps
its own copy on purpose.
"""

from __future__ import annotations

import math
from functools import lru_cache


def logistic(x: float) -> float:
    """Return 1 / (1 + e^-x), safe for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def logit(p: float) -> float:
    """Return log(p / (1 - p)) with p clamped away from 0 and 1."""
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1.0 - p))


def series_win_probability(wins_needed_a: int, wins_needed_b: int, map_prob: float) -> float:
    """Return S(w, l; p): A needs ``wins_needed_a`` more maps, B ``wins_needed_b`` (§6.1)."""
    if wins_needed_a <= 0:
        return 1.0
    if wins_needed_b <= 0:
        return 0.0
    p, q = map_prob, 1.0 - map_prob
    return sum(
        math.comb(wins_needed_a - 1 + k, k) * p**wins_needed_a * q**k
        for k in range(wins_needed_b)
    )


def live_series_probability(wins_needed_a: int, wins_needed_b: int, current_map_prob: float,
                            future_map_prob: float) -> float:
    """Return P(series) with the current map in progress at probability m (§6.1, §6.6)."""
    m = current_map_prob
    return (m * series_win_probability(wins_needed_a - 1, wins_needed_b, future_map_prob)
            + (1.0 - m) * series_win_probability(wins_needed_a, wins_needed_b - 1,
                                                 future_map_prob))


@lru_cache(maxsize=4096)
def _cs2_overtime(p: float) -> float:
    q = 1.0 - p
    win = sum(math.comb(3 + k, k) * p**4 * q**k for k in range(3))
    loss = sum(math.comb(3 + k, k) * q**4 * p**k for k in range(3))
    return win / (win + loss)


@lru_cache(maxsize=65536)
def cs2_map_probability(rounds_a: int, rounds_b: int, round_prob: float) -> float:
    """Return P(A wins the CS2 map) from the round score, MR12 + MR3 overtime (§6.2)."""
    if rounds_a >= 12 and rounds_b >= 12:
        # Overtime: reduce to the position inside the current first-to-4-of-6 block.
        extra_a, extra_b = rounds_a - 12, rounds_b - 12
        while extra_a >= 3 and extra_b >= 3:
            extra_a, extra_b = extra_a - 3, extra_b - 3
        return _overtime_block(extra_a, extra_b, round_prob)
    if rounds_a >= 13:
        return 1.0
    if rounds_b >= 13:
        return 0.0
    return (round_prob * cs2_map_probability(rounds_a + 1, rounds_b, round_prob)
            + (1.0 - round_prob) * cs2_map_probability(rounds_a, rounds_b + 1, round_prob))


def _overtime_block(a: int, b: int, p: float) -> float:
    if a >= 4:
        return 1.0
    if b >= 4:
        return 0.0
    if a == 3 and b == 3:
        return _cs2_overtime(p)
    return p * _overtime_block(a + 1, b, p) + (1.0 - p) * _overtime_block(a, b + 1, p)


@lru_cache(maxsize=65536)
def valorant_map_probability(rounds_a: int, rounds_b: int, round_prob: float) -> float:
    """Return P(A wins the Valorant map): first to 13, win by 2 from 12-12 (§6.3)."""
    p, q = round_prob, 1.0 - round_prob
    if rounds_a >= 12 and rounds_b >= 12:
        lead = rounds_a - rounds_b
        if lead >= 2:
            return 1.0
        if lead <= -2:
            return 0.0
        deuce = p * p / (p * p + q * q)
        if lead == 0:
            return deuce
        return p + q * deuce if lead == 1 else p * deuce
    if rounds_a >= 13:
        return 1.0
    if rounds_b >= 13:
        return 0.0
    return (p * valorant_map_probability(rounds_a + 1, rounds_b, p)
            + q * valorant_map_probability(rounds_a, rounds_b + 1, p))


def round_prob_from_map_prob(map_prob: float, game: str = "cs2") -> float:
    """Solve P(0,0; p) = ``map_prob`` for the constant round-win probability p (bisection)."""
    model = cs2_map_probability if game == "cs2" else valorant_map_probability
    low, high = 0.01, 0.99
    for _ in range(40):
        mid = (low + high) / 2
        if model(0, 0, round(mid, 6)) < map_prob:
            low = mid
        else:
            high = mid
    return round((low + high) / 2, 6)


def dota2_map_probability(gold_lead: float, game_minutes: float, prior_map_prob: float = 0.5
                          ) -> float:
    """Return P(radiant/team A wins) from the net-worth lead (pooled fit, §6.4).

    ``logit P = 0.215 + 0.427 · (G/1000) / (t/10)^0.70``; the fitted intercept (radiant base
    rate) is replaced by the pre-match prior so that a 0.5 prior and no lead give 0.5.
    """
    t = max(game_minutes, 1.0)
    return logistic(logit(prior_map_prob) + 0.427 * (gold_lead / 1000.0) / (t / 10.0) ** 0.70)


def lol_map_probability(gold_lead: float, game_minutes: float, prior_map_prob: float = 0.5
                        ) -> float:
    """Return P(blue/team A wins) from the gold difference (pooled fit, §6.5).

    ``logit P = 0.241 + 0.615 · (G/1000) / (t/10)^0.60``, intercept replaced by the prior.
    """
    t = max(game_minutes, 1.0)
    return logistic(logit(prior_map_prob) + 0.615 * (gold_lead / 1000.0) / (t / 10.0) ** 0.60)


def map_probability(game: str, *, prior_map_prob: float, gold_lead: float = 0.0,
                    game_minutes: float = 0.0, rounds_a: int = 0, rounds_b: int = 0) -> float:
    """Return P(A wins the current map) with the model for ``game``."""
    if game == "lol":
        return lol_map_probability(gold_lead, game_minutes, prior_map_prob)
    if game == "dota2":
        return dota2_map_probability(gold_lead, game_minutes, prior_map_prob)
    round_prob = round_prob_from_map_prob(prior_map_prob, game)
    if game == "cs2":
        return cs2_map_probability(rounds_a, rounds_b, round_prob)
    return valorant_map_probability(rounds_a, rounds_b, round_prob)
