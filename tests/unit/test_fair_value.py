"""Market-anchored fair value: the robust prior and the single-source map rule (specs/06)."""

from __future__ import annotations

import pytest

from polyloly.config import TemporalArbConfig
from polyloly.domain import Game, SourceTier, TruthStatus
from shards.fair_value import (
    MarketPrior,
    anchored_implied_yes,
    series_value,
    strength_for,
    unconfirmed_fallback,
    weighted_median,
)
from shards.truth import GameScore
from shards.truth_sources import SERIES, Fact, SourceView, in_map_key
from shards.win_probability import series_probability

S = 1_000_000_000
PARAMS = TemporalArbConfig()
LIVE_MAP1 = GameScore(game_number=1, gold_diff_a=0.0, game_time_s=600.0)


def prior(stable_s: float = 5.0) -> MarketPrior:
    return MarketPrior(Game.LOL, 3, stable_s)


def test_fair_value_pre_match_mid_anchors_at_once_and_gives_itself_back() -> None:
    market = prior()
    market.on_mid(0, 0.66, GameScore())
    anchor = market.anchor
    assert anchor is not None and anchor.mid == 0.66
    assert series_value(Game.LOL, 3, GameScore(), anchor.strength) == pytest.approx(0.66, abs=1e-9)
    # the same strength on a fresh map with no gold yet: the prior again
    implied = anchored_implied_yes(TruthStatus.LIVE, 0.0, None, GameScore(game_number=1),
                                   Game.LOL, 3, PARAMS, market.strength)
    assert implied == pytest.approx(0.66, abs=1e-9)


def test_fair_value_in_play_mid_counts_only_after_standing_prior_stable_s() -> None:
    market = prior(5.0)
    market.on_mid(0, 0.70, LIVE_MAP1)
    market.on_mid(4 * S, 0.705, LIVE_MAP1)
    assert market.anchor is None  # 4 s < 5 s
    market.on_mid(5 * S, 0.70, LIVE_MAP1)
    assert market.anchor is not None and market.anchor.mid == 0.70


def test_fair_value_a_mid_leaving_the_band_or_a_new_state_restarts_the_window() -> None:
    market = prior(5.0)
    market.on_mid(0, 0.70, LIVE_MAP1)
    market.on_mid(3 * S, 0.80, LIVE_MAP1)  # moved 10 pp: a new window from here
    market.on_mid(6 * S, 0.80, LIVE_MAP1)
    assert market.anchor is None
    market.on_mid(8 * S, 0.80, LIVE_MAP1)
    assert market.anchor is not None and market.anchor.since_ns == 3 * S
    other = GameScore(game_number=1, gold_diff_a=2000.0, game_time_s=900.0)
    market.on_mid(9 * S, 0.80, other)  # state changed: the old window closes at 9 s
    assert market.anchor is not None and market.anchor.score == LIVE_MAP1


def test_fair_value_fact_inside_an_anchor_window_cuts_it_back_before_the_fact() -> None:
    market = prior(5.0)
    market.on_mid(0, 0.70, LIVE_MAP1)
    market.on_mid(9 * S, 0.71, LIVE_MAP1)  # anchored over [0, 9 s]
    market.on_fact(6 * S)  # a fact that happened at 6 s, reported late
    anchor = market.anchor
    assert anchor is not None and anchor.t_ns == 6 * S and anchor.mid == 0.70
    market.on_fact(2 * S)  # before that: only 2 s stood before it, not enough
    assert market.anchor is None


def test_fair_value_pre_match_anchor_survives_the_first_fact() -> None:
    market = prior(5.0)
    market.on_mid(0, 0.62, GameScore())
    market.on_fact(1 * S)  # the match starts 1 s later: the pre-match window closes there
    assert market.anchor is not None and market.anchor.mid == 0.62
    market.on_mid(2 * S, 0.63, LIVE_MAP1)
    market.on_fact(int(2.5 * S))
    assert market.anchor is not None and market.anchor.mid == 0.62


def test_fair_value_weighted_median_ignores_a_short_spike() -> None:
    points = [(0, 0.60), (4 * S, 0.90), (int(4.2 * S), 0.61)]
    assert weighted_median(points, 10 * S) == pytest.approx(0.61)


def test_fair_value_prior_refuses_a_bad_stable_time_and_a_decided_series() -> None:
    with pytest.raises(ValueError, match="prior_stable_s"):
        MarketPrior(Game.LOL, 3, 0.0)
    assert strength_for(Game.LOL, 3, GameScore(maps_a=2), 0.9) is None


def _fact(name: str, value: object, source: str, t_ms: int) -> Fact:
    return Fact(name, value, source, SourceTier.B, t_ms, t_ms * 1_000_000, 0)  # type: ignore[arg-type]


def _view(source: str, *facts: Fact) -> SourceView:
    return SourceView(source, SourceTier.B, {f.name: f for f in facts})


def test_fair_value_single_source_map_end_never_sets_the_series_to_one() -> None:
    # One source says map 2 went to A (2-0, series over); the other still has 1-0 and the
    # map-2 gold it saw. The series-deciding score from one source counts at the PENDING weight
    # and stays within PENDING_CONFIRM's 0.85 at confidence 0.
    gold = _fact(in_map_key(2, "gold_diff_a"), -3000, "grid", 1000)
    clock = _fact(in_map_key(2, "game_time_s"), 1500.0, "grid", 1000)
    liar = _fact(SERIES, (2, 0), "pandascore", 2000)
    honest = _fact(SERIES, (1, 0), "grid", 900)
    views = [_view("pandascore", liar), _view("grid", honest, gold, clock)]
    facts = {SERIES: liar, gold.name: gold, clock.name: clock}
    fallback = unconfirmed_fallback(views, facts, required=2)
    assert fallback is not None
    assert (fallback.maps_a, fallback.maps_b, fallback.gold_diff_a) == (1, 0, -3000.0)
    score = GameScore(maps_a=2, maps_b=0, game_number=2)
    implied = anchored_implied_yes(TruthStatus.LIVE, 0.0, None, score, Game.LOL, 3, PARAMS,
                                   0.0, fallback)
    before = anchored_implied_yes(TruthStatus.LIVE, 0.0, None, fallback, Game.LOL, 3, PARAMS,
                                  0.0)
    assert implied is not None and before is not None
    assert before < implied <= 0.85
    # confirmed by a second source: the series is decided
    views[1] = _view("grid", _fact(SERIES, (2, 0), "grid", 2100))
    assert unconfirmed_fallback(views, facts, required=2) is None
    assert anchored_implied_yes(TruthStatus.LIVE, 0.0, None, score, Game.LOL, 3, PARAMS,
                                0.0, None) == 1.0


def test_fair_value_single_source_map_end_that_does_not_decide_is_weighted() -> None:
    one = _fact(SERIES, (1, 0), "pandascore", 2000)
    views = [_view("pandascore", one), _view("grid")]
    fallback = unconfirmed_fallback(views, {SERIES: one}, required=2)
    assert fallback == GameScore(maps_a=0, maps_b=0, game_number=1)
    implied = anchored_implied_yes(TruthStatus.LIVE, 0.0, None, GameScore(1, 0, 1), Game.LOL,
                                   3, PARAMS, 0.0, fallback)
    expected = 0.85 * series_probability(1, 2, 0.5) + 0.15 * 0.5
    assert implied == pytest.approx(expected)


def test_fair_value_final_and_pending_keep_the_spec_values() -> None:
    assert anchored_implied_yes(TruthStatus.FINAL, 1.0, "B", GameScore(), Game.CS2, 3, PARAMS,
                                2.0) == pytest.approx(0.01)
    assert anchored_implied_yes(TruthStatus.PENDING_CONFIRM, 0.8, "A", GameScore(), Game.CS2,
                                3, PARAMS, -2.0) == pytest.approx(0.93)
    assert anchored_implied_yes(TruthStatus.PAUSED, 0.0, None, GameScore(), Game.LOL, 3,
                                PARAMS, 0.5) is None
