"""``polyloly evaluate`` end to end: two seeds of a short scenario (simulator, recorder,
replay, scoring) write evaluation.json with every field, and a job that cannot finish is
reported as failed with its log, never averaged away."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

pytestmark = pytest.mark.slow

RUN_TIMEOUT_S = 240
# A 30 s Dota 2 Bo1 (the shipped stomp, compressed) so that two seeds take ~15 s at x4.
SHORT_SCENARIO: dict[str, Any] = {
    "name": "eval_short",
    "description": "Dota 2 Bo1, 30 s, for the evaluate test",
    "seed": 5,
    "resolution_delay_s": 3,
    "duration_s": 30,
    "providers": {"pandascore": {"delay_s": 1.0, "cadence_s": 2.0}},
    "market_maker": {"reprice_lag_s": 6.0, "refresh_s": 4.0},
    "matches": [{
        "match_id": "dota-short", "game": "dota2", "teams": ["Team Spirit", "Tundra"],
        "best_of": 1, "start_s": 1, "prior": 0.55, "game_clock_scale": 60,
        "timeline": [
            {"t": 0, "kind": "map_start"},
            {"t": 4, "kind": "gold", "gold_diff": 6000},
            {"t": 10, "kind": "gold", "gold_diff": 15000},
            {"t": 16, "kind": "gold", "gold_diff": 25000},
            {"t": 20, "kind": "map_end", "team": "A"},
        ],
    }],
}
STRATEGY_FIELDS = {"fills", "shares", "volume_usdc", "fees_usdc", "rebates_usdc",
                   "net_pnl_usdc", "ev_usdc", "ev_per_share", "adverse_selection",
                   "unhedged_at_resolution_usdc", "available_edge_usdc", "capture_pct",
                   "truth_audit"}
VARIANTS = ["temporal_arb.min_edge_threshold=0.03", "temporal_arb.min_edge_threshold=0.2"]
STAT_FIELDS = {"n", "failed_seeds", "undefined_seeds", "mean", "median", "ci95"}


def _evaluate(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    scenario = tmp_path / "eval_short.yaml"
    scenario.write_text(yaml.safe_dump(SHORT_SCENARIO, sort_keys=False))
    out = tmp_path / "eval"
    done = subprocess.run(
        [sys.executable, "-m", "ops.cli", "evaluate", "--scenario", str(scenario),
         "--seeds", "2", "--out", str(out), *extra],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    return done, out


def test_two_seeds_write_every_field(tmp_path: Path) -> None:
    grid = tmp_path / "grid.yaml"  # two variants replayed on each recording
    grid.write_text("temporal_arb.min_edge_threshold: [0.03, 0.2]\n")
    done, out = _evaluate(tmp_path, "--params", str(grid))
    assert done.returncode == 0, done.stdout + done.stderr
    data = orjson.loads((out / "evaluation.json").read_bytes())
    assert (out / "evaluation.html").read_text().startswith("<!doctype html>")
    assert data["seeds"] == [1, 2] and data["failed"] == []
    assert {"interval", "ground_truth", "scores"} <= set(data["method"])
    for run in data["runs"]:
        assert run["status"] == "ok" and run["events"] > 0
        truth = run["ground_truth"]
        assert truth["anchored_on_resolutions"] >= 1
        assert {"taker", "maker", "pair"} <= set(truth["available_edge_usdc"])
        assert truth["source"].startswith("simulator run")  # the sim's own file (specs/12)
        assert [v["variant"] for v in run["variants"]] == VARIANTS
        for variant in run["variants"]:
            assert {"pair_arb", "temporal_arb"} <= set(variant["strategies"])
            pnl_sum = 0.0
            for row in variant["strategies"].values():
                assert set(row) >= STRATEGY_FIELDS
                assert set(row["adverse_selection"]) == {"1s", "10s"}
                assert set(row["truth_audit"]) == {"intents", "audited", "against_truth",
                                                   "stale_truth", "false_truth"}
                pnl_sum += row["net_pnl_usdc"]
            # the per-strategy P&L (settled by the world's winner) adds up to the engine
            # ledger's own settled P&L of the replay
            assert pnl_sum == pytest.approx(variant["replay"]["ledger_settled_pnl_usdc"],
                                            abs=0.01)
        assert not (Path(run["log"]).parent / "recording").exists()  # removed by default
    scenario = data["summary"]["by_scenario"]["eval_short"]
    assert scenario["failed_seeds"] == []
    assert list(scenario["variants"]) == VARIANTS
    for row in scenario["variants"][VARIANTS[0]].values():
        assert set(row["per_seed"]) == {"1", "2"}
        assert set(row["net_pnl_usdc"]) >= STAT_FIELDS
        assert row["net_pnl_usdc"]["n"] == 2 and row["net_pnl_usdc"]["mean"] is not None
    overall = data["summary"]["all_scenarios_net_pnl_usdc"][VARIANTS[1]]
    assert all(stat["failed_seeds"] == [] for stat in overall.values())


def test_a_job_past_its_timeout_is_reported_failed_with_its_log(tmp_path: Path) -> None:
    done, out = _evaluate(tmp_path, "--timeout", "3")
    assert done.returncode == 1
    data = orjson.loads((out / "evaluation.json").read_bytes())
    assert [f["seed"] for f in data["failed"]] == [1, 2]
    for failed in data["failed"]:
        assert "timed out" in failed["reason"] and Path(failed["log"]).exists()
        assert failed["log"] in done.stderr
    assert data["summary"]["by_scenario"]["eval_short"]["failed_seeds"] == [1, 2]
