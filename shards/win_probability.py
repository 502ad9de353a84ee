"""In-game win-probability models (docs/ESPORTS.md §6, docs/MODELS.md), all for team A (= YES).

Pure math, no state. Every function returns a probability in [0, 1], monotone in team A's
advantage. The gold-lead models are split into a prior (an intercept in log-odds) and the
evidence (gold lead × game time), so the shards can put the market's own price in place of the
intercept (shards/fair_value.py). See specs/06_TEMPORAL_ARB_SPEC.md for the formulas.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from polyloly.domain import Game


@dataclass(frozen=True, slots=True)
class GoldModel:
    """``logit P(A wins the map) = intercept + coefficient · (G/1000) / (t_min/10)^exponent``.

    ``intercept`` is the side advantage of the dataset's team A (blue / radiant): the payloads
    name teams, not sides, so at run time the market prior takes its place (fair_value.py).
    """

    intercept: float
    coefficient: float
    time_exponent: float
    dataset: str  # tests/fixtures/esports/backtest_datasets/<file> it was fitted on
    dataset_sha256: str  # first 16 hex digits of that file's sha256
    matches: int
    samples: int


MIN_MODEL_MINUTES: Final = 3.0  # the fits start at minute 3; earlier times are clamped
DATASET_COMMIT: Final = "1f9d0593f734a41a58ac8e62a8170e86c12a79bc"  # tests/fixtures/SOURCES.md
# BEGIN fitted gold models: written by `polyloly calibrate` (ops/calibrate.py), do not edit
GOLD_MODELS: Final[Mapping[Game, GoldModel]] = {
    Game.LOL: GoldModel(
        0.2411, 0.6147, 0.55, "lol_gold_timeseries.jsonl",
        "37ebad2c1628d2bc", 495, 12398),
    Game.DOTA2: GoldModel(
        0.2167, 0.4373, 0.70, "dota2_gold_timeseries.jsonl",
        "1b6790e4b10631b8", 434, 13610),
}
# END fitted gold models
CS2_ROUNDS_TO_WIN: Final = 13  # MR12
CS2_OVERTIME_ROUNDS_TO_WIN: Final = 4  # MR3 blocks: first to 4 of 6, a new block at 3-3
VALORANT_ROUNDS_TO_WIN: Final = 13
_LOGIT_BOUND: Final = 1e-9


def logit(p: float) -> float:
    """log(p / (1 − p)), with p clamped 1e-9 away from 0 and 1."""
    p = min(max(p, _LOGIT_BOUND), 1.0 - _LOGIT_BOUND)
    return math.log(p / (1.0 - p))


def _logistic(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def logistic(x: float) -> float:
    """1 / (1 + e^−x), safe for large |x|."""
    return _logistic(x)


def gold_model(game: Game) -> GoldModel:
    """The fitted gold-lead model of ``game`` (LoL or Dota 2); ValueError for another game."""
    model = GOLD_MODELS.get(game)
    if model is None:
        raise ValueError(f"game {game.value!r} has no gold-lead model")
    return model


def gold_evidence_logit(game: Game, gold_diff_a: float, game_time_s: float) -> float:
    """The gold lead's effect in log-odds, ``coefficient · (G/1000) / (t_min/10)^exponent``.

    Linear in the lead (so evidence adds in log-odds), zero at G = 0, shrinking with time.
    """
    model = gold_model(game)
    minutes = max(MIN_MODEL_MINUTES, game_time_s / 60.0)
    scale: float = (minutes / 10.0) ** model.time_exponent
    return model.coefficient * (gold_diff_a / 1000.0) / scale


def gold_lead_probability(
    game: Game, gold_diff_a: float, game_time_s: float, prior_logit: float = 0.0
) -> float:
    """Map-win probability of team A: ``logistic(prior_logit + evidence)``.

    ``prior_logit`` replaces the fitted side intercept: 0 (a coin flip) when nothing is known,
    the market's prior per map in log-odds in the shards (fair_value.py).
    """
    return _logistic(prior_logit + gold_evidence_logit(game, gold_diff_a, game_time_s))


@lru_cache(maxsize=65536)  # a market prior gives each match its own p
def _first_to(target: int, a: int, b: int, p: float, tie_value: float) -> float:
    # P(A reaches `target` first) from a-b; at (target-1, target-1) the value is `tie_value`.
    if a >= target:
        return 1.0
    if b >= target:
        return 0.0
    if a == target - 1 and b == target - 1:
        return tie_value
    return p * _first_to(target, a + 1, b, p, tie_value) + (1.0 - p) * _first_to(
        target, a, b + 1, p, tie_value)


def _cs2_overtime(p: float) -> float:
    q = 1.0 - p
    win = sum(math.comb(3 + k, k) * p**4 * q**k for k in range(3))
    loss = sum(math.comb(3 + k, k) * q**4 * p**k for k in range(3))
    return win / (win + loss)


def cs2_map_probability(rounds_a: int, rounds_b: int, p: float = 0.5) -> float:
    """CS2 map-win probability of team A from the round score (MR12 + MR3 overtime Markov)."""
    _check_rounds(rounds_a, rounds_b, p)
    last = CS2_ROUNDS_TO_WIN - 1
    overtime = _cs2_overtime(p)
    if rounds_a >= last and rounds_b >= last:  # overtime: blocks of first-to-4, 3-3 restarts
        x, y = rounds_a - last, rounds_b - last
        while x >= 3 and y >= 3:
            x, y = x - 3, y - 3
        return _first_to(CS2_OVERTIME_ROUNDS_TO_WIN, x, y, p, overtime)
    return _first_to(CS2_ROUNDS_TO_WIN, rounds_a, rounds_b, p, overtime)


def valorant_map_probability(rounds_a: int, rounds_b: int, p: float = 0.5) -> float:
    """Valorant map-win probability of team A (first to 13, win by 2 from 12-12)."""
    _check_rounds(rounds_a, rounds_b, p)
    q = 1.0 - p
    deuce = p * p / (p * p + q * q)
    last = VALORANT_ROUNDS_TO_WIN - 1
    if rounds_a >= last and rounds_b >= last:
        lead = rounds_a - rounds_b
        if lead >= 2:
            return 1.0
        if lead <= -2:
            return 0.0
        return {0: deuce, 1: p + q * deuce, -1: p * deuce}[lead]
    return _first_to(VALORANT_ROUNDS_TO_WIN, rounds_a, rounds_b, p, deuce)


def _check_rounds(rounds_a: int, rounds_b: int, p: float) -> None:
    if rounds_a < 0 or rounds_b < 0:
        raise ValueError(f"rounds must be >= 0, were {rounds_a}-{rounds_b}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"round-win probability must be in [0, 1], was {p!r}")


def series_probability(wins_needed_a: int, wins_needed_b: int, p: float) -> float:
    """S(w, l; p): team A wins the series needing ``w`` maps against ``l``, i.i.d. maps at p.

    S(0, ·) = 1, S(·, 0) = 0; Bo1 = p, Bo3 = p²(3 − 2p), Bo5 = p³(10 − 15p + 6p²).
    """
    if wins_needed_a <= 0:
        return 1.0
    if wins_needed_b <= 0:
        return 0.0
    q = 1.0 - p
    w, l = wins_needed_a, wins_needed_b  # noqa: E741 - the reference's notation
    total = sum(math.comb(w - 1 + k, k) * p**w * q**k for k in range(l))
    return min(1.0, max(0.0, total))


def live_series_probability(
    best_of: int, maps_a: int, maps_b: int, current_map: float | None, p_future: float
) -> float:
    """P(team A wins the series) with the current map at probability ``current_map``.

    ``P = m · S(w − 1, l) + (1 − m) · S(w, l − 1)`` (ESPORTS §6.1); with no map in progress
    (``current_map`` None) it is ``S(w, l; p_future)``.
    """
    to_win = best_of // 2 + 1
    w, l = to_win - maps_a, to_win - maps_b  # noqa: E741
    if w <= 0 or l <= 0:
        return 1.0 if w <= 0 else 0.0
    if current_map is None:
        return series_probability(w, l, p_future)
    m = current_map
    return (m * series_probability(w - 1, l, p_future)
            + (1.0 - m) * series_probability(w, l - 1, p_future))


def map_probability_from_round(game: Game, round_win_probability: float) -> float:
    """Team A's chance on a map not yet started (0-0) at a constant round-win probability."""
    if game is Game.CS2:
        return cs2_map_probability(0, 0, round_win_probability)
    if game is Game.VALORANT:
        return valorant_map_probability(0, 0, round_win_probability)
    raise ValueError(f"game {game.value!r} has no round model")
