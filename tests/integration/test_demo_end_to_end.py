"""`polyloly demo --no-ui` end to end: simulator, gateway, 2 shards, engine, paper trading.

demo_short runs on the real venue's rules (unified book, 3 s hold, a fast maker among slow
ones, an informed taker): a pair mispricing cannot rest there, so pairs are built over time
(issue 17, D20) and the maker strategy quotes post-only on both outcomes; temporal arbitrage
trades the slow maker's stale quotes; the engine's realized P&L must equal the P&L recomputed
from the fills, the venue's resolutions and the maker rebates credited on our maker fills
(docs/DECISIONS.md D16; polyloly/fees.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _assert_pnl_is_fills_settlement_and_rebates(summary: dict[str, Any]) -> None:
    """Engine realized P&L = trading cash of the fills − fees + settlement + rebates, to 1e-6,
    each part recomputed here from summary.json's per-market figures."""
    flows = summary["fills_cash_flow_by_market"]
    winners = {m["market_id"]: (m["token_ids"], m["winning_token_id"])
               for m in summary["markets"]}
    fees = sum(f.get("fees_usdc", 0.0) for f in flows.values())
    rebates = sum(f.get("rebates_usdc", 0.0) for f in flows.values())
    trading = sum(f["cash_usdc"] for f in flows.values()) + fees - rebates
    settlement = 0.0
    for market_id, flow in flows.items():
        tokens, winner = winners[market_id]
        yes, no = flow.get("shares_YES", 0.0), flow.get("shares_NO", 0.0)
        settlement += 0.5 * (yes + no) if winner is None else yes if winner == tokens[0] else no
    assert summary["fees_usdc"] == pytest.approx(fees, abs=1e-9) and fees >= 0
    assert summary["rebates_usdc"] == pytest.approx(rebates, abs=1e-9) and rebates >= 0
    assert summary["realized_pnl_usdc"] == pytest.approx(
        trading - fees + settlement + rebates, abs=1e-6
    ), orjson.dumps({k: summary[k] for k in ("engine_pnl", "fills_cash_flow_by_market",
                                              "markets")}).decode()


@pytest.mark.timeout(240)
def _assert_truth_audit_clean(summary: dict[str, Any]) -> None:
    """The truth audit (ops/truth_audit.py) ran against the simulator's ground truth: every
    temporal intent audited, none on a never-true fact, every match finalized and none wrong."""
    audit = summary["truth_audit"]
    assert "error" not in audit, audit
    assert audit["audited"] > 0
    assert audit["never_true_intents"] == 0, audit["never_true_examples"]
    assert audit["finals"] == len({m["match_id"] for m in summary["markets"]}), audit
    assert audit["wrong_finals"] == 0, audit["final_details"]


def test_demo_trades_on_real_venue_rules_with_consistent_pnl(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, "-m", "ops.cli", "demo", "--no-ui", "--scenario", "demo_short",
         "--shards", "2", "--speed", "2", "--runs-dir", str(runs)],
        cwd=ROOT, capture_output=True, text=True, timeout=220,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = list(runs.iterdir())
    summary = orjson.loads((run_dir / "summary.json").read_bytes())
    assert (run_dir / "report.html").stat().st_size > 1000
    assert list((run_dir / "recording").glob("*.jsonl")), "the gateway recorded nothing"

    assert summary["intents_by_strategy"].get("maker", 0) > 0  # the demo enables maker quotes
    assert summary["intents_by_strategy"].get("temporal_arb", 0) > 0
    assert summary["fills_by_strategy"].get("temporal_arb", 0) > 0
    assert summary["orders"] > 0 and summary["fills"] > 0
    assert summary["shard_restarts"] == 0
    assert summary["dead_letters"] == 0
    assert all(market["resolved"] for market in summary["markets"])
    assert summary["realized_pnl_usdc"] == pytest.approx(
        summary["realized_pnl_from_fills_usdc"], abs=1e-6
    )
    _assert_pnl_is_fills_settlement_and_rebates(summary)
    _assert_truth_audit_clean(summary)
    latency = summary["tick_to_intent_ms"]  # first attempts measured, the rest counted apart
    assert latency["count"] == latency["first_attempts"] > 0
    assert sum(latency[k] for k in ("first_attempts", "retries", "rebalances",
                                    "without_tick")) == summary["intents"]


@pytest.mark.timeout(240)
def test_demo_rehearses_the_live_path_with_the_real_executor(tmp_path: Path) -> None:
    """`--executor real`: signed V2 orders through py-clob-client-v2 to the simulator, with a
    throwaway key; orders fill and the P&L still matches the fills."""
    runs = tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if k != "POLYMARKET_PRIVATE_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "ops.cli", "demo", "--no-ui", "--scenario", "demo_short",
         "--speed", "3", "--executor", "real", "--runs-dir", str(runs)],
        cwd=ROOT, capture_output=True, text=True, timeout=220, env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "balance_allowance" in result.stdout and "LIVE TRADING" in result.stdout
    (run_dir,) = list(runs.iterdir())
    summary = orjson.loads((run_dir / "summary.json").read_bytes())
    assert summary["orders"] > 0 and summary["fills"] > 0
    assert summary["dead_letters"] == 0
    assert all(market["resolved"] for market in summary["markets"])
    assert summary["realized_pnl_usdc"] == pytest.approx(
        summary["realized_pnl_from_fills_usdc"], abs=1e-6
    ), orjson.dumps({k: summary[k] for k in ("engine_pnl", "fills_cash_flow_by_market",
                                              "markets", "risk_events")}).decode()
    _assert_pnl_is_fills_settlement_and_rebates(summary)
    assert "executor: real" in (run_dir / "config.yaml").read_text()
