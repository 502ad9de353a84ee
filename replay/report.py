"""The backtest report: one self-contained HTML file (ops/report.py charts, no server).

Charts: equity curve, drawdown, P&L per market, each market's prices with our entries and
exits, edge captured against decision latency; tables: summary, input issues, intents, and
for a sweep the ranked parameter sets.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from ops.report import Marker, Section, bar_chart, line_chart, render_html, table
from polyloly.config import Config
from polyloly.domain import Outcome, Side
from replay.session import ReplayResult

_NS_PER_MS = 1_000_000
MAX_INTENT_ROWS = 200


def _short(market_id: str) -> str:
    return market_id[:10]


def _equity_section(result: ReplayResult) -> Section:
    total = [(p.t_s, p.total_usdc) for p in result.equity]
    realized = [(p.t_s, p.realized_usdc) for p in result.equity]
    peak = 0.0
    drawdown = []
    for point in result.equity:
        peak = max(peak, point.total_usdc)
        drawdown.append((point.t_s, point.total_usdc - peak))
    return Section("Equity and drawdown", charts=[
        line_chart("Equity curve (USDC, realized + unrealized at mid)",
                   {"total": total, "realized": realized}, x_label="replayed seconds",
                   y_label="USDC"),
        line_chart("Drawdown from peak (USDC)", {"drawdown": drawdown},
                   x_label="replayed seconds", y_label="USDC"),
    ])


def _price_sections(result: ReplayResult, config: Config) -> list[Section]:
    t0 = result.first_t_ns
    sections = []
    for market in config.markets:
        yes, no = market.token_ids
        series: dict[str, Sequence[tuple[float, float]]] = {
            f"{market.outcomes[0]} mid": result.prices.get(yes, []),
            f"{market.outcomes[1]} mid": result.prices.get(no, [])}
        markers = []
        for report in result.reports:
            if report.market_id != market.market_id or report.last_fill_size <= 0:
                continue
            entry = report.side is Side.BUY
            markers.append(Marker(
                x=round((report.t_ns - t0) / 1e9, 3), y=report.last_fill_price,
                label=f"{report.side.value} {report.outcome.value} "
                      f"{report.last_fill_size:g}@{report.last_fill_price:g}",
                color="#2ca02c" if entry else "#d62728",
                shape="triangle" if entry else "circle"))
        title = f"{market.match_id} — {' vs '.join(market.teams)} ({_short(market.market_id)})"
        sections.append(Section(title, charts=[line_chart(
            "Prices with entries (▲ buy) and exits (● sell)", series, markers,
            x_label="replayed seconds", y_label="price")]))
    return sections


def _edge_section(result: ReplayResult) -> Section:
    intents = {i.intent_id: i for i in result.intents}
    markers = []
    rows = []
    for report in result.reports:
        intent = intents.get(report.intent_id)
        if intent is None or report.last_fill_size <= 0:
            continue
        fair = intent.expected_price + intent.expected_edge
        captured = (fair - report.last_fill_price if report.side is Side.BUY
                    else report.last_fill_price - (intent.expected_price - intent.expected_edge))
        latency_ms = max(0, intent.t_decision_ns - intent.t_origin_ns) / _NS_PER_MS
        markers.append(Marker(latency_ms, captured, intent.strategy.value,
                              "#1f77b4" if intent.outcome is Outcome.YES else "#ff7f0e",
                              "circle"))
        rows.append({"strategy": intent.strategy.value, "latency_ms": round(latency_ms, 3),
                     "expected_edge": intent.expected_edge, "captured_edge": round(captured, 6)})
    body = ("<p>Edge captured per share = the price the strategy believed fair minus the price "
            "we filled at (BUY); latency = signal age when the shard decided.</p>")
    return Section("Edge captured vs latency", body_html=body, charts=[line_chart(
        "Edge captured per fill vs decision latency", {}, markers,
        x_label="latency (ms)", y_label="edge per share")])


def _summary_rows(summary: dict[str, Any]) -> list[dict[str, object]]:
    pnl = summary["pnl"]
    return [
        {"what": "events replayed", "value": summary["events_replayed"]},
        {"what": "replayed seconds", "value": summary["replayed_seconds"]},
        {"what": "complete (no input lost)", "value": summary["complete"]},
        {"what": "intents", "value": summary["intents"]},
        {"what": "intents accepted", "value": summary["intents_accepted"]},
        {"what": "orders", "value": summary["orders"]},
        {"what": "fills", "value": summary["fills"]},
        {"what": "volume (USDC)", "value": summary["volume_usdc"]},
        {"what": "realized P&L (USDC)", "value": pnl["realized_usdc"]},
        {"what": "unrealized P&L at mid (USDC)", "value": pnl["unrealized_usdc"]},
        {"what": "fees (USDC)", "value": pnl["fees_usdc"]},
        {"what": "P&L after settlement (USDC)", "value": pnl["settled_total_usdc"]},
        {"what": "max drawdown (USDC)", "value": pnl["max_drawdown_usdc"]},
        {"what": "intents sha256", "value": summary["intents_sha256"][:16]},
    ]


def sweep_section(ranked: Sequence[dict[str, Any]]) -> Section:
    """The ranked parameter sets of a sweep (best P&L first)."""
    rows = [{"rank": n + 1, **{k: v for k, v in row.items() if k != "error"}}
            for n, row in enumerate(ranked)]
    bars = {f"#{n + 1}": float(row.get("pnl_usdc") or 0.0) for n, row in enumerate(ranked)}
    return Section("Parameter sweep (ranked by P&L after settlement)", body_html=table(rows),
                   charts=[bar_chart("P&L per parameter set (USDC)", bars, "USDC")])


def render_report(result: ReplayResult, summary: dict[str, Any], config: Config, *,
                  ranked: Sequence[dict[str, Any]] = ()) -> str:
    """The whole report as one HTML document."""
    issues = summary["input_issues"]["first"]
    sections = [Section("Summary", body_html=(
        f"<p>Recording <code>{html.escape(str(summary['recording']))}</code></p>"
        + table(_summary_rows(summary))))]
    if ranked:
        sections.append(sweep_section(ranked))
    sections.append(_equity_section(result))
    by_market = {_short(k): v for k, v in summary["pnl"]["by_market_usdc"].items()}
    sections.append(Section("P&L per market", charts=[
        bar_chart("P&L per market after settlement (USDC)", by_market, "USDC")]))
    sections.extend(_price_sections(result, config))
    sections.append(_edge_section(result))
    live = summary.get("live_comparison")
    if live:
        verdict = ("holds: every difference has a known structural cause" if live["holds"]
                   else "DOES NOT HOLD: a difference has no known cause")
        sections.append(Section("Live intents vs replayed intents", body_html=(
            f"<p>{html.escape(verdict)}; {live['identical_intents']} intents identical; "
            f"max live lag {live['max_live_lag_ms']} ms. See specs/11 (live equality).</p>"
            + table(live["markets"]))))
    sections.append(Section("Input issues", body_html=table(issues) if issues
                            else "<p>none: every line was replayed</p>"))
    rows: list[dict[str, object]] = [
        {"t_s": round((i.t_decision_ns - result.first_t_ns) / 1e9, 3),
         "market": _short(i.market_id), "strategy": i.strategy.value,
         "outcome": i.outcome.value, "side": i.side.value, "price": i.price, "size": i.size,
         "edge": i.expected_edge, "reason": i.reason}
        for i in result.intents[:MAX_INTENT_ROWS]]
    sections.append(Section(f"Intents (first {MAX_INTENT_ROWS})", body_html=table(rows)))
    return render_html("PolyLOL replay backtest", sections)
