"""Properties of the market-anchored models (specs/06 "Market-anchored fair value")."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyloly.domain import Game
from shards.fair_value import map_probability, series_value, strength_for
from shards.truth import GameScore
from shards.win_probability import gold_evidence_logit, gold_lead_probability, logit

gold_games = st.sampled_from([Game.LOL, Game.DOTA2])
round_games = st.sampled_from([Game.CS2, Game.VALORANT])
strengths = st.floats(-3.0, 3.0)
leads = st.floats(-20000, 20000)
times = st.floats(0, 3600)


@given(gold_games, leads, st.floats(1, 20000), times, strengths)
def test_win_probability_monotone_in_gold_lead_at_any_prior(
        game: Game, gold: float, extra: float, time_s: float, strength: float) -> None:
    low = gold_lead_probability(game, gold, time_s, strength)
    high = gold_lead_probability(game, gold + extra, time_s, strength)
    assert 0.0 <= low <= high <= 1.0
    if abs(strength + gold_evidence_logit(game, gold, time_s)) < 30:  # not saturated in floats
        assert 0.0 < low < 1.0


@given(round_games, st.integers(0, 14), st.integers(0, 14), st.floats(-2.0, 2.0))
def test_win_probability_monotone_in_round_lead_and_bounded(
        game: Game, a: int, b: int, strength: float) -> None:
    here = map_probability(game, GameScore(game_number=1, rounds_a=a, rounds_b=b), strength)
    up = map_probability(game, GameScore(game_number=1, rounds_a=a + 1, rounds_b=b), strength)
    assert here is not None and up is not None
    assert 0.0 <= here <= up + 1e-12 <= 1.0 + 1e-12


@given(gold_games, leads, leads, times, strengths)
def test_win_probability_evidence_adds_in_log_odds(
        game: Game, g1: float, g2: float, time_s: float, strength: float) -> None:
    both = gold_evidence_logit(game, g1 + g2, time_s)
    assert both == pytest.approx(gold_evidence_logit(game, g1, time_s)
                                 + gold_evidence_logit(game, g2, time_s), abs=1e-9)
    p = gold_lead_probability(game, g1, time_s, strength)
    if 1e-6 < p < 1 - 1e-6:
        assert logit(p) == pytest.approx(strength + gold_evidence_logit(game, g1, time_s),
                                         abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(list(Game)), st.sampled_from([1, 3, 5]), st.integers(0, 2),
       st.integers(0, 2), st.floats(0.05, 0.95))
def test_win_probability_prior_preserved_with_zero_evidence(
        game: Game, best_of: int, maps_a: int, maps_b: int, mid: float) -> None:
    to_win = best_of // 2 + 1
    if maps_a >= to_win or maps_b >= to_win:
        return
    score = GameScore(maps_a=maps_a, maps_b=maps_b, game_number=maps_a + maps_b + 1)
    strength = strength_for(game, best_of, score, mid)
    assert strength is not None
    reached = series_value(game, best_of, score, strength)
    if 1e-3 < reached < 1 - 1e-3:  # within the searched bound the mid comes back exactly
        assert reached == pytest.approx(mid, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(list(Game)), st.floats(-3, 3), st.floats(0, 3), st.integers(0, 1),
       st.integers(0, 1))
def test_win_probability_series_value_is_bounded_and_monotone_in_strength(
        game: Game, strength: float, extra: float, maps_a: int, maps_b: int) -> None:
    score = GameScore(maps_a=maps_a, maps_b=maps_b, game_number=maps_a + maps_b + 1,
                      gold_diff_a=1500.0, game_time_s=900.0, rounds_a=5, rounds_b=7)
    low = series_value(game, 3, score, strength)
    high = series_value(game, 3, score, strength + extra)
    assert 0.0 <= low <= high + 1e-12
    assert high <= 1.0
