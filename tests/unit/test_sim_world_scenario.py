"""Scenario files load into frozen dataclasses; bad files fail with the key path named."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.scenario import (
    ScenarioError,
    list_scenarios,
    load_scenario,
    parse_scenario,
)

MINIMAL: dict[str, Any] = {
    "name": "mini",
    "matches": [{"match_id": "m1", "game": "lol", "teams": ["A team", "B team"],
                 "timeline": [{"t": 0, "kind": "map_start"},
                              {"t": 10, "kind": "map_end", "team": "A"}]}],
}


def _with(path: str, value: Any) -> dict[str, Any]:
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    node = data
    keys = re.findall(r"[^.\[\]]+", path)
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
    last = keys[-1]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return data


def test_every_bundled_scenario_loads() -> None:
    names = list_scenarios()
    assert {"lol_bo3_comeback", "dota2_bo1_stomp", "cs2_bo3_outage_disagreement", "load_200",
            "demo_short"} <= set(names)
    for name in names:
        scenario = load_scenario(name)
        assert scenario.name == name
        assert scenario.markets and scenario.matches
        assert scenario.duration_s >= max(m.end_s for m in scenario.matches)


def test_minimal_scenario_gets_documented_defaults() -> None:
    scenario = parse_scenario(MINIMAL)
    assert scenario.seed == 0
    assert scenario.default_collateral_usdc == 10000.0
    assert scenario.matching_delay_s == 3.0
    market = scenario.markets[0]
    assert market.tick_size == 0.001 and market.min_order_size == 5.0
    assert market.taker_fee_rate == 0.03 and market.neg_risk is False
    assert market.outcomes == ("A team", "B team") and market.match_id == "m1"
    assert re.fullmatch(r"0x[0-9a-f]{64}", market.condition_id)
    assert all(re.fullmatch(r"[1-9][0-9]{76}", t) for t in market.token_ids)
    match = scenario.matches[0]
    assert match.timeline[-1].kind == "match_end" and match.winner == "A"
    assert match.provider("opendota").delay_s == 120.0
    assert dataclasses.is_dataclass(scenario)
    with pytest.raises(dataclasses.FrozenInstanceError):
        scenario.seed = 3  # type: ignore[misc]


def test_ids_are_deterministic_from_the_scenario_name() -> None:
    first, second = parse_scenario(MINIMAL), parse_scenario(MINIMAL)
    assert first.markets == second.markets
    renamed = parse_scenario({**MINIMAL, "name": "other"})
    assert renamed.markets[0].token_ids != first.markets[0].token_ids
    assert len({*first.markets[0].token_ids}) == 2


def test_load_200_lists_at_least_200_tokens() -> None:
    scenario = load_scenario("load_200")
    tokens = {t for m in scenario.markets for t in m.token_ids}
    assert len(scenario.markets) >= 100 and len(tokens) >= 200


def test_demo_short_mixes_games_on_real_venue_rules_with_a_maker_population() -> None:
    scenario = load_scenario("demo_short")
    assert {m.game for m in scenario.matches} == {"lol", "dota2", "cs2", "valorant"}
    assert 2 <= len(scenario.markets) <= 4
    assert scenario.complementary_matching and not scenario.market_maker.mispricings
    assert scenario.market_maker.reaction_range()[0] >= 4.0  # the slow maker
    assert scenario.market_makers[0].reaction_range()[1] < scenario.matching_delay_s  # fast
    assert scenario.informed_takers
    assert 60 <= scenario.duration_s <= 90


@pytest.mark.parametrize(("path", "value", "message"), [
    ("surprise", 1, "surprise: unknown key"),
    ("seed", "lots", "seed: expected an integer, was 'lots'"),
    ("matching_delay_s", -1, "matching_delay_s: expected a number >= 0.0"),
    ("matches.0.game", "chess", "matches[0].game: expected one of lol, dota2, cs2, valorant"),
    ("matches.0.teams", ["Only"], "matches[0].teams: expected two different team names"),
    ("matches.0.timeline.1.kind", "explode", "matches[0].timeline[1].kind: expected one of"),
    ("matches.0.timeline.1.team", "C", "matches[0].timeline[1].team: expected one of A, B"),
    ("matches.0.timeline.0.t", 20, "matches[0].timeline[1].t: events must be in time order"),
    ("matches.0.providers.grid.delay_s", "slow",
     "matches[0].providers.grid.delay_s: expected a number, was 'slow'"),
    ("matches.0.providers.bogus", {}, "matches[0].providers.bogus: unknown key"),
    ("providers.pandascore.outages", [{"start_s": 5, "end_s": 2}],
     "providers.pandascore.outages[0].end_s: expected a time after start_s"),
    ("market_maker.mispricings", [{"match_id": "nope", "at_s": 1}],
     "market_maker.mispricings[0].match_id: no such match, was 'nope'"),
    ("markets", [{"match_id": "m1", "condition_id": "0x12"}],
     "markets[0].condition_id: expected 0x + 64 lowercase hex"),
    ("takers.max_size", 1, "takers.max_size: expected >= min_size"),
])
def test_bad_keys_fail_with_the_key_path(path: str, value: Any, message: str) -> None:
    with pytest.raises(ScenarioError) as error:
        parse_scenario(_with(path, value))
    assert message in str(error.value)


def test_timeline_without_a_series_winner_is_refused() -> None:
    data = _with("matches.0.best_of", 3)
    with pytest.raises(ScenarioError, match=r"matches\[0\].timeline: no team reached 2 map wins"):
        parse_scenario(data)


def test_match_end_naming_the_wrong_winner_is_refused() -> None:
    data = _with("matches.0.timeline", [{"t": 0, "kind": "map_end", "team": "A"},
                                        {"t": 1, "kind": "match_end", "team": "B"}])
    with pytest.raises(ScenarioError, match=r"timeline\[1\].team: series winner"):
        parse_scenario(data)


def test_round_scores_must_agree_with_the_map_winner() -> None:
    data = _with("matches.0", {"match_id": "c", "game": "cs2", "teams": ["X", "Y"],
                               "timeline": [{"t": 0, "kind": "rounds", "winners": "BBA"},
                                            {"t": 9, "kind": "map_end", "team": "A"}]})
    with pytest.raises(ScenarioError, match="map winner must lead on rounds"):
        parse_scenario(data)


def test_repeat_expands_a_template_into_numbered_matches() -> None:
    data = _with("matches.0.repeat", 4)
    scenario = parse_scenario(data)
    assert [m.match_id for m in scenario.matches] == ["m1-001", "m1-002", "m1-003", "m1-004"]
    assert len({m.provider_ids.grid_series_id for m in scenario.matches}) == 4


def test_unknown_scenario_name_and_missing_path_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="not found; known scenarios"):
        load_scenario("no_such_scenario")
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("matches: [unclosed")
    with pytest.raises(ScenarioError, match="invalid YAML"):
        load_scenario(str(bad))
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(MINIMAL))
    assert load_scenario(str(path)).name == "mini"
