"""The demo's ``summary.json`` and ``report.html``, built from what the run left behind:
the observer's fills and prices, the engine's event log and final status, the DLQ and the
supervisor's restart counts."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from ops.report import Marker, Section, bar_chart, histogram, line_chart, render_html, table
from polyloly import messages
from polyloly.config import Config
from polyloly.eventlog import EnvelopeError, parse_envelope
from polyloly.messages import MessageDecodeError, OrderIntent


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def logged_intents(events_dir: Path) -> list[OrderIntent]:
    """Every OrderIntent the engine recorded in its event log (any envelope whose payload is
    an ``order_intent`` message)."""
    intents: list[OrderIntent] = []
    for path in sorted(events_dir.rglob("*.jsonl")) if events_dir.exists() else []:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                try:
                    envelope = parse_envelope(line, where=f"{path}:{number}")
                except EnvelopeError:
                    continue
                if envelope.payload.get("kind") != "order_intent":
                    continue
                try:
                    message = messages.from_builtins(envelope.payload)
                except MessageDecodeError:
                    continue
                if isinstance(message, OrderIntent):
                    intents.append(message)
    unique = {intent.intent_id: intent for intent in intents}
    return list(unique.values())


def count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def fills_pnl(fills: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per market: cash flow of the fills (sells − buys − fees) and net shares per token."""
    per_market: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for fill in fills:
        market = per_market[fill["market_id"]]
        signed = fill["size"] if fill["side"] == "BUY" else -fill["size"]
        market["cash_usdc"] += -signed * fill["price"] - fill["fee_usdc"]
        market["fees_usdc"] += fill["fee_usdc"]
        market[f"shares_{fill['outcome']}"] += signed
    return {k: dict(v) for k, v in per_market.items()}


def settled_pnl(
    cash_flow: dict[str, dict[str, float]], markets: list[dict[str, Any]],
    resolutions: dict[str, str | None],
) -> float:
    """Realized P&L implied by the fills and the resolutions: the fills' cash flow plus 1.0
    per winning share (0.5 per share of either token on a 50-50 resolution)."""
    tokens = {m["market_id"]: m["token_ids"] for m in markets}
    total = 0.0
    for market_id, flow in cash_flow.items():
        total += flow.get("cash_usdc", 0.0)
        if market_id not in resolutions:
            continue
        winner = resolutions[market_id]
        yes, no = flow.get("shares_YES", 0.0), flow.get("shares_NO", 0.0)
        if winner is None:
            total += 0.5 * (yes + no)
        else:
            total += yes if winner == tokens[market_id][0] else no
    return total


def build_summary(
    run_id: str,
    scenario: str,
    config: Config,
    observer: Any,
    supervisor: Any,
    final_status: dict[str, dict[str, Any]],
    run_root: Path,
) -> dict[str, Any]:
    intents = logged_intents(config.data_path(config.storage.events_dir))
    latencies_us = [
        (i.t_sent_ns - i.t_origin_ns) / 1000 for i in intents if i.t_origin_ns and i.t_sent_ns
    ]
    by_strategy: dict[str, int] = defaultdict(int)
    for intent in intents:
        by_strategy[intent.strategy.value] += 1
    fills = list(observer.fills) if observer is not None else []
    fills_by_strategy: dict[str, int] = defaultdict(int)
    for fill in fills:
        fills_by_strategy[fill["strategy"]] += 1
    engine = final_status.get("engine", {}) or {}
    pnl = engine.get("pnl", {}) or {}
    restarts = {
        child.name: child.restarts for child in (supervisor.children if supervisor else [])
    }
    stats = observer.stats() if observer is not None else {}
    resolutions = dict(observer.resolutions) if observer is not None else {}
    markets = [
        {"market_id": m.market_id, "match_id": m.match_id, "game": m.game.value,
         "token_ids": list(m.token_ids), "resolved": m.market_id in resolutions,
         "winning_token_id": resolutions.get(m.market_id)}
        for m in config.markets
    ]
    cash_flow = fills_pnl(fills)
    return {
        "run_id": run_id,
        "scenario": scenario,
        "markets": markets,
        "intents": len(intents),
        "intents_by_strategy": dict(by_strategy),
        "orders": stats.get("orders", 0),
        "fills": len(fills),
        "fills_by_strategy": dict(fills_by_strategy),
        "fees_usdc": stats.get("fees_usdc", 0.0),
        "realized_pnl_usdc": pnl.get("realized_usdc"),
        "unrealized_pnl_usdc": pnl.get("unrealized_usdc"),
        "engine_pnl": pnl,
        "fills_cash_flow_by_market": cash_flow,
        "realized_pnl_from_fills_usdc": settled_pnl(cash_flow, markets, resolutions),
        "shard_restarts": sum(v for k, v in restarts.items() if k.startswith("shard-")),
        "process_restarts": restarts,
        "dead_letters": count_lines(config.data_path(config.storage.dlq_file)),
        "tick_to_intent_us": {
            "count": len(latencies_us),
            "p50": percentile(latencies_us, 50),
            "p99": percentile(latencies_us, 99),
        },
        "book_ticks": stats.get("book_ticks", 0),
        "match_events": stats.get("match_events", 0),
        "risk_events": [
            {"market_id": r.market_id, "halted": r.halted, "kill_switch": r.kill_switch,
             "reason": r.reason}
            for r in (observer.risk_states if observer is not None else [])
        ],
        "recording": str(run_root / "recording"),
        "latencies_us": latencies_us,
    }


def write_report(path: Path, summary: dict[str, Any], observer: Any) -> None:
    fills = list(observer.fills) if observer is not None else []
    sections = [Section("Summary", table([{
        "run": summary["run_id"], "scenario": summary["scenario"],
        "intents": summary["intents"], "orders": summary["orders"], "fills": summary["fills"],
        "realized P&L (USDC)": summary["realized_pnl_usdc"],
        "shard restarts": summary["shard_restarts"], "dead letters": summary["dead_letters"],
        "tick→intent p50 (µs)": summary["tick_to_intent_us"]["p50"],
        "tick→intent p99 (µs)": summary["tick_to_intent_us"]["p99"],
    }]))]
    equity: list[tuple[float, float]] = []
    cash = 0.0
    for fill in sorted(fills, key=lambda f: f["t_s"]):
        signed = fill["size"] if fill["side"] == "BUY" else -fill["size"]
        cash += -signed * fill["price"] - fill["fee_usdc"]
        equity.append((fill["t_s"], cash))
    sections.append(Section("P&L over time", "<p>Cash flow of fills (before settlement).</p>",
                            [line_chart("cash flow (USDC)", {"cash": equity}, x_label="s")]))
    price_charts = []
    for market in summary["markets"]:
        series = {}
        markers = []
        for outcome, token in zip(("YES", "NO"), market["token_ids"], strict=True):
            series[f"{outcome} mid"] = observer.mids.get(token, []) if observer else []
        for fill in fills:
            if fill["market_id"] == market["market_id"]:
                color = "#2ca02c" if fill["strategy"] == "pair_arb" else "#d62728"
                markers.append(Marker(fill["t_s"], fill["price"],
                                      f"{fill['strategy']} {fill['side']} {fill['outcome']} "
                                      f"{fill['size']:.2f}@{fill['price']:.3f}", color))
        price_charts.append(line_chart(f"{market['match_id']} prices with our fills", series,
                                       markers, x_label="s", y_label="price"))
    sections.append(Section("Prices with our trades",
                            "<p>Green: pair arbitrage fills; red: temporal arbitrage.</p>",
                            price_charts))
    sections.append(Section("Latency", "", [histogram(
        "tick → intent (µs)", summary["latencies_us"], x_label="µs")]))
    per_market = {m[:10]: v.get("cash_usdc", 0.0)
                  for m, v in summary["fills_cash_flow_by_market"].items()}
    sections.append(Section("Per-market cash flow", "", [bar_chart("USDC", per_market)]))
    sections.append(Section("Fills", table(fills[:500])))
    path.write_text(render_html(f"PolyLOL demo {summary['run_id']}", sections))
