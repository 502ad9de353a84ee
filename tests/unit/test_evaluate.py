"""``polyloly evaluate``: statistics, the failed-seed rule, EV / adverse selection / P&L on a
hand-built fill list, the truth audit, reading and anchoring the simulator's ground truth,
bad input."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest

from ops.evaluate import EvaluateError, aggregate, main, resolve_scenarios
from ops.evaluation_metrics import Fill, audit_intents, score_fills
from ops.evaluation_stats import interval_95, summarize, t_quantile_975
from ops.evaluation_truth import GroundTruth, from_json, from_scenario
from polyloly.domain import Outcome, Side
from polyloly.messages import OrderIntent
from replay.recording import MARKET_WS, RecordedMessage

YES, NO = "tok-yes", "tok-no"


def _doc(times: list[float], fair_a: list[float], winner: str | None = YES,
         resolved_s: float | None = 100.0) -> dict[str, Any]:
    """A specs/12 §5 document of one market (fields the scorer does not read are left out)."""
    return {"schema": "polyloly.sim.ground_truth/1", "scenario": "hand", "seed": 1,
            "hold_s": 3.0, "available_edge_usdc": {"taker": 40.0, "maker": 0.0, "pair": 0.0},
            "markets": [{"condition_id": "mk", "token_ids": [YES, NO],
                         "resolved_s": resolved_s, "winning_token_id": winner,
                         "fair": [[t, f] for t, f in zip(times, fair_a, strict=True)]}],
            "quotes": [], "unknown_future_key": 1}


def _truth(times: list[float], fair_a: list[float], winner: str = "A") -> GroundTruth:
    truth = from_json(_doc(times, fair_a, YES if winner == "A" else NO), 1.0, "hand")
    truth.epoch_ns = 0
    return truth


# ---- statistics ----

def test_t_interval_on_known_data() -> None:
    # 1..5: mean 3, s = sqrt(2.5), t(0.975, 4) = 2.776 → half-width 2.776·1.5811/√5 = 1.9630
    low, high = interval_95([1.0, 2.0, 3.0, 4.0, 5.0]) or (0.0, 0.0)
    half = 2.776 * math.sqrt(2.5) / math.sqrt(5)
    assert low == pytest.approx(3 - half) and high == pytest.approx(3 + half)
    assert half == pytest.approx(1.9630, abs=1e-4)
    assert t_quantile_975(1) == 12.706 and t_quantile_975(100) == 1.96
    assert interval_95([4.0]) is None
    stat = summarize({1: 1.0, 2: 2.0, 3: 3.0, 4: 4.0, 5: 5.0}, [])
    assert stat["mean"] == 3.0 and stat["median"] == 3.0 and stat["n"] == 5
    assert stat["ci95"] == [pytest.approx(3 - half, abs=1e-6), pytest.approx(3 + half, abs=1e-6)]


def test_a_failed_seed_withholds_every_figure() -> None:
    stat = summarize({1: 10.0, 2: 12.0, 4: 11.0}, failed=[3])
    assert stat["failed_seeds"] == [3]
    assert stat["mean"] is None and stat["median"] is None and stat["ci95"] is None


def test_undefined_values_are_listed_not_averaged() -> None:
    stat = summarize({1: 10.0, 2: None, 3: 14.0}, failed=[])
    assert stat["undefined_seeds"] == [2] and stat["n"] == 2 and stat["mean"] == 12.0


def _run(seed: int, pnl: float, scenario: str = "s") -> dict[str, Any]:
    return {"scenario": scenario, "seed": seed, "status": "ok", "variants": [
        {"variant": "recorded", "strategies": {"temporal_arb": {"net_pnl_usdc": pnl}}}]}


def test_aggregate_applies_the_failed_seed_rule_per_scenario_and_overall() -> None:
    runs = [_run(1, 5.0), _run(2, 7.0),
            {"scenario": "s", "seed": 3, "status": "failed", "reason": "timed out after 9 s",
             "log": "x/job.log"},
            _run(1, 1.0, "t"), _run(2, 3.0, "t"), _run(3, 2.0, "t")]
    summary = aggregate(runs, [1, 2, 3], [{}])
    s_row = summary["by_scenario"]["s"]
    assert s_row["failed_seeds"] == [3]
    assert s_row["variants"]["recorded"]["temporal_arb"]["net_pnl_usdc"]["mean"] is None
    t_row = summary["by_scenario"]["t"]["variants"]["recorded"]["temporal_arb"]
    assert t_row["net_pnl_usdc"]["mean"] == 2.0
    overall = summary["all_scenarios_net_pnl_usdc"]["recorded"]["temporal_arb"]
    assert overall["failed_seeds"] == [3] and overall["mean"] is None


def test_aggregate_sums_scenarios_per_seed() -> None:
    runs = [_run(1, 5.0), _run(2, 7.0), _run(1, 1.0, "t"), _run(2, 3.0, "t")]
    overall = aggregate(runs, [1, 2], [{}])["all_scenarios_net_pnl_usdc"]["recorded"]
    assert overall["temporal_arb"]["mean"] == 8.0  # seed 1: 6, seed 2: 10


# ---- scores of a hand-built fill list ----

def test_ev_adverse_selection_pnl_and_unhedged_on_hand_built_fills() -> None:
    # fair(A): 0.50 until t=10, 0.70 from 10, 0.60 from 15; A wins.
    truth = _truth([0.0, 10.0, 15.0], [0.50, 0.70, 0.60])
    fills = [
        Fill(10.5, "mk", YES, "BUY", 0.55, 100.0, 1.0, "temporal_arb"),  # fair .70
        Fill(12.0, "mk", NO, "BUY", 0.25, 40.0, 0.2, "temporal_arb"),  # fair .30
    ]
    row = score_fills(fills, truth)
    assert row["fills"] == 2 and row["shares"] == 140.0
    assert row["volume_usdc"] == pytest.approx(55.0 + 10.0)
    # EV: 100·(0.70−0.55) + 40·(0.30−0.25) = 15 + 2 = 17
    assert row["ev_usdc"] == pytest.approx(17.0)
    assert row["ev_per_share"] == pytest.approx(17.0 / 140.0, abs=1e-6)  # rounded to 6 dp
    # +1 s: no change for either fill
    assert row["adverse_selection"]["1s"]["total_usdc"] == pytest.approx(0.0)
    # +10 s: YES 0.70→0.60 against us by 0.10·100 = 10; NO 0.30→0.40 in our favour −0.10·40
    assert row["adverse_selection"]["10s"]["total_usdc"] == pytest.approx(10.0 - 4.0)
    # P&L: −55 − 10 − 1.2 fees + 100 YES shares × 1 (A wins) + 40 NO × 0 = 33.8
    assert row["net_pnl_usdc"] == pytest.approx(33.8)
    assert row["fees_usdc"] == pytest.approx(1.2) and row["rebates_usdc"] == 0.0
    # unhedged: 60 YES shares unpaired at an average cost of 0.55 = 33
    assert row["unhedged_at_resolution_usdc"] == pytest.approx(33.0)


def test_sells_and_rebates_count_the_other_way() -> None:
    truth = _truth([0.0], [0.40], winner="B")
    fills = [Fill(1.0, "mk", YES, "BUY", 0.40, 10.0, 0.0, "pair_arb"),
             Fill(2.0, "mk", YES, "SELL", 0.45, 10.0, -0.05, "pair_arb")]
    row = score_fills(fills, truth)
    assert row["ev_usdc"] == pytest.approx(0.0 + 10 * (0.45 - 0.40))
    assert row["rebates_usdc"] == pytest.approx(0.05)
    assert row["net_pnl_usdc"] == pytest.approx(-4.0 + 4.5 + 0.05)  # flat: nothing settles
    assert row["unhedged_at_resolution_usdc"] == 0.0


def _intent(reason: str, price: float, t_ns: int, token: str = YES) -> OrderIntent:
    return OrderIntent(intent_id="i", idempotency_key="k", shard_id=0, market_id="mk",
                       token_id=token, outcome=Outcome.YES, side=Side.BUY, price=price,
                       size=10.0, order_type="FAK", strategy="temporal_arb",
                       t_origin_ns=t_ns, t_decision_ns=t_ns, t_sent_ns=t_ns, reason=reason)


def test_truth_audit_sorts_stale_false_and_against_truth() -> None:
    truth = _truth([0.0, 10.0, 20.0], [0.50, 0.80, 0.60])
    counts = audit_intents([
        _intent("implied 0.6000 edge 0.05", 0.55, 25 * 10**9),  # matches fair 0.60: ok
        _intent("implied 0.8000 edge 0.10", 0.65, 25 * 10**9),  # was true at 10–20 s: stale
        _intent("implied 0.9500 edge 0.20", 0.70, 25 * 10**9),  # never true: false
        _intent("pair cost 0.95", 0.40, 25 * 10**9),  # no implied: not audited
    ], truth)
    assert counts == {"intents": 4, "audited": 3, "against_truth": 2, "stale_truth": 1,
                      "false_truth": 1}


# ---- the simulator's ground-truth file ----

def test_ground_truth_file_is_read_and_anchored_on_resolutions() -> None:
    truth = from_json(_doc([0.0, 5.0], [0.5, 0.7], resolved_s=40.1), 4.0, "hand")
    assert truth.available_edge["taker"] == 40.0 and truth.hold_s == 3.0
    assert truth.fair_token(YES, 4.9) == 0.5 and truth.fair_token(NO, 5.0) == pytest.approx(0.3)
    # resolved at 40.1 → executed at the world step 40.25 → 10.0625 real s at speed 4
    frame = orjson.dumps({"event_type": "market_resolved", "market": "mk"})
    message = RecordedMessage(MARKET_WS, "polymarket", 20_062_500_000, 0, 1, frame, "f", 1)
    assert truth.anchor([message]) == 1
    assert truth.epoch_ns == 10_000_000_000
    assert truth.scenario_s(12_000_000_000) == pytest.approx(8.0)


def test_a_truth_file_of_another_schema_is_refused() -> None:
    with pytest.raises(ValueError, match="schema"):
        from_json({**_doc([0.0], [0.5]), "schema": "other/9"}, 1.0, "hand")
    unanchored = from_json(_doc([0.0], [0.5]), 1.0, "hand")
    with pytest.raises(ValueError, match="no market_resolved"):
        unanchored.anchor([])


def test_unresolved_market_settles_at_its_last_true_value() -> None:
    truth = from_json(_doc([0.0, 5.0], [0.5, 1.0], winner=None, resolved_s=None), 1.0, "h")
    truth.epoch_ns = 0
    row = score_fills([Fill(6.0, "mk", YES, "BUY", 0.9, 10.0, 0.0, "temporal_arb")], truth)
    assert row["net_pnl_usdc"] == pytest.approx(10 * (1.0 - 0.9))


def test_from_scenario_matches_the_sim_module() -> None:
    from sim.ground_truth import from_scenario as sim_truth
    from sim.scenario import load_scenario

    scenario = load_scenario("dota2_bo1_stomp")
    truth = from_scenario(scenario, 3, 4.0)
    assert truth.available_edge == sim_truth(scenario, 3).available_edge
    assert set(truth.markets) == {m.condition_id for m in scenario.markets}


# ---- bad input ----

def test_unknown_scenario_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(EvaluateError, match="unknown scenario; known: .*demo_short"):
        resolve_scenarios(["no_such_scenario"])
    assert main(["--scenario", "no_such_scenario"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no_such_scenario" in err[0] and "Traceback" not in err[0]


@pytest.mark.parametrize("args, needle", [
    (["--seeds", "0"], "--seeds"), (["--speed", "-1"], "--speed"),
    (["--workers", "9"], "--workers"), (["--timeout", "0"], "--timeout")])
def test_bad_numbers_are_refused(args: list[str], needle: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    assert needle in capsys.readouterr().err
