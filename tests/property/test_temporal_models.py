"""Temporal arbitrage: win-probability models and sizing properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyloly.config import TemporalArbConfig
from polyloly.domain import Game, TruthStatus
from shards.temporal_arb import (
    LatencyTracker,
    TemporalPlan,
    implied_probability_yes,
    kelly_stake_usdc,
    plan_temporal,
)
from shards.truth import GameScore
from shards.win_probability import (
    cs2_map_probability,
    gold_lead_probability,
    live_series_probability,
    series_probability,
    valorant_map_probability,
)
from shm import BookSnapshot

probabilities = st.floats(0.0, 1.0)


@given(st.sampled_from([Game.LOL, Game.DOTA2]), st.floats(-30000, 30000),
       st.floats(0, 30000), st.floats(0, 4000))
def test_temporal_gold_model_is_monotone_and_bounded(game: Game, gold: float, extra: float,
                                                     time_s: float) -> None:
    low = gold_lead_probability(game, gold, time_s)
    high = gold_lead_probability(game, gold + extra, time_s)
    assert 0.0 <= low <= high <= 1.0
    assert gold_lead_probability(game, 0.0, time_s) == 0.5
    assert gold_lead_probability(game, -gold, time_s) == pytest.approx(1 - low, abs=1e-12)


@given(st.integers(0, 20), st.integers(0, 20), st.floats(0.05, 0.95))
def test_temporal_round_models_are_monotone_and_bounded(a: int, b: int, p: float) -> None:
    for model in (cs2_map_probability, valorant_map_probability):
        here = model(a, b, p)
        assert 0.0 <= here <= 1.0
        assert model(a + 1, b, p) >= here - 1e-12
        assert model(a, b + 1, p) <= here + 1e-12


def test_temporal_cs2_matches_the_reference_table() -> None:
    assert cs2_map_probability(0, 0, 0.5) == pytest.approx(0.5)
    assert cs2_map_probability(3, 0, 0.5) == pytest.approx(0.738, abs=1e-3)
    assert cs2_map_probability(8, 4, 0.5) == pytest.approx(0.867, abs=1e-3)
    assert cs2_map_probability(10, 6, 0.55) == pytest.approx(0.956, abs=1e-3)
    assert cs2_map_probability(12, 12, 0.55) == pytest.approx(0.634, abs=1e-3)
    assert valorant_map_probability(10, 6, 0.5) == pytest.approx(0.910, abs=1e-3)


@given(st.integers(1, 4), st.integers(1, 4), probabilities)
def test_temporal_series_is_symmetric_and_bounded(w: int, l: int, p: float) -> None:  # noqa: E741
    value = series_probability(w, l, p)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(1 - series_probability(l, w, 1 - p), abs=1e-9)


@given(probabilities)
def test_temporal_series_is_consistent_with_map_probability(p: float) -> None:
    assert series_probability(1, 1, p) == pytest.approx(p)  # Bo1 = p
    assert series_probability(2, 2, p) == pytest.approx(p * p * (3 - 2 * p))
    assert series_probability(3, 3, p) == pytest.approx(p**3 * (10 - 15 * p + 6 * p * p))
    for best_of in (1, 3, 5, 7):
        n = best_of // 2 + 1
        assert series_probability(n, n, 0.5) == pytest.approx(0.5)
        assert live_series_probability(best_of, 0, 0, None, p) == pytest.approx(
            series_probability(n, n, p))


@given(st.floats(0, 1), st.floats(0, 1), st.floats(0.05, 0.95))
def test_temporal_live_series_is_monotone_in_the_current_map(m1: float, m2: float,
                                                             p: float) -> None:
    low, high = sorted((m1, m2))
    assert live_series_probability(3, 1, 0, low, p) <= live_series_probability(
        3, 1, 0, high, p) + 1e-12


def test_temporal_live_series_reference_example() -> None:
    assert live_series_probability(3, 1, 0, 0.30, 0.5) == pytest.approx(0.65)
    assert live_series_probability(3, 2, 0, None, 0.5) == 1.0


def test_temporal_implied_probability_by_truth_state() -> None:
    params = TemporalArbConfig()
    score = GameScore()
    assert implied_probability_yes(TruthStatus.FINAL, 0.9, "A", score, Game.LOL, 3,
                                   params) == 0.99
    assert implied_probability_yes(TruthStatus.FINAL, 0.9, "B", score, Game.LOL, 3,
                                   params) == pytest.approx(0.01)
    assert implied_probability_yes(TruthStatus.PENDING_CONFIRM, 0.8, "A", score, Game.CS2, 3,
                                   params) == pytest.approx(0.93)
    assert implied_probability_yes(TruthStatus.PRE_MATCH, 0, None, score, Game.LOL, 3,
                                   params) is None
    assert implied_probability_yes(TruthStatus.PAUSED, 0, None, score, Game.LOL, 3,
                                   params) is None
    assert implied_probability_yes(TruthStatus.LIVE, 0, None, score, Game.LOL, 3,
                                   params) == pytest.approx(0.5)


def test_temporal_latency_tracker_window_includes_the_matching_delay() -> None:
    tracker = LatencyTracker(100, 3)
    assert tracker.reaction_window_ms is None  # no default window: no edge before 3 samples
    assert not tracker.is_edge_available(0, 0, 0.7)
    for _ in range(3):
        tracker.record(8000)
    assert tracker.is_edge_available(4999, 3000, 0.7)
    assert not tracker.is_edge_available(5000, 3000, 0.7)  # 5000 + 3000 reaches 8000
    assert not tracker.is_edge_available(5600, 0, 0.7)  # 70% buffer
    tracker = LatencyTracker(100, 2)
    tracker.record(2000)
    tracker.record(4000)
    assert tracker.reaction_window_ms == 3000
    assert not tracker.is_edge_available(100, 3000, 0.7)  # market reacts before we match


def book(levels: list[tuple[float, float]]) -> BookSnapshot:
    return BookSnapshot(
        slot=0, token_id="1", seq=1, t_recv_ns=0, exchange_ts_ms=0, tick_size=0.001,
        best_bid=None, best_ask=levels[0][0] if levels else None, flags=0, book_hash="",
        bid_prices=(), bid_sizes=(), ask_prices=tuple(p for p, _ in levels),
        ask_sizes=tuple(s for _, s in levels), bid_levels_total=0, ask_levels_total=len(levels))


@st.composite
def levels(draw: st.DrawFn) -> list[tuple[float, float]]:
    ticks = draw(st.lists(st.integers(10, 990), min_size=1, max_size=5, unique=True))
    sizes = draw(st.lists(st.floats(1, 3000), min_size=len(ticks), max_size=len(ticks)))
    return sorted(zip((t / 1000 for t in ticks), sizes, strict=True))


@settings(max_examples=300, deadline=None)
@given(st.floats(0.01, 0.99), levels(), levels(), st.floats(0, 150),
       st.floats(0.01, 0.2), st.floats(0.05, 1.0))
def test_temporal_plan_has_edge_and_respects_kelly_and_size_caps(
    implied: float, yes: list[tuple[float, float]], no: list[tuple[float, float]],
    held: float, threshold: float, kelly: float,
) -> None:
    params = TemporalArbConfig(min_edge_threshold=threshold, kelly_fraction=kelly)
    plan = plan_temporal(implied, book(yes), book(no), params, 0.03, 5.0, held)
    if not isinstance(plan, TemporalPlan):
        return
    p = implied if plan.outcome.value == "YES" else 1 - implied
    assert p > 0.5
    cost = plan.quote.cost_per_share
    assert plan.edge == pytest.approx(p - cost) and plan.edge > threshold
    assert plan.stake_usdc <= params.max_size_usdc - held + 1e-6
    assert plan.stake_usdc <= kelly_stake_usdc(p, cost, params.bankroll_usdc, kelly) + 1e-6
    assert plan.quote.shares >= 5.0


@given(st.floats(0, 1), st.floats(0.001, 0.999))
def test_temporal_kelly_is_zero_without_edge(p: float, c: float) -> None:
    stake = kelly_stake_usdc(p, c, 1000, 0.25)
    assert stake >= 0.0
    if p <= c:
        assert stake == 0.0
