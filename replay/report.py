"""The backtest report: a :class:`~replay.session.ReplayResult` turned into the one report
model of ops/report.py (which computes and renders every chart), plus what only a backtest
has: the sweep ranking, live-vs-replay comparison, input issues and the intents table.

A replay keeps no venue resolution time, so a market's settlement is drawn at its match's
Truth Engine final (else at the end of the replay); a market the replay settled by the
Truth Engine's winner (``settled_by`` "truth") is settled the same way, one marked at its last
mid stays open.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from ops.report import (
    Fill,
    Quote,
    ReportData,
    Resolution,
    Section,
    TruthMark,
    bar_figure,
    intent_latency_ms,
    market_infos,
    table,
)
from ops.report import (
    render_report as render_report_data,
)
from polyloly.config import Config
from polyloly.domain import Outcome
from polyloly.messages import TruthFinal
from replay.session import ReplayResult

MAX_INTENT_ROWS = 200


def report_data(result: ReplayResult, summary: dict[str, Any], config: Config) -> ReportData:
    """The replay as the common report model (times in replayed seconds)."""
    t0 = result.first_t_ns

    def seconds(t_ns: int) -> float:
        return round((t_ns - t0) / 1e9, 3)

    end_t_s = seconds(result.last_t_ns) if result.last_t_ns else 0.0
    by_match = {m.match_id: m.market_id for m in config.markets}
    final_t = {by_match[t.match_id]: seconds(t.t_ns) for t in result.truth
               if isinstance(t, TruthFinal) and t.match_id in by_match}
    winners: dict[str, Outcome | None] = dict(result.resolutions)
    for market in config.markets:
        if result.settled_by.get(market.market_id) == "truth":
            winners[market.market_id] = result.truth_winners[market.match_id]
    resolutions = [Resolution(final_t.get(m, end_t_s), m, None if w is None else w.value)
                   for m, w in winners.items()]
    fills = [Fill(seconds(r.t_ns), r.market_id, r.token_id, r.outcome.value, r.side.value,
                  r.strategy.value, r.last_fill_size, r.last_fill_price, r.fee_usdc, r.order_id)
             for r in result.reports if r.last_fill_size > 0]
    quotes = [Quote(seconds(i.t_decision_ns), i.market_id, i.outcome.value, i.side.value,
                    i.price, i.size, i.strategy.value) for i in result.intents]
    truth = [TruthMark(seconds(t.t_ns), by_match[t.match_id],
                       f"truth {t.status.value} (confidence {t.confidence:.2f}): {t.change}"
                       if not isinstance(t, TruthFinal) else f"truth FINAL: {t.winner}")
             for t in result.truth if t.match_id in by_match]
    first_report: dict[str, int] = {}
    for report in result.reports:
        first_report.setdefault(report.intent_id, report.t_ns)
    latency, note = intent_latency_ms(result.intents, first_report)
    return ReportData(
        title="PolyLOL replay backtest", markets=market_infos(config), fills=fills,
        resolutions=resolutions, end_t_s=end_t_s, mids=result.prices, quotes=quotes,
        truth=truth, latency_ms=latency, latency_note=note + " Replayed clock.",
        summary_rows=_summary_rows(summary), time_label="replayed seconds")


def _summary_rows(summary: dict[str, Any]) -> list[tuple[str, object]]:
    pnl = summary["pnl"]
    return [
        ("recording", str(summary["recording"])),
        ("events replayed", summary["events_replayed"]),
        ("replayed seconds", summary["replayed_seconds"]),
        ("complete (no input lost)", summary["complete"]),
        ("intents / accepted", f"{summary['intents']} / {summary['intents_accepted']}"),
        ("orders / fills", f"{summary['orders']} / {summary['fills']}"),
        ("engine realized P&L (USDC, settlement included)", pnl["realized_usdc"]),
        ("engine unrealized P&L at mid (USDC)", pnl["unrealized_usdc"]),
        ("fees (USDC)", pnl["fees_usdc"]),
        ("P&L after settling what was held (USDC)", pnl["settled_total_usdc"]),
        ("intents sha256", summary["intents_sha256"][:16]),
    ]


def sweep_section(ranked: Sequence[dict[str, Any]]) -> Section:
    """The ranked parameter sets of a sweep (best P&L first)."""
    rows = [{"rank": n + 1, **{k: v for k, v in row.items() if k != "error"}}
            for n, row in enumerate(ranked)]
    bars = {f"#{n + 1}": float(row.get("pnl_usdc") or 0.0) for n, row in enumerate(ranked)}
    return Section("Parameter sweep (ranked by P&L after settlement)", table(rows),
                   [bar_figure("P&L per parameter set (USDC)", bars)])


def _backtest_sections(result: ReplayResult, summary: dict[str, Any],
                       ranked: Sequence[dict[str, Any]]) -> list[Section]:
    sections = [sweep_section(ranked)] if ranked else []
    live = summary.get("live_comparison")
    if live:
        verdict = ("holds: every difference has a known structural cause" if live["holds"]
                   else "DOES NOT HOLD: a difference has no known cause")
        sections.append(Section("Live intents vs replayed intents", (
            f"<p>{html.escape(verdict)}; {live['identical_intents']} intents identical; "
            f"max live lag {live['max_live_lag_ms']} ms. See specs/11 (live equality).</p>"
            + table(live["markets"]))))
    issues = summary["input_issues"]["first"]
    sections.append(Section("Input issues", table(issues) if issues
                            else "<p>none: every line was replayed</p>"))
    rows: list[dict[str, object]] = [
        {"t (s)": round((i.t_decision_ns - result.first_t_ns) / 1e9, 3),
         "market": i.market_id[:12], "strategy": i.strategy.value, "outcome": i.outcome.value,
         "side": i.side.value, "price": i.price, "size": i.size, "edge": i.expected_edge,
         "reason": i.reason}
        for i in result.intents[:MAX_INTENT_ROWS]]
    sections.append(Section(f"Intents (first {MAX_INTENT_ROWS})", table(rows)))
    return sections


def render_report(result: ReplayResult, summary: dict[str, Any], config: Config, *,
                  ranked: Sequence[dict[str, Any]] = ()) -> str:
    """The whole backtest report as one self-contained HTML document."""
    data = report_data(result, summary, config)
    data.extra_sections = _backtest_sections(result, summary, ranked)
    page, _accounts, _stats = render_report_data(data)
    return page
