"""The demo's ``summary.json`` and ``report.html``, built from what the run left behind:
the observer's fills, orders, prices and truth samples, the engine's event log and final
status, the DLQ and the supervisor's restart counts. The figures and the page come from
ops/report.py, the one report module (the replay and ``evaluate`` use it too)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ops.report import (
    Fill,
    Quote,
    ReportData,
    Resolution,
    TruthMark,
    classify_intents,
    compute_accounts,
    intent_latency_ms,
    market_infos,
    percentile,
    render_report,
    trading_stats,
    truth_audit_section,
)
from ops.truth_audit import GROUND_TRUTH_FILE, Final, audit, load_world
from polyloly import messages
from polyloly.config import Config
from polyloly.domain import TruthStatus
from polyloly.eventlog import EnvelopeError, parse_envelope
from polyloly.messages import MarketStatus, MessageDecodeError, OrderIntent


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


def journal_truth(events_dir: Path) -> tuple[list[tuple[OrderIntent, int]], list[Final]]:
    """The engine event log's intents with the wall ms it journaled them (their decision's
    moment within a few ms) and the first FINAL each shard reported per match (MarketStatus
    with its winner; ``Final.t_s`` holds the journal's wall ms until the audit maps it)."""
    intents: dict[str, tuple[OrderIntent, int]] = {}
    finals: list[Final] = []
    for path in sorted(events_dir.rglob("*.jsonl")) if events_dir.exists() else []:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                try:
                    envelope = parse_envelope(line, where=f"{path}:{number}")
                    kind = envelope.payload.get("kind")
                    if kind not in ("order_intent", "market_status"):
                        continue
                    message = messages.from_builtins(envelope.payload)
                except (EnvelopeError, MessageDecodeError):
                    continue
                if isinstance(message, OrderIntent):
                    intents.setdefault(message.intent_id, (message, envelope.timestamp_ms))
                elif (isinstance(message, MarketStatus) and message.winner is not None
                      and message.truth_status is TruthStatus.FINAL):
                    finals.append(Final(message.match_id, message.winner,
                                        float(envelope.timestamp_ms)))
    return list(intents.values()), finals


def run_truth_audit(events_dir: Path, ground_truth: Path, scenario: Any = None
                    ) -> dict[str, Any]:
    """summary.json's ``truth_audit`` (ops/truth_audit.py), or why there is none."""
    if not ground_truth.exists():
        return {"error": f"no ground truth at {ground_truth} (the simulator wrote none)"}
    try:
        world = load_world(ground_truth, scenario)
    except ValueError as exc:
        return {"error": str(exc)}
    intents, finals = journal_truth(events_dir)
    timed = [(intent, world.scenario_s(wall_ms)) for intent, wall_ms in intents]
    placed = [Final(f.match_id, f.winner, world.scenario_s(f.t_s)) for f in finals]
    return audit(timed, placed, world).as_dict()


def count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def fills_pnl(fills: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per market: cash flow of the fills (sells − buys − fees + rebates), the fees and the maker
    rebates apart (a paper maker fill carries its rebate as a negative fee, polyloly/fees.py)
    and net shares per token."""
    per_market: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for fill in fills:
        market = per_market[fill["market_id"]]
        signed = fill["size"] if fill["side"] == "BUY" else -fill["size"]
        market["cash_usdc"] += -signed * fill["price"] - fill["fee_usdc"]
        market["fees_usdc"] += max(fill["fee_usdc"], 0.0)
        market["rebates_usdc"] += max(-fill["fee_usdc"], 0.0)
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


def report_data(run_id: str, config: Config, observer: Any, intents: list[OrderIntent],
                end_t_s: float) -> ReportData:
    """The run in the common report model (times: seconds since the observer started)."""
    fills = [Fill(f["t_s"], f["market_id"], f["token_id"], f["outcome"], f["side"],
                  f["strategy"], f["size"], f["price"], f["fee_usdc"], f["order_id"])
             for f in (observer.fills if observer is not None else [])]
    resolutions: list[Resolution] = []
    truth: list[TruthMark] = []
    quotes: list[Quote] = []
    first_report: dict[str, int] = {}
    mids: dict[str, list[tuple[float, float]]] = {}
    if observer is not None:
        tokens = {m.market_id: m.token_ids for m in config.markets}
        for market_id, winner in observer.resolutions.items():
            if market_id not in tokens:
                continue
            outcome = (None if winner is None else "YES" if winner == tokens[market_id][0]
                       else "NO")
            resolutions.append(Resolution(observer.resolution_t_s.get(market_id, end_t_s),
                                          market_id, outcome))
        quotes = [Quote(o["t_s"], o["market_id"], o["outcome"], o["side"], o["price"],
                        o["size"], o["strategy"]) for o in observer.orders.values()]
        by_match: dict[str, list[str]] = defaultdict(list)
        for market in config.markets:
            by_match[market.match_id].append(market.market_id)
        for t_s, event in zip(observer.match_event_t_s, observer.match_events, strict=False):
            for market_id in by_match.get(event.match_id, []):
                truth.append(TruthMark(t_s, market_id,
                                       f"{event.event_type.value} ({event.source})"))
        for t_s, market_id, status, confidence, implied in observer.truth_samples:
            shown = f" confidence {confidence:.2f}" if status in ("PENDING_CONFIRM",
                                                                  "FINAL") else ""
            truth.append(TruthMark(t_s, market_id, f"truth {status}{shown}", implied))
        truth.sort(key=lambda m: m.t_s)
        first_report = dict(observer.first_report_ns)
        mids = {token: list(points) for token, points in observer.mids.items()}
    latency, note = intent_latency_ms(intents, first_report)
    return ReportData(
        title=f"PolyLOL demo {run_id}", markets=market_infos(config), fills=fills,
        resolutions=resolutions, end_t_s=end_t_s, mids=mids, quotes=quotes, truth=truth,
        latency_ms=latency, latency_note=note)


def build_summary(
    run_id: str,
    scenario: str,
    config: Config,
    observer: Any,
    supervisor: Any,
    final_status: dict[str, dict[str, Any]],
    run_root: Path,
) -> tuple[dict[str, Any], ReportData]:
    """``summary.json`` and the report model it was computed from."""
    intents = logged_intents(config.data_path(config.storage.events_dir))
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
        {"market_id": m.market_id, "match_id": m.match_id, "name": " vs ".join(m.teams),
         "game": m.game.value, "token_ids": list(m.token_ids),
         "resolved": m.market_id in resolutions,
         "winning_token_id": resolutions.get(m.market_id)}
        for m in config.markets
    ]
    cash_flow = fills_pnl(fills)
    end_t_s = observer.elapsed_s() if observer is not None else 0.0
    data = report_data(run_id, config, observer, intents, end_t_s)
    accounts = compute_accounts(data)
    trade_stats = trading_stats(data, accounts)
    first = data.latency_ms.get("tick→intent (first attempts)", [])
    names = {m.market_id: m.name for m in data.markets}
    summary = {
        "run_id": run_id,
        "scenario": scenario,
        "markets": markets,
        "intents": len(intents),
        "intents_by_strategy": dict(by_strategy),
        "orders": stats.get("orders", 0),
        "fills": len(fills),
        "fills_by_strategy": dict(fills_by_strategy),
        "fees_usdc": sum(m.get("fees_usdc", 0.0) for m in cash_flow.values()),
        "rebates_usdc": sum(m.get("rebates_usdc", 0.0) for m in cash_flow.values()),
        # the equity curve's last point: cash + settlement + positions marked at mid
        "pnl_usdc": accounts.pnl_usdc,
        "pnl_by_market_usdc": {names.get(k, k): v for k, v in accounts.pnl_by_market.items()},
        "pnl_by_strategy_usdc": accounts.pnl_by_strategy,
        "trading_stats": asdict(trade_stats),
        "realized_pnl_usdc": pnl.get("realized_usdc"),
        "unrealized_pnl_usdc": pnl.get("unrealized_usdc"),
        "engine_pnl": pnl,
        "fills_cash_flow_by_market": cash_flow,
        "realized_pnl_from_fills_usdc": settled_pnl(cash_flow, markets, resolutions),
        "shard_restarts": sum(v for k, v in restarts.items() if k.startswith("shard-")),
        "process_restarts": restarts,
        "dead_letters": count_lines(config.data_path(config.storage.dlq_file)),
        "tick_to_intent_ms": {
            "count": len(first), "p50": percentile(first, 50), "p99": percentile(first, 99),
            **classify_intents(intents)[1], "note": data.latency_note,
        },
        "latency_ms": {stage: {"count": len(values), "p50": percentile(values, 50),
                               "p99": percentile(values, 99)}
                       for stage, values in data.latency_ms.items()},
        "book_ticks": stats.get("book_ticks", 0),
        "match_events": stats.get("match_events", 0),
        "risk_events": [
            {"market_id": r.market_id, "halted": r.halted, "kill_switch": r.kill_switch,
             "reason": r.reason}
            for r in (observer.risk_states if observer is not None else [])
        ],
        "recording": str(run_root / "recording"),
        # intents on stale / never-true facts, wrong / premature finals (ops/truth_audit.py)
        "truth_audit": run_truth_audit(config.data_path(config.storage.events_dir),
                                       run_root / GROUND_TRUTH_FILE),
        "failures": run_failures(final_status, supervisor),
    }
    return summary, data


def run_failures(final_status: dict[str, dict[str, Any]], supervisor: Any) -> list[str]:
    """What makes the run a failure whatever its P&L (issue 20 #6: a demo whose engine could
    not store its fills exited 0 with a wrong summary): an engine that did not answer at the
    end, fills it had not stored, processes the supervisor gave up on."""
    failures: list[str] = []
    engine = final_status.get("engine") or {}
    if not engine:
        failures.append("engine did not answer /status at the end: its figures are missing")
    elif engine.get("unstored_fills"):
        failures.append(f"engine storage failing: {engine['unstored_fills']} fill(s) not "
                        f"stored ({engine.get('storage_error', '')})")
    for child in (supervisor.children if supervisor else []):
        if getattr(child, "given_up", False):
            failures.append(f"{child.name} crashed too often and was given up on")
    return failures


def write_report(path: Path, summary: dict[str, Any], data: ReportData) -> None:
    """``report.html``: the run's summary rows on top of the standard report."""
    latency = summary["tick_to_intent_ms"]
    data.summary_rows = [
        ("run", summary["run_id"]), ("scenario", summary["scenario"]),
        ("markets resolved", f"{sum(1 for m in summary['markets'] if m['resolved'])} of "
                             f"{len(summary['markets'])}"),
        ("intents / orders / fills",
         f"{summary['intents']} / {summary['orders']} / {summary['fills']}"),
        ("P&L (equity at the end, USDC)", round(summary["pnl_usdc"], 4)),
        ("engine realized P&L, settlement included (USDC)", summary["realized_pnl_usdc"]),
        ("engine unrealized P&L, marked at mid (USDC)", summary["unrealized_pnl_usdc"]),
        ("tick→intent p50 / p99, first attempts (ms)",
         f"{_ms(latency['p50'])} / {_ms(latency['p99'])} (n={latency['count']})"),
        ("shard restarts / dead letters",
         f"{summary['shard_restarts']} / {summary['dead_letters']}"),
    ]
    if "truth_audit" in summary:
        data.extra_sections.append(truth_audit_section(summary["truth_audit"]))
    page, _accounts, _stats = render_report(data)
    path.write_text(page)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"
