"""ops/report.py: the equity curve's composition on a hand-built ledger, the trading
statistics on known series, attribution of settlement to the opening strategy, and a
self-contained HTML page whose embedded equity ends at the run's P&L."""

from __future__ import annotations

import re
from types import SimpleNamespace

import orjson
import pytest
from plotly.offline import get_plotlyjs

from ops.report import (
    Fill,
    MarketInfo,
    Quote,
    ReportData,
    Resolution,
    TruthMark,
    classify_intents,
    compute_accounts,
    fmt_ms,
    intent_latency_ms,
    max_drawdown,
    per_minute_sharpe,
    profit_factor,
    render_report,
    trading_stats,
)
from polyloly.domain import Strategy

MARKET = MarketInfo("0xm1", "Alpha vs Beta", ("111", "222"), ("Alpha", "Beta"))
OPEN_MARKET = MarketInfo("0xm2", "Gamma vs Delta", ("333", "444"), ("Gamma", "Delta"))


def _ledger() -> ReportData:
    fills = [
        Fill(1.0, "0xm1", "111", "YES", "BUY", "pair_arb", 10, 0.40, 0.10),
        Fill(2.0, "0xm1", "222", "NO", "BUY", "pair_arb", 10, 0.50, 0.10),
        Fill(3.0, "0xm1", "111", "YES", "BUY", "temporal_arb", 5, 0.60, 0.05),
    ]
    mids = {"111": [(0.5, 0.45), (3.5, 0.70)], "222": [(0.5, 0.55), (3.5, 0.30)]}
    return ReportData("t", [MARKET], fills, [Resolution(10.0, "0xm1", "YES")], end_t_s=12.0,
                      mids=mids)


def test_equity_is_cash_plus_marked_plus_settlement_with_fees_apart() -> None:
    accounts = compute_accounts(_ledger())
    before = next(p for p in accounts.equity if 4.0 <= p.t_s < 10.0)
    assert before.trading_cash_usdc == pytest.approx(-12.0)  # -4 - 5 - 3
    assert before.fees_usdc == pytest.approx(0.25)
    assert before.marked_usdc == pytest.approx(15 * 0.70 + 10 * 0.30)  # at the 3.5 s mids
    assert before.settlement_usdc == 0.0
    assert before.total_usdc == pytest.approx(-12.0 - 0.25 + 13.5)
    assert before.exposure_usdc == pytest.approx(12.0)
    end = accounts.equity[-1]
    assert end.settlement_usdc == pytest.approx(15.0)  # 15 YES shares pay 1.0
    assert end.marked_usdc == 0.0 and end.exposure_usdc == 0.0
    assert accounts.pnl_usdc == pytest.approx(-12.0 - 0.25 + 15.0)


def test_settlement_is_credited_to_the_strategy_that_opened_the_position() -> None:
    accounts = compute_accounts(_ledger())
    # pair: 10 YES at 0.40 pay 10, 10 NO at 0.50 pay 0, fees 0.20
    assert accounts.pnl_by_strategy["pair_arb"] == pytest.approx(10 - 4 - 5 - 0.20)
    assert accounts.pnl_by_strategy["temporal_arb"] == pytest.approx(5 - 3 - 0.05)
    assert "settlement" not in accounts.pnl_by_strategy
    assert accounts.pnl_by_market == {"0xm1": pytest.approx(accounts.pnl_usdc)}
    assert sum(accounts.pnl_by_strategy.values()) == pytest.approx(accounts.pnl_usdc)


def test_an_unresolved_position_is_marked_and_counted_open() -> None:
    data = _ledger()
    data.markets.append(OPEN_MARKET)
    data.fills.append(Fill(4.0, "0xm2", "333", "YES", "BUY", "temporal_arb", 10, 0.50, 0.0))
    data.mids = {**data.mids, "333": [(5.0, 0.40)]}
    accounts = compute_accounts(data)
    assert accounts.pnl_by_market["0xm2"] == pytest.approx(-1.0)
    assert accounts.equity[-1].marked_usdc == pytest.approx(4.0)
    stats = trading_stats(data, accounts)
    assert stats.open_trades == 1 and stats.trades == 2 and stats.wins == 2
    assert stats.win_rate == 1.0 and stats.profit_factor is None  # no losing closed trade


def test_a_sell_realizes_against_the_sellers_own_cost_first() -> None:
    data = ReportData("t", [MARKET], [
        Fill(1.0, "0xm1", "111", "YES", "BUY", "pair_arb", 10, 0.40),
        Fill(2.0, "0xm1", "111", "YES", "BUY", "temporal_arb", 10, 0.60),
        Fill(3.0, "0xm1", "111", "YES", "SELL", "temporal_arb", 10, 0.70, 0.01),
    ], [Resolution(5.0, "0xm1", None)], end_t_s=6.0)
    accounts = compute_accounts(data)
    assert accounts.pnl_by_strategy["temporal_arb"] == pytest.approx(10 * (0.70 - 0.60) - 0.01)
    assert accounts.pnl_by_strategy["pair_arb"] == pytest.approx(10 * 0.5 - 4.0)  # 50-50
    assert accounts.equity[-1].trading_cash_usdc == pytest.approx(-4 - 6 + 7)


def test_statistics_on_known_series() -> None:
    assert max_drawdown([1, 3, 2, 5, 1, 4]) == pytest.approx(4.0)
    assert max_drawdown([-1.0, 0.5]) == pytest.approx(1.0)  # the peak starts at 0
    assert max_drawdown([1, 2, 3]) == 0.0
    assert profit_factor([2, -1, 3, -1]) == pytest.approx(2.5)
    assert profit_factor([1, 2]) is None
    points = [(0.0, 0.0), (60.0, 1.0), (120.0, 3.0), (180.0, 4.0)]
    # per-minute changes 1, 2, 1: mean 4/3, sample stdev sqrt(1/3)
    assert per_minute_sharpe(points, 180.0) == pytest.approx((4 / 3) / (1 / 3) ** 0.5)
    assert per_minute_sharpe(points, 100.0) is None  # under two whole minutes
    assert per_minute_sharpe([(0.0, 1.0)], 300.0) is None  # flat: undefined


def test_latency_is_shown_with_a_readable_unit() -> None:
    assert fmt_ms(0.25) == "250 µs"
    assert fmt_ms(9.2) == "9.20 ms"
    assert fmt_ms(3011.433) == "3.01 s"
    assert fmt_ms(None) == "—"


def test_html_is_self_contained_and_its_equity_ends_at_the_pnl() -> None:
    data = _ledger()
    data.quotes = [Quote(0.9, "0xm1", "YES", "BUY", 0.40, 10, "pair_arb")]
    data.truth = [TruthMark(9.0, "0xm1", "truth FINAL: Alpha", 1.0)]
    data.latency_ms = {"tick→intent (first attempts)": [0.5, 1.5, 9.0]}
    page, accounts, _ = render_report(data)
    plotly_js = get_plotlyjs()
    assert f"<script>{plotly_js}</script>" in page  # plotly.js inline: opens offline
    ours = page.replace(plotly_js, "")
    assert "src=" not in ours and "http" not in ours  # nothing else is fetched
    assert "Alpha vs Beta" in ours
    blob = re.search(r"<script type='application/json' id='report-data'>(.*?)</script>", page,
                     re.S)
    assert blob is not None
    embedded = orjson.loads(blob.group(1))
    assert embedded["equity"]["total_usdc"][-1] == pytest.approx(embedded["pnl_usdc"])
    assert embedded["pnl_usdc"] == pytest.approx(accounts.pnl_usdc)
    assert embedded["pnl_by_strategy"]["pair_arb"] > 0
    assert page.count("Plotly.newPlot(") >= 5  # equity, drawdown, 2 bars, market, latency
    assert "</script" not in blob.group(1)


def test_empty_run_renders() -> None:
    page, accounts, stats = render_report(ReportData("empty", [MARKET], [], [], end_t_s=0.0))
    assert accounts.pnl_usdc == 0.0 and stats.trades == 0 and stats.win_rate is None
    assert "Alpha vs Beta" in page


def _intent(token: str, strategy: Strategy, origin_ns: int, decision_ns: int) -> SimpleNamespace:
    return SimpleNamespace(intent_id=f"{token}-{decision_ns}", market_id="0xm1", token_id=token,
                           strategy=strategy, t_origin_ns=origin_ns, t_decision_ns=decision_ns,
                           t_sent_ns=decision_ns, t_parsed_ns=0, t_shm_ns=0)


def test_tick_to_intent_counts_first_attempts_only() -> None:
    intents = [
        _intent("111", Strategy.PAIR_ARB, 1_000_000, 2_000_000),  # a pair: both legs first
        _intent("222", Strategy.PAIR_ARB, 1_000_000, 2_000_000),
        _intent("111", Strategy.PAIR_ARB, 1_000_000, 9_000_000_000),  # same tick again: retry
        _intent("222", Strategy.REBALANCE, 1_000_000, 12_000_000_000),
        _intent("111", Strategy.TEMPORAL_ARB, 0, 3_000_000),  # no tick stamp
    ]
    firsts, counts = classify_intents(intents)
    assert counts == {"first_attempts": 2, "retries": 1, "rebalances": 1, "without_tick": 1}
    stages, note = intent_latency_ms(intents, {"111-2000000": 2_500_000})
    assert stages["tick→intent (first attempts)"] == [1.0, 1.0]  # ms, no 9 s retry
    assert stages["intent sent → first engine report"] == [0.5]
    assert "1 retries" in note and "1 rebalances" in note
