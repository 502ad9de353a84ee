"""sim/ground_truth.py on a hand-built world: the available edge equals the hand computation
(specs/12 §4), the JSON carries every field of §5, and a re-run is deterministic."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from sim.agents.market_maker import Quote, QuotePlan
from sim.agents.takers import TakerOrder
from sim.ground_truth import SCHEMA, from_history, from_scenario, to_json, write_json
from sim.scenario import Scenario, load_scenario
from sim.world import FairValueChange, ResolveAction, WorldAction


def _one_market() -> tuple[Scenario, str, str, str]:
    base = load_scenario("demo_short")
    match = base.matches[0]
    market = base.markets_for(match.match_id)[0]
    scenario = replace(base, matches=(match,), markets=(market,), duration_s=60.0,
                       matching_delay_s=3.0, maker_rebate_rate=0.25)
    return scenario, market.condition_id, market.token_ids[0], market.token_ids[1]


def _world() -> tuple[Scenario, list[WorldAction], str, str, str]:
    scenario, cid, yes, no = _one_market()
    prior = from_scenario(scenario).fair[cid].fair[0]  # the match's fair value at t = 0
    history: list[WorldAction] = [
        # t=0: a maker posts YES ask 0.60 ×100 and YES bid 0.50 ×50
        QuotePlan(0.0, cid, (yes, no), (Quote(yes, "SELL", 0.60, 100.0),
                                        Quote(yes, "BUY", 0.50, 50.0)), "initial", prior, "mm"),
        # t=10: the truth jumps to 0.70 — the ask is stale from 10 s
        FairValueChange(10.0, match_id := scenario.markets[0].match_id, 0.70, "kill"),
        # a noise BUY at t=2 (arrives t=5, fair = prior) takes 20 of the ask
        TakerOrder(2.0, "sim-taker-0", yes, "BUY", 0.65, 20.0, "FAK"),
        # the maker reprices at 20 s (the stale ask lived 10 s: reachable), then at 21.5 s
        QuotePlan(20.0, cid, (yes, no), (Quote(yes, "SELL", 0.65, 40.0),), "reprice", 0.70,
                  "mm"),
        FairValueChange(21.0, match_id, 0.90, "baron"),
        # the 0.65 ask (fair 0.70) is stale as posted, pulled at 22.5 s: 2.5 s < hold,
        # so no held order reaches it
        QuotePlan(22.5, cid, (yes, no), (), "match_end", 0.90, "mm"),
        ResolveAction(40.0, cid, yes),
    ]
    return scenario, history, cid, yes, prior


def test_available_edge_equals_the_hand_computation() -> None:
    scenario, history, cid, yes, prior = _world()
    truth = from_history(scenario, history, seed=1)
    # taker: ask 0.60 ×100 stale on [10, 20); an order sent at 10 arrives 13 at fair 0.70
    assert truth.available_edge["taker"] == pytest.approx(100 * (0.70 - 0.60))
    # maker: the noise BUY of 20 at 0.60 when fair = prior (not stale): 20 × (0.60 − prior),
    # rebate 25 % of the taker fee 20 × 0.03 × 0.6 × 0.4 = 0.144 → 0.036
    assert truth.available_edge["maker_spread"] == pytest.approx(20 * (0.60 - prior))
    assert truth.available_edge["maker_rebate"] == pytest.approx(0.25 * 0.144)
    assert truth.available_edge["maker"] == pytest.approx(20 * (0.60 - prior) + 0.036)
    assert truth.available_edge["pair"] == 0.0  # unified book
    stale = {(q.price, q.side): q for q in truth.quotes}
    assert stale[(0.60, "SELL")].stale_intervals == [(10.0, 20.0)]
    assert stale[(0.60, "SELL")].stale_from_s == 10.0
    assert stale[(0.65, "SELL")].stale_intervals == [(20.0, 22.5)]
    assert stale[(0.50, "BUY")].stale_from_s is None  # a bid below fair is never stale
    assert stale[(0.65, "SELL")].end_reason == "pulled"
    assert truth.fair[cid].at(15.0) == 0.70 and truth.fair[cid].at(9.99) == prior


def test_pair_edge_rests_only_on_independent_books() -> None:
    scenario, cid, yes, no = _one_market()
    history: list[WorldAction] = [
        QuotePlan(0.0, cid, (yes, no), (Quote(yes, "SELL", 0.47, 100.0),
                                        Quote(no, "SELL", 0.48, 60.0)), "mispricing", 0.5, "mm"),
        QuotePlan(5.0, cid, (yes, no), (), "refresh", 0.5, "mm"),
        QuotePlan(6.0, cid, (yes, no), (Quote(yes, "SELL", 0.47, 100.0),
                                        Quote(no, "SELL", 0.48, 60.0)), "mispricing", 0.5, "mm"),
        QuotePlan(8.0, cid, (yes, no), (), "refresh", 0.5, "mm"),  # 2 s < hold: not counted
    ]
    independent = from_history(scenario, history, seed=1, unified_book=False)
    assert independent.available_edge["pair"] == pytest.approx(60 * (1 - 0.95))
    assert from_history(scenario, history, seed=1, unified_book=True).available_edge[
        "pair"] == 0.0


def test_json_has_every_field_of_the_spec(tmp_path: Path) -> None:
    scenario, history, *_ = _world()
    path = write_json(from_history(scenario, history, seed=3), tmp_path / "gt" / "truth.json")
    data = json.loads(path.read_text())
    assert data["schema"] == SCHEMA
    assert set(data) >= {"scenario", "seed", "hold_s", "duration_s", "unified_book",
                         "maker_rebate_rate", "available_edge_usdc", "markets", "events",
                         "quotes", "opportunities"}
    assert set(data["available_edge_usdc"]) == {"taker", "maker", "maker_spread",
                                                "maker_rebate", "pair", "complete_set"}
    assert set(data["markets"][0]) == {"condition_id", "match_id", "question", "token_ids",
                                       "outcomes", "neg_risk", "resolved_s",
                                       "winning_token_id", "fair", "market_type", "map_number",
                                       "event_id", "neg_risk_market_id"}
    assert set(data["quotes"][0]) == {"owner", "condition_id", "token_id", "side", "price",
                                      "size", "posted_s", "ended_s", "end_reason",
                                      "fair_at_post", "stale_from_s", "stale_intervals"}
    assert set(data["opportunities"][0]) == {"kind", "send_s", "condition_id", "token_id",
                                             "side", "price", "size", "fair", "edge_usdc",
                                             "owner"}
    for kind in ("taker", "maker", "pair", "complete_set"):
        rows = sum(o["edge_usdc"] for o in data["opportunities"] if o["kind"] == kind)
        assert rows == pytest.approx(data["available_edge_usdc"][kind], abs=1e-5)


def test_a_rerun_of_a_shipped_scenario_is_deterministic_and_on_the_unified_book() -> None:
    scenario = load_scenario("demo_short")
    first, second = to_json(from_scenario(scenario)), to_json(from_scenario(scenario))
    assert first == second
    assert first["unified_book"] is True and first["available_edge_usdc"]["pair"] == 0.0
    assert first["available_edge_usdc"]["taker"] > 0  # the slow maker leaves stale quotes
    owners = {q["owner"] for q in first["quotes"]}
    assert owners == {"sim-market-maker", "sim-mm-fast"}
