"""The venue's other market shapes (issue 16): map winner markets beside the series winner
(Gamma ``sportsMarketType`` ``child_moneyline``) and neg-risk multi-outcome events (one binary
market per outcome under one neg-risk id, Neg Risk adapter conversion, docs/VENUE.md §5).

A BO3 (A wins map 1, B maps 2 and 3) and a BO1 (C beats D), both linked to a 4-team event that
B wins; map winner markets for maps 1-3 of the BO3."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sim.ground_truth import from_history, from_scenario, to_json
from sim.scenario import MAP_WINNER, MONEYLINE, Scenario, ScenarioError, parse_scenario
from sim.venue.clock import ManualClock
from sim.venue.core import Venue
from sim.venue.models import MICRO, VenueError
from sim.world import FairValueChange, ResolveAction, WorldCore

BO3: dict[str, Any] = {
    "match_id": "bo3", "game": "lol", "teams": ["Alpha", "Bravo"], "best_of": 3, "start_s": 1,
    "prior": 0.6, "game_clock_scale": 72,
    "timeline": [
        {"t": 0, "kind": "map_start"}, {"t": 4, "kind": "kill", "team": "A"},
        {"t": 10, "kind": "map_end", "team": "A"},
        {"t": 12, "kind": "map_start"}, {"t": 16, "kind": "gold", "gold_diff": -3000},
        {"t": 20, "kind": "map_end", "team": "B"},
        {"t": 22, "kind": "map_start"}, {"t": 30, "kind": "map_end", "team": "B"},
    ],
}
BO1: dict[str, Any] = {
    "match_id": "bo1", "game": "cs2", "teams": ["Charlie", "Delta"], "best_of": 1,
    "start_s": 2,
    "timeline": [{"t": 0, "kind": "map_start"}, {"t": 9, "kind": "map_end", "team": "A"}],
}
EVENT: dict[str, Any] = {
    "event_id": "cup", "title": "the Sim Cup", "outcomes": ["Alpha", "Bravo", "Charlie", "Delta"],
    "priors": [0.4, 0.3, 0.2, 0.1], "winner": "Bravo", "resolve_s": 40, "matches": ["bo3", "bo1"],
}


def _data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "shapes", "seed": 4, "resolution_delay_s": 2, "duration_s": 50,
        "matches": [copy.deepcopy(BO3), copy.deepcopy(BO1)],
        "markets": [{"match_id": "bo3"}, {"match_id": "bo3", "map": 1},
                    {"match_id": "bo3", "map": 2}, {"match_id": "bo3", "map": 3},
                    {"match_id": "bo1"}],
        "neg_risk_events": [copy.deepcopy(EVENT)],
        "takers": {"enabled": False},
    }
    data.update(changes)
    return data


def _scenario(**changes: Any) -> Scenario:
    return parse_scenario(_data(**changes))


def _by_title(scenario: Scenario) -> dict[str, Any]:
    return {(m.group_item_title if m.event_id or m.map_number else m.match_id): m
            for m in scenario.markets}


def test_map_and_event_markets_load_with_gamma_labels() -> None:
    scenario = _scenario()
    markets = _by_title(scenario)
    assert markets["bo3"].market_type == MONEYLINE and markets["bo3"].map_number == 0
    assert markets["Map 2 Winner"].market_type == MAP_WINNER
    assert markets["Map 2 Winner"].question == "LoL: Alpha vs Bravo (BO3) - Map 2 Winner"
    event_markets = [m for m in scenario.markets if m.event_id == "cup"]
    assert [m.group_item_title for m in event_markets] == EVENT["outcomes"]
    assert all(m.neg_risk and m.outcomes == ("Yes", "No") for m in event_markets)
    assert len({m.neg_risk_market_id for m in event_markets}) == 1
    assert event_markets[1].question == "Will Bravo win the Sim Cup?"


def test_a_map_winner_market_resolves_with_its_map() -> None:
    scenario = _scenario()
    core = WorldCore(scenario, epoch_ms=0)
    core.run_all()
    resolved = {a.condition_id: a for a in core.history if isinstance(a, ResolveAction)}
    markets = _by_title(scenario)
    delay = scenario.resolution_delay_s
    m1, m2, series = markets["Map 1 Winner"], markets["Map 2 Winner"], markets["bo3"]
    # map 1 (A) ends at 1 + 10, map 2 (B) at 1 + 20, the series (B) at 1 + 30
    assert (resolved[m1.condition_id].t_s, resolved[m1.condition_id].winning_token_id) == (
        11 + delay, m1.token_ids[0])
    assert (resolved[m2.condition_id].t_s, resolved[m2.condition_id].winning_token_id) == (
        21 + delay, m2.token_ids[1])
    assert (resolved[series.condition_id].t_s,
            resolved[series.condition_id].winning_token_id) == (31 + delay, series.token_ids[1])
    # the truth of the map market: the prior, then the map model while map 2 is live, then 0
    truth = from_scenario(scenario)
    line = truth.fair[m2.condition_id]
    assert line.at(0.0) == pytest.approx(0.6)
    assert 0.0 < line.at(18.0) < 0.6  # map 2 live, B 3k gold ahead
    assert line.at(21.0) == 0.0 and truth.fair[m1.condition_id].at(11.0) == 1.0


def test_an_unplayed_map_resolves_50_50_at_the_series_end() -> None:
    bo3 = copy.deepcopy(BO3)
    bo3["timeline"] = [*BO3["timeline"][:3], {"t": 12, "kind": "map_start"},
                       {"t": 20, "kind": "map_end", "team": "A"}]  # 2-0: no map 3
    scenario = _scenario(matches=[bo3, copy.deepcopy(BO1)], neg_risk_events=[])
    core = WorldCore(scenario, epoch_ms=0)
    core.run_all()
    map3 = _by_title(scenario)["Map 3 Winner"]
    (action,) = [a for a in core.history
                 if isinstance(a, ResolveAction) and a.condition_id == map3.condition_id]
    assert (action.t_s, action.winning_token_id) == (21 + scenario.resolution_delay_s, None)
    assert from_scenario(scenario).fair[map3.condition_id].at(22.0) == 0.5


def test_event_fair_values_renormalise_on_eliminations_and_resolve_to_the_winner() -> None:
    scenario = _scenario()
    truth = from_scenario(scenario)
    cids = {m.group_item_title: m.condition_id for m in scenario.markets if m.event_id}
    at = {name: truth.fair[cid] for name, cid in cids.items()}
    assert [at[n].at(0.0) for n in EVENT["outcomes"]] == pytest.approx([0.4, 0.3, 0.2, 0.1])
    # the BO1 ends at 11: Delta out → 0.4/0.9, 0.3/0.9, 0.2/0.9, 0
    assert at["Delta"].at(12.0) == 0.0
    assert at["Alpha"].at(12.0) == pytest.approx(0.4 / 0.9)
    # the BO3 ends at 31: Alpha out → Bravo 0.6, Charlie 0.4
    assert [at[n].at(32.0) for n in EVENT["outcomes"]] == pytest.approx([0, 0.6, 0.4, 0])
    assert sum(at[n].at(32.0) for n in EVENT["outcomes"]) == pytest.approx(1.0)
    assert [at[n].at(41.0) for n in EVENT["outcomes"]] == [0.0, 1.0, 0.0, 0.0]
    resolved = {cid: (t, w) for cid, (t, w) in truth.resolutions.items()}
    bravo = next(m for m in scenario.markets if m.group_item_title == "Bravo")
    alpha = next(m for m in scenario.markets if m.group_item_title == "Alpha")
    assert resolved[bravo.condition_id] == (42.0, bravo.token_ids[0])  # Yes
    assert resolved[alpha.condition_id] == (42.0, alpha.token_ids[1])  # No
    # makers quote every outcome market and pull them at the event's end
    plans = {(a.owner, a.condition_id) for a in WorldCore(scenario, epoch_ms=0).run_all()
             if not isinstance(a, FairValueChange) and hasattr(a, "quotes")}
    assert all(("sim-market-maker", cid) in plans for cid in cids.values())


def test_complete_set_edge_on_a_hand_built_book() -> None:
    """Yes asks 0.30 + 0.25 + 0.20 + 0.15 = 0.90 for 10 s (≥ the 3 s hold), 50 shares each at
    the smallest: 50 × (1 − 0.90) = 5 USDC; an ask sum of 1.02 afterwards earns nothing."""
    from sim.agents.market_maker import Quote, QuotePlan

    scenario = _scenario()
    event_markets = [m for m in scenario.markets if m.event_id]
    history: list[Any] = []
    for market, price, size in zip(event_markets, (0.30, 0.25, 0.20, 0.15), (50, 80, 60, 90),
                                   strict=True):
        yes, no = market.token_ids
        history.append(QuotePlan(0.0, market.condition_id, (yes, no),
                                 (Quote(yes, "SELL", price, float(size)),), "initial", 0.5, "mm"))
    first = event_markets[0]
    history.append(QuotePlan(10.0, first.condition_id, first.token_ids,
                             (Quote(first.token_ids[1], "BUY", 1 - 0.42, 50.0),),  # mint: 0.42
                             "reprice", 0.5, "mm"))
    truth = from_history(scenario, history, seed=1, end_s=30.0)
    assert truth.available_edge["complete_set"] == pytest.approx(5.0)
    (row,) = [o for o in truth.opportunities if o.kind == "complete_set"]
    assert (row.send_s, row.price, row.size) == (0.0, pytest.approx(0.90), 50.0)
    assert to_json(truth)["available_edge_usdc"]["complete_set"] == pytest.approx(5.0)


# ------------------------------------------------------------------- neg-risk conversion


def _venue(scenario: Scenario) -> tuple[Venue, list[Any], str]:
    venue = Venue(scenario.markets, ManualClock(start_wall_ms=1_700_000_000_000), seed=1,
                  default_collateral_usdc=0, matching_delay_s=0.0)
    markets = [m for m in scenario.markets if m.event_id == "cup"]
    return venue, markets, markets[0].neg_risk_market_id


def test_conversion_follows_the_neg_risk_adapter_rule() -> None:
    """convertPositions(indexSet, amount): burn `amount` No of each of the m chosen questions,
    credit `amount` Yes of each of the n − m others and amount × (m − 1) collateral."""
    venue, markets, nr_id = _venue(_scenario())
    user = "0x00000000000000000000000000000000000000B2"
    acct = venue.account(user)
    for market in markets[:3]:
        acct.positions[market.token_ids[1]] = 100 * MICRO  # 100 No of Alpha, Bravo, Charlie
    changes = venue.convert_positions(user, nr_id, 0b0011, 40)  # No Alpha + No Bravo, m = 2
    assert changes == {markets[0].token_ids[1]: -40 * MICRO, markets[1].token_ids[1]: -40 * MICRO,
                       markets[2].token_ids[0]: 40 * MICRO, markets[3].token_ids[0]: 40 * MICRO,
                       "collateral": 40 * MICRO}
    assert acct.collateral_u == 40 * MICRO
    assert acct.positions[markets[0].token_ids[1]] == 60 * MICRO
    assert acct.positions[markets[2].token_ids[0]] == 40 * MICRO
    # m = 1: No Charlie → Yes of the three others, no collateral (1 × 0)
    changes = venue.convert_positions(user, nr_id, 0b0100, 10)
    assert changes["collateral"] == 0 and acct.collateral_u == 40 * MICRO
    assert {t for t, v in changes.items() if v > 0} == {markets[i].token_ids[0] for i in (0, 1, 3)}
    assert acct.positions[markets[2].token_ids[1]] == 90 * MICRO


@pytest.mark.parametrize(("index_set", "amount", "message"), [
    (0, 10, "invalid index set 0"), (1 << 4, 10, "invalid index set 16"),
    (0b1, 0, "invalid amount"), (0b1000, 10, r"not enough balance / allowance: 10 No shares"),
])
def test_a_bad_conversion_is_refused_with_the_reason(index_set: int, amount: float,
                                                     message: str) -> None:
    venue, markets, nr_id = _venue(_scenario())
    user = "0x00000000000000000000000000000000000000B3"
    venue.account(user).positions[markets[0].token_ids[1]] = 100 * MICRO
    with pytest.raises(VenueError, match=message):
        venue.convert_positions(user, nr_id, index_set, amount)
    with pytest.raises(VenueError, match="not found"):
        venue.convert_positions(user, "0x" + "0" * 64, 1, 1)


# ------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(("change", "message"), [
    ({"priors": [0.5, 0.3, 0.2, 0.1]},
     r"neg_risk_events\[0\]\.priors: the outcomes of a neg-risk event make one market set "
     r"\(exactly one resolves Yes\), so their probabilities must sum to 1, was 1\.100000"),
    ({"priors": [0.5, 0.5]}, r"neg_risk_events\[0\]\.priors: expected 4 probabilities"),
    ({"outcomes": ["Alpha"]}, r"neg_risk_events\[0\]\.outcomes: a neg-risk event needs 2 to 32"),
    ({"outcomes": ["Alpha", "Alpha", "Charlie", "Delta"]},
     r"neg_risk_events\[0\]\.outcomes: a neg-risk event needs 2 to 32 distinct"),
    ({"winner": "Echo"}, r"neg_risk_events\[0\]\.winner: expected one of the outcomes"),
    ({"winner": "Alpha"}, r"neg_risk_events\[0\]\.winner: 'Alpha' loses linked match 'bo3'"),
    ({"resolve_s": 20}, r"neg_risk_events\[0\]\.resolve_s: expected >= 31\.0"),
    ({"matches": ["nope"]}, r"neg_risk_events\[0\]\.matches\[0\]: no such match"),
    ({"colour": "red"}, r"neg_risk_events\[0\]\.colour: unknown key"),
])
def test_an_event_that_is_not_one_market_set_is_refused_with_its_key_path(
        change: dict[str, Any], message: str) -> None:
    event = {**copy.deepcopy(EVENT), **change}
    with pytest.raises(ScenarioError, match=message):
        _scenario(neg_risk_events=[event])


def test_a_map_outside_the_series_is_refused() -> None:
    with pytest.raises(ScenarioError, match=r"markets\[1\]\.map: expected a map of the series, "
                                            r"1 to 3, was 4"):
        _scenario(markets=[{"match_id": "bo3"}, {"match_id": "bo3", "map": 4}])
