"""The world core is pure and deterministic; feeds show outages and disagreements."""

from __future__ import annotations

import pytest

from sim.agents.fair_value import (
    cs2_map_probability,
    dota2_map_probability,
    live_series_probability,
    lol_map_probability,
    round_prob_from_map_prob,
    series_win_probability,
    valorant_map_probability,
)
from sim.agents.market_maker import QuotePlan
from sim.agents.takers import TakerOrder
from sim.feeds.context import FeedContext
from sim.feeds.schedule import MESSAGE, OUTAGE_END, OUTAGE_START, FeedMessage
from sim.feeds.truth import MatchTimeline
from sim.scenario import load_scenario
from sim.world import FairValueChange, ResolveAction, WorldCore, action_record


def _records(name: str, seed: int | None = None, chunks: int = 1) -> list[tuple[object, ...]]:
    scenario = load_scenario(name)
    core = WorldCore(scenario, seed=seed, speed=10.0, epoch_ms=1_750_000_000_000)
    actions = []
    for k in range(1, chunks + 1):
        actions += core.advance(scenario.duration_s * k / chunks)
    actions += core.run_all()
    return [action_record(a) for a in actions]


def test_same_scenario_and_seed_give_identical_action_streams() -> None:
    first = _records("demo_short", seed=5)
    second = _records("demo_short", seed=5)
    assert first == second
    kinds = {r[0] for r in first}
    assert kinds == {"feed", "quotes", "taker", "resolve", "fair"}


def test_action_stream_does_not_depend_on_how_often_the_shell_advances() -> None:
    assert _records("cs2_bo3_outage_disagreement", chunks=1) == _records(
        "cs2_bo3_outage_disagreement", chunks=37)


def test_another_seed_changes_agents_and_jitter_but_not_the_truth() -> None:
    first, other = _records("demo_short", seed=5), _records("demo_short", seed=6)
    assert first != other
    assert [r for r in first if r[0] == "fair"] == [r for r in other if r[0] == "fair"]
    assert [r for r in first if r[0] == "resolve"] == [r for r in other if r[0] == "resolve"]


def test_every_market_resolves_to_its_series_winner_after_the_delay() -> None:
    scenario = load_scenario("lol_bo3_comeback")
    actions = WorldCore(scenario).run_all()
    resolves = [a for a in actions if isinstance(a, ResolveAction)]
    market = scenario.markets[0]
    match = scenario.matches[0]
    assert resolves == [ResolveAction(match.end_s + scenario.resolution_delay_s,
                                      market.condition_id, market.token_ids[1])]
    fairs = [a.fair_a for a in actions if isinstance(a, FairValueChange)]
    assert fairs[0] > 0.6 and max(fairs) > 0.85 and fairs[-1] == 0.0  # the comeback


def test_grid_error_outage_holds_messages_until_it_ends() -> None:
    scenario = load_scenario("cs2_bo3_outage_disagreement")
    actions = WorldCore(scenario).run_all()
    grid = [a for a in actions if isinstance(a, FeedMessage) and a.provider == "grid"]
    controls = [(a.kind, a.payload["mode"]) for a in grid if a.kind != MESSAGE]
    assert controls == [(OUTAGE_START, "error"), (OUTAGE_END, "error")]
    published = [a.t_s for a in grid if a.kind == MESSAGE]
    assert not any(50 <= t < 58 for t in published)
    assert published.count(58.0) >= 3  # the backlog is flushed when the outage ends
    sequences = [a.sequence for a in grid if a.kind == MESSAGE]
    assert sequences == list(range(1, len(sequences) + 1))


def test_polymarket_sports_silent_outage_drops_messages() -> None:
    scenario = load_scenario("cs2_bo3_outage_disagreement")
    actions = WorldCore(scenario).run_all()
    sports = [a.t_s for a in actions if isinstance(a, FeedMessage)
              and a.provider == "polymarket_sports" and a.kind == MESSAGE]
    assert sports and not any(40 <= t < 50 for t in sports)


def test_disagreeing_provider_reports_another_map_winner_and_an_early_end() -> None:
    scenario = load_scenario("cs2_bo3_outage_disagreement")
    match = scenario.matches[0]
    truth = MatchTimeline(match)
    pandascore = MatchTimeline.for_provider(match, "pandascore")
    grid = MatchTimeline.for_provider(match, "grid")
    assert truth.state_at(1e9).map_winners == ("A", "B", "A")
    assert grid.state_at(1e9).map_winners == ("A", "B", "A")
    assert pandascore.state_at(1e9).map_winners == ("A", "A")
    assert pandascore.events[-1].kind == "match_end" and pandascore.end_s == 39


def test_polled_provider_serves_state_delay_behind_and_freezes_in_silent_outage() -> None:
    scenario = load_scenario("dota2_bo1_stomp")
    match = scenario.matches[0]
    ctx = FeedContext(scenario, speed=1.0, epoch_ms=0)
    view = ctx.polled("opendota", match, 30.0)  # cadence 6, delay 12, start 1
    assert view.match_t_s == pytest.approx(30 - 12 - 1)
    assert view.state.gold_diff == 11000
    assert ctx.polled("opendota", match, 31.0).match_t_s == view.match_t_s


def test_market_maker_plans_and_takers_appear_in_the_stream() -> None:
    actions = WorldCore(load_scenario("demo_short")).run_all()
    plans = [a for a in actions if isinstance(a, QuotePlan)]
    assert {p.reason for p in plans} >= {"initial", "refresh", "reprice", "match_end"}
    assert not any(p.reason == "mispricing" for p in plans)  # no pair mispricing on real rules
    assert any(isinstance(a, TakerOrder) for a in actions)
    pulled = [p for p in plans if p.reason == "match_end"]
    scenario = load_scenario("demo_short")
    makers = len(scenario.all_market_makers())
    assert makers == 2 and {p.owner for p in plans} == {"sim-market-maker", "sim-mm-fast"}
    assert len(pulled) == len(scenario.matches) * makers
    assert all(not p.quotes for p in pulled)


def test_series_formulas_match_the_reference_values() -> None:
    assert series_win_probability(2, 2, 0.6) == pytest.approx(0.648)
    assert series_win_probability(3, 3, 0.6) == pytest.approx(0.68256)
    assert series_win_probability(1, 2, 0.5) == pytest.approx(0.75)
    assert live_series_probability(1, 2, 0.30, 0.5) == pytest.approx(0.65)


@pytest.mark.parametrize(("a", "b", "p", "expected"), [
    (0, 0, 0.50, 0.500), (3, 0, 0.50, 0.738), (8, 4, 0.50, 0.867), (10, 6, 0.50, 0.910),
    (12, 10, 0.50, 0.875), (10, 12, 0.50, 0.125), (12, 12, 0.50, 0.500),
    (0, 0, 0.55, 0.706), (8, 4, 0.55, 0.937), (12, 12, 0.55, 0.634),
])
def test_cs2_round_markov_matches_the_reference_table(a: int, b: int, p: float,
                                                      expected: float) -> None:
    assert cs2_map_probability(a, b, p) == pytest.approx(expected, abs=1e-3)


def test_other_map_models_behave() -> None:
    assert valorant_map_probability(10, 6, 0.5) == pytest.approx(0.910, abs=1e-3)
    assert round_prob_from_map_prob(0.60) == pytest.approx(0.525, abs=2e-3)
    assert dota2_map_probability(0, 20) == pytest.approx(0.5)
    assert dota2_map_probability(5000, 20) > dota2_map_probability(5000, 40) > 0.5
    assert lol_map_probability(-3000, 15) < 0.5 < lol_map_probability(3000, 15)


def test_lolesports_window_pages_by_starting_time_and_event_details_list_games() -> None:
    from sim.feeds import lolesports

    scenario = load_scenario("lol_bo3_comeback")
    match = scenario.matches[0]
    ctx = FeedContext(scenario, speed=1.0, epoch_ms=0)
    first_game = match.provider_ids.lolesports_game_ids[0]
    assert lolesports.window(ctx, first_game, None, 5.0) is None  # HTTP 204: no frame yet
    window = lolesports.window(ctx, first_game, 10_000, 60.0)
    assert window is not None
    assert [f["rfc460Timestamp"] for f in window["frames"]] == [
        "1970-01-01T00:00:11.000Z", "1970-01-01T00:00:16.000Z"]
    last = lolesports.window(ctx, first_game, 990_000, 60.0)
    assert last is not None and last["frames"][-1]["gameState"] == "finished"
    details = lolesports.event_details(ctx, match.provider_ids.lolesports_match_id, 60.0)
    assert details is not None
    games = details["data"]["event"]["match"]["games"]
    assert [g["state"] for g in games] == ["completed", "inProgress", "unstarted"]
    assert [g["id"] for g in games] == list(match.provider_ids.lolesports_game_ids)


def test_liquipedia_filters_by_conditions_and_fills_results_late() -> None:
    from sim.feeds import liquipedia

    scenario = load_scenario("cs2_bo3_outage_disagreement")
    match = scenario.matches[0]
    ctx = FeedContext(scenario, speed=1.0, epoch_ms=0)
    page = match.provider_ids.liquipedia_page
    early = liquipedia.query(ctx, "counterstrike", f"[[pagename::{page}]]", 20.0)["result"]
    late = liquipedia.query(ctx, "counterstrike", f"[[pagename::{page}]]", 80.0)["result"]
    assert early[0]["match2games"][0]["winner"] == ""  # map 1 ended at 19 s, 8 s delay
    assert late[0]["finished"] == 1 and late[0]["winner"] == "1"
    assert [g["scores"] for g in late[0]["match2games"]] == [[13, 9], [10, 13], [13, 11]]
    assert liquipedia.query(ctx, "counterstrike", "[[pagename::Other]]", 80.0)["result"] == []
    assert liquipedia.query(ctx, "dota2", "", 80.0)["result"] == []
