"""One report module for the demo, the replay backtester and ``polyloly evaluate``.

Each caller turns what its run left behind into a :class:`ReportData` (fills, resolutions,
mid prices, our orders, truth marks, latency stages); this module computes the figures and
writes one self-contained HTML file with plotly charts (plotly.js inline: it opens offline).

Accounting (the same as engine/pnl/ledger.py, so the curve ends at the engine's P&L)::

    equity(t) = trading cash (sells − buys) − fees + rebates + settlement payouts
                + Σ shares held × mark(t)

A mark is the token's last sampled mid, else its last fill price. Settlement pays 1.0 per
winning share (0.5 per share of either token on a 50-50 resolution). P&L is attributed to the
strategy whose fills opened the position, settlement included (the ledger books settlement
apart; a trader wants to know which strategy earned it).
"""

from __future__ import annotations

import bisect
import html
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from polyloly.config import Config

_DUST = 1e-9
MAX_FILL_ROWS = 500
EQUITY_GRID_POINTS = 600  # equity sampled on this grid plus every fill and resolution
_BUY_COLOR, _SELL_COLOR = "#2ca02c", "#d62728"
_STRATEGY_COLORS = {"pair_arb": "#1f77b4", "temporal_arb": "#ff7f0e", "rebalance": "#9467bd",
                    "manual": "#8c564b"}


# ---- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """One market: ids and the names a person reads (teams)."""

    market_id: str
    name: str  # "Team A vs Team B"
    token_ids: tuple[str, str]  # (YES, NO)
    outcomes: tuple[str, str] = ("YES", "NO")  # what each token pays on (team names)


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill of ours; ``fee_usdc`` < 0 is a rebate. ``t_s``: seconds since the run start."""

    t_s: float
    market_id: str
    token_id: str
    outcome: str  # "YES" / "NO"
    side: str  # "BUY" / "SELL"
    strategy: str
    size: float
    price: float
    fee_usdc: float = 0.0
    order_id: str = ""


@dataclass(frozen=True, slots=True)
class Resolution:
    """The venue resolved a market: ``winner`` "YES"/"NO", None for a 50-50."""

    t_s: float
    market_id: str
    winner: str | None


@dataclass(frozen=True, slots=True)
class Quote:
    """One of our orders as placed (the price we quoted)."""

    t_s: float
    market_id: str
    outcome: str
    side: str
    price: float
    size: float
    strategy: str


@dataclass(frozen=True, slots=True)
class TruthMark:
    """A point on a market's truth timeline: a match event or a Truth Engine change."""

    t_s: float
    market_id: str
    label: str
    fair_yes: float | None = None  # the shard's implied YES probability then, if known


@dataclass
class ReportData:
    """Everything a report shows; built by the demo, the replay and evaluate."""

    title: str
    markets: list[MarketInfo]
    fills: list[Fill]
    resolutions: list[Resolution]
    end_t_s: float
    mids: Mapping[str, Sequence[tuple[float, float]]] = field(default_factory=dict)
    quotes: list[Quote] = field(default_factory=list)
    truth: list[TruthMark] = field(default_factory=list)
    latency_ms: Mapping[str, Sequence[float]] = field(default_factory=dict)  # stage → values
    latency_note: str = ""
    summary_rows: list[tuple[str, object]] = field(default_factory=list)
    extra_sections: list[Section] = field(default_factory=list)
    time_label: str = "seconds since start"


@dataclass
class Section:
    """A titled block of HTML (tables, paragraphs) and plotly figures (dicts or Figures)."""

    title: str
    body_html: str = ""
    figures: list[Any] = field(default_factory=list)


# ---- accounting --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """The account at one time, USDC; ``total`` = the components added up."""

    t_s: float
    trading_cash_usdc: float  # sells − buys, before fees
    fees_usdc: float  # paid, cumulative (positive number)
    rebates_usdc: float  # received, cumulative
    settlement_usdc: float  # payouts received, cumulative
    marked_usdc: float  # shares held × mark
    exposure_usdc: float  # cost basis of the shares held

    @property
    def total_usdc(self) -> float:
        return (self.trading_cash_usdc - self.fees_usdc + self.rebates_usdc
                + self.settlement_usdc + self.marked_usdc)


class _Marks:
    """Mark of a token at time t: the last mid sampled at or before t, else the last fill."""

    def __init__(self, mids: Mapping[str, Sequence[tuple[float, float]]]) -> None:
        self._times = {token: [p[0] for p in pts] for token, pts in mids.items()}
        self._values = {token: [p[1] for p in pts] for token, pts in mids.items()}

    def at(self, token: str, t_s: float, fallback: float) -> float:
        times = self._times.get(token)
        if not times:
            return fallback
        index = bisect.bisect_right(times, t_s) - 1
        return self._values[token][index] if index >= 0 else fallback


@dataclass(slots=True)
class _Lot:
    shares: float = 0.0
    cost_usdc: float = 0.0


@dataclass
class Accounts:
    """The run replayed in time order: equity curve, P&L by market / strategy, trades."""

    equity: list[EquityPoint]
    pnl_by_market: dict[str, float]
    pnl_by_strategy: dict[str, float]
    trades: dict[tuple[str, str], float]  # (market, strategy) → P&L
    open_trades: set[tuple[str, str]]  # still holding shares at the end (marked, not closed)

    @property
    def pnl_usdc(self) -> float:
        return self.equity[-1].total_usdc if self.equity else 0.0


def _payout(winner: str | None, outcome: str) -> float:
    if winner is None:
        return 0.5
    return 1.0 if winner == outcome else 0.0


def compute_accounts(data: ReportData) -> Accounts:
    """Replay fills and resolutions in time order (see the module docstring)."""
    marks = _Marks(data.mids)
    lots: dict[tuple[str, str, str], _Lot] = defaultdict(_Lot)  # (token, strategy, outcome)
    token_market = {t: m.market_id for m in data.markets for t in m.token_ids}
    for fill in data.fills:
        token_market.setdefault(fill.token_id, fill.market_id)
    last_price: dict[str, float] = {}
    pnl: dict[tuple[str, str], float] = defaultdict(float)  # realized, (market, strategy)
    cash = fees = rebates = settled = 0.0
    resolved: set[str] = set()
    events: list[tuple[float, int, Fill | Resolution]] = (
        [(f.t_s, 0, f) for f in data.fills] + [(r.t_s, 1, r) for r in data.resolutions])
    events.sort(key=lambda e: (e[0], e[1]))
    end = max([data.end_t_s] + [e[0] for e in events])
    grid = [end * i / EQUITY_GRID_POINTS for i in range(EQUITY_GRID_POINTS + 1)]
    times = sorted(set(grid) | {e[0] for e in events})
    equity: list[EquityPoint] = []
    cursor = 0
    for t in times:
        while cursor < len(events) and events[cursor][0] <= t:
            event = events[cursor][2]
            cursor += 1
            if isinstance(event, Fill):
                delta_cash, delta_fee = _apply_fill(event, lots, pnl)
                cash += delta_cash
                fees += max(delta_fee, 0.0)
                rebates += max(-delta_fee, 0.0)
                last_price[event.token_id] = event.price
            elif event.market_id not in resolved:
                resolved.add(event.market_id)
                settled += _settle(event, lots, token_market, pnl)
        marked = exposure = 0.0
        for (token, _strategy, _outcome), lot in lots.items():
            if lot.shares > _DUST:
                marked += lot.shares * marks.at(token, t, last_price.get(token, 0.0))
                exposure += lot.cost_usdc
        equity.append(EquityPoint(t, cash, fees, rebates, settled, marked, exposure))
    open_trades: set[tuple[str, str]] = set()
    for (token, strategy, _outcome), lot in lots.items():  # unrealized, at the last mark
        if lot.shares > _DUST:
            key = (token_market[token], strategy)
            pnl[key] += lot.shares * marks.at(token, end, last_price.get(token, 0.0))
            pnl[key] -= lot.cost_usdc
            open_trades.add(key)
    by_market: dict[str, float] = defaultdict(float)
    by_strategy: dict[str, float] = defaultdict(float)
    for (market, strategy), value in pnl.items():
        by_market[market] += value
        by_strategy[strategy] += value
    return Accounts(equity, dict(by_market), dict(by_strategy), dict(pnl), open_trades)


def _apply_fill(fill: Fill, lots: dict[tuple[str, str, str], _Lot],
                pnl: dict[tuple[str, str], float]) -> tuple[float, float]:
    """Book one fill; return (trading cash change, fee). A SELL consumes the selling
    strategy's own shares first, then the other strategies' (each at its average cost)."""
    key = (fill.market_id, fill.strategy)
    pnl[key] -= fill.fee_usdc
    if fill.side == "BUY":
        lot = lots[(fill.token_id, fill.strategy, fill.outcome)]
        lot.shares += fill.size
        lot.cost_usdc += fill.size * fill.price
        return -fill.size * fill.price, fill.fee_usdc
    remaining = fill.size
    order = sorted((k for k in lots if k[0] == fill.token_id),
                   key=lambda k: k[1] != fill.strategy)
    for lot_key in order:
        lot = lots[lot_key]
        if remaining <= _DUST or lot.shares <= _DUST:
            continue
        taken = min(remaining, lot.shares)
        basis = lot.cost_usdc * taken / lot.shares
        lot.shares -= taken
        lot.cost_usdc -= basis
        pnl[(fill.market_id, lot_key[1])] += taken * fill.price - basis
        remaining -= taken
    if remaining > _DUST:  # a short sale: proceeds now, nothing held to mark
        pnl[key] += remaining * fill.price
    return fill.size * fill.price, fill.fee_usdc


def _settle(resolution: Resolution, lots: dict[tuple[str, str, str], _Lot],
            token_market: Mapping[str, str], pnl: dict[tuple[str, str], float]) -> float:
    paid = 0.0
    for (token, strategy, outcome), lot in lots.items():
        if token_market.get(token) != resolution.market_id or lot.shares <= _DUST:
            continue
        payout = lot.shares * _payout(resolution.winner, outcome)
        pnl[(resolution.market_id, strategy)] += payout - lot.cost_usdc
        paid += payout
        lot.shares = lot.cost_usdc = 0.0
    return paid


# ---- statistics --------------------------------------------------------------------------


def max_drawdown(values: Sequence[float], start: float = 0.0) -> float:
    """Largest fall from a running peak (the peak starts at ``start``), a positive number."""
    peak, worst = start, 0.0
    for value in values:
        peak = max(peak, value)
        worst = max(worst, peak - value)
    return worst


def profit_factor(trade_pnls: Iterable[float]) -> float | None:
    """Gross profit / gross loss; None when there is no losing trade (undefined)."""
    values = list(trade_pnls)
    gains = sum(v for v in values if v > 0)
    losses = -sum(v for v in values if v < 0)
    return gains / losses if losses > 0 else None


def equity_at(points: Sequence[tuple[float, float]], t_s: float) -> float:
    """Step value of a (t, value) series at ``t_s`` (0 before the first point)."""
    times = [p[0] for p in points]
    index = bisect.bisect_right(times, t_s) - 1
    return points[index][1] if index >= 0 else 0.0


def per_minute_sharpe(points: Sequence[tuple[float, float]], end_t_s: float) -> float | None:
    """Mean / standard deviation of the equity's change per whole minute (not annualized;
    P&L in USDC stands for returns on a fixed bankroll). None with fewer than two minutes or
    no variation."""
    minutes = int(end_t_s // 60)
    if minutes < 2:
        return None
    samples = [equity_at(points, 60.0 * m) for m in range(minutes + 1)]
    changes = [b - a for a, b in zip(samples, samples[1:], strict=False)]
    spread = statistics.stdev(changes)
    return statistics.fmean(changes) / spread if spread > 0 else None


@dataclass(frozen=True, slots=True)
class TradingStats:
    """What a freqtrade or NautilusTrader user looks for first."""

    trades: int  # (market, strategy) positions closed by settlement or selling out
    open_trades: int
    wins: int
    win_rate: float | None
    profit_factor: float | None
    pnl_usdc: float
    max_drawdown_usdc: float
    sharpe_per_minute: float | None
    fills: int
    volume_usdc: float
    fees_usdc: float
    rebates_usdc: float
    max_exposure_usdc: float
    time_in_market: float  # share of the run with any position held


def trading_stats(data: ReportData, accounts: Accounts) -> TradingStats:
    closed = {k: v for k, v in accounts.trades.items() if k not in accounts.open_trades}
    wins = sum(1 for v in closed.values() if v > 0)
    points = [(p.t_s, p.total_usdc) for p in accounts.equity]
    equity = accounts.equity
    held = sum(b.t_s - a.t_s for a, b in zip(equity, equity[1:], strict=False)
               if a.exposure_usdc > _DUST)
    span = equity[-1].t_s - equity[0].t_s if len(equity) > 1 else 0.0
    last = equity[-1] if equity else None
    return TradingStats(
        trades=len(closed), open_trades=len(accounts.open_trades), wins=wins,
        win_rate=wins / len(closed) if closed else None,
        profit_factor=profit_factor(closed.values()), pnl_usdc=accounts.pnl_usdc,
        max_drawdown_usdc=max_drawdown([v for _, v in points]),
        sharpe_per_minute=per_minute_sharpe(points, data.end_t_s),
        fills=len(data.fills), volume_usdc=sum(f.size * f.price for f in data.fills),
        fees_usdc=last.fees_usdc if last else 0.0,
        rebates_usdc=last.rebates_usdc if last else 0.0,
        max_exposure_usdc=max((p.exposure_usdc for p in equity), default=0.0),
        time_in_market=held / span if span > 0 else 0.0)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


# ---- rendering ---------------------------------------------------------------------------


def fmt_usdc(value: float | None) -> str:
    return "—" if value is None else f"{value:+,.2f} USDC"


def fmt_ms(value: float | None) -> str:
    """Latency with a unit a person reads at a glance (µs under 1 ms, s over 1 s)."""
    if value is None:
        return "—"
    if value < 1.0:
        return f"{value * 1000:.0f} µs"
    if value < 1000.0:
        return f"{value:.2f} ms"
    return f"{value / 1000:.2f} s"


def table(rows: Sequence[Mapping[str, object]]) -> str:
    """An HTML table of dict rows (keys of the first row are the columns)."""
    if not rows:
        return "<p>none</p>"
    columns = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def stats_rows(stats: TradingStats) -> list[dict[str, object]]:
    pf = "∞ (no losing trade)" if stats.profit_factor is None and stats.trades else (
        "—" if stats.profit_factor is None else f"{stats.profit_factor:.2f}")
    return [
        {"statistic": "P&L (equity at the end)", "value": fmt_usdc(stats.pnl_usdc)},
        {"statistic": "trades closed (market × strategy)", "value": stats.trades},
        {"statistic": "trades still open (marked at mid)", "value": stats.open_trades},
        {"statistic": "win rate", "value": "—" if stats.win_rate is None
         else f"{stats.win_rate:.0%} ({stats.wins} of {stats.trades})"},
        {"statistic": "profit factor (gross profit / gross loss)", "value": pf},
        {"statistic": "max drawdown", "value": f"{stats.max_drawdown_usdc:,.2f} USDC"},
        {"statistic": "Sharpe on per-minute equity changes (not annualized)",
         "value": "— (under 2 minutes or flat)" if stats.sharpe_per_minute is None
         else f"{stats.sharpe_per_minute:.2f}"},
        {"statistic": "fills", "value": stats.fills},
        {"statistic": "volume", "value": f"{stats.volume_usdc:,.2f} USDC"},
        {"statistic": "fees paid", "value": f"{stats.fees_usdc:,.4f} USDC"},
        {"statistic": "rebates received (the venue pays maker rebates outside fills)",
         "value": f"{stats.rebates_usdc:,.4f} USDC"},
        {"statistic": "max exposure (cost of shares held)",
         "value": f"{stats.max_exposure_usdc:,.2f} USDC"},
        {"statistic": "time in market", "value": f"{stats.time_in_market:.0%}"},
    ]


def _layout(title: str, x_title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title}, "height": 360, "margin": {"l": 60, "r": 20, "t": 50,
                                                                  "b": 90},
            "xaxis": {"title": {"text": x_title}}, "yaxis": {"title": {"text": y_title}},
            "legend": {"orientation": "h", "y": -0.25}, "hovermode": "x unified", **extra}


def equity_figure(accounts: Accounts, time_label: str) -> dict[str, Any]:
    eq = accounts.equity
    t = [p.t_s for p in eq]

    def line(name: str, values: list[float], width: float = 1.5,
             dash: str = "solid") -> dict[str, Any]:
        return {"type": "scatter", "mode": "lines", "name": name, "x": t, "y": values,
                "line": {"width": width, "dash": dash}}

    return {"data": [
        line("equity = cash + marked + settlement", [p.total_usdc for p in eq], 3),
        line("trading cash (sells − buys)", [p.trading_cash_usdc for p in eq], 1, "dot"),
        line("positions marked at mid", [p.marked_usdc for p in eq], 1, "dot"),
        line("settlement received", [p.settlement_usdc for p in eq], 1, "dot"),
        line("fees paid (cumulative, negative)", [-p.fees_usdc for p in eq], 1, "dash"),
        line("rebates received (cumulative)", [p.rebates_usdc for p in eq], 1, "dash"),
    ], "layout": _layout("Equity curve (USDC)", time_label, "USDC"), "div_id": "equity"}


def drawdown_figure(accounts: Accounts, time_label: str) -> dict[str, Any]:
    peak, values = 0.0, []
    for p in accounts.equity:
        peak = max(peak, p.total_usdc)
        values.append(p.total_usdc - peak)
    return {"data": [{"type": "scatter", "mode": "lines", "fill": "tozeroy", "name": "drawdown",
                      "x": [p.t_s for p in accounts.equity], "y": values,
                      "line": {"color": _SELL_COLOR}}],
            "layout": _layout("Drawdown from peak (USDC)", time_label, "USDC",
                              showlegend=False)}


def bar_figure(title: str, bars: Mapping[str, float]) -> dict[str, Any]:
    names = list(bars)
    values = [bars[n] for n in names]
    return {"data": [{"type": "bar", "x": names, "y": values,
                      "marker": {"color": [_BUY_COLOR if v >= 0 else _SELL_COLOR
                                           for v in values]},
                      "text": [f"{v:+.2f}" for v in values], "textposition": "auto"}],
            "layout": _layout(title, "", "USDC", showlegend=False, hovermode="closest")}


def market_figure(data: ReportData, market: MarketInfo) -> dict[str, Any]:
    """Mids of both tokens, our quotes (open markers), our fills (filled markers), the fair
    value the shard held and the truth marks, on one time axis."""
    traces: list[dict[str, Any]] = []
    for outcome, token, label in zip(("YES", "NO"), market.token_ids, market.outcomes,
                                     strict=True):
        points = data.mids.get(token, [])
        traces.append({"type": "scatter", "mode": "lines", "name": f"{label} ({outcome}) mid",
                       "x": [p[0] for p in points], "y": [p[1] for p in points]})
    quotes = [q for q in data.quotes if q.market_id == market.market_id]
    if quotes:
        traces.append({"type": "scatter", "mode": "markers", "name": "our quotes",
                       "x": [q.t_s for q in quotes], "y": [q.price for q in quotes],
                       "marker": {"symbol": "line-ew-open", "size": 12, "color": "#555"},
                       "text": [f"{q.strategy} {q.side} {q.outcome} {q.size:g}@{q.price:g}"
                                for q in quotes], "hoverinfo": "text"})
    for side, color, symbol in (("BUY", _BUY_COLOR, "triangle-up"),
                                ("SELL", _SELL_COLOR, "triangle-down")):
        fills = [f for f in data.fills if f.market_id == market.market_id and f.side == side]
        if fills:
            traces.append({
                "type": "scatter", "mode": "markers", "name": f"our fills ({side})",
                "x": [f.t_s for f in fills], "y": [f.price for f in fills],
                "marker": {"symbol": symbol, "size": 10, "color": color},
                "text": [f"{f.strategy} {f.side} {f.outcome} {f.size:g}@{f.price:g} "
                         f"fee {f.fee_usdc:g}" for f in fills], "hoverinfo": "text"})
    truth = [m for m in data.truth if m.market_id == market.market_id]
    fair = [m for m in truth if m.fair_yes is not None]
    if fair:
        traces.append({"type": "scatter", "mode": "lines", "line": {"shape": "hv", "dash": "dot"},
                       "name": "fair value YES (shard)", "x": [m.t_s for m in fair],
                       "y": [m.fair_yes for m in fair]})
    labelled = [m for m in truth if m.label]
    if labelled:
        traces.append({"type": "scatter", "mode": "markers", "name": "truth timeline",
                       "x": [m.t_s for m in labelled], "y": [0.02] * len(labelled),
                       "marker": {"symbol": "diamond", "size": 8, "color": "#444"},
                       "text": [m.label for m in labelled], "hoverinfo": "x+text"})
    shapes = [{"type": "line", "xref": "x", "yref": "paper", "x0": r.t_s, "x1": r.t_s,
               "y0": 0, "y1": 1, "line": {"color": "#000", "dash": "dash", "width": 1}}
              for r in data.resolutions if r.market_id == market.market_id]
    return {"data": traces, "layout": _layout(
        f"{market.name}: prices, our quotes and fills, truth", data.time_label, "price",
        shapes=shapes, yaxis={"title": {"text": "price"}, "range": [0, 1]},
        hovermode="closest")}


def latency_figure(stages: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    return {"data": [{"type": "box", "name": name, "y": list(values), "boxpoints": "outliers"}
                     for name, values in stages.items() if values],
            "layout": _layout("Latency by stage (ms, log scale)", "", "ms",
                              yaxis={"type": "log", "title": {"text": "ms"}},
                              showlegend=False, hovermode="closest")}


def latency_rows(stages: Mapping[str, Sequence[float]]) -> list[dict[str, object]]:
    return [{"stage": name, "count": len(values), "p50": fmt_ms(percentile(values, 50)),
             "p90": fmt_ms(percentile(values, 90)), "p99": fmt_ms(percentile(values, 99)),
             "max": fmt_ms(max(values) if values else None)}
            for name, values in stages.items()]


def _div(figure: Any, div_id: str) -> str:
    spec = figure if isinstance(figure, dict) else figure.to_plotly_json()
    div_id = str(spec.get("div_id", div_id))
    payload = orjson.dumps({"data": spec.get("data", []), "layout": spec.get("layout", {})},
                           option=orjson.OPT_SERIALIZE_NUMPY).decode()
    return (f"<div class='chart' id='{div_id}'></div><script>(function(f){{Plotly.newPlot("
            f"'{div_id}', f.data, f.layout, {{responsive: true, displaylogo: false}});}})("
            f"{_script_safe(payload)});</script>")


def _script_safe(payload: str) -> str:
    return payload.replace("</", "<\\/")


def render_html(title: str, sections: Sequence[Section], data_json: Mapping[str, Any]) -> str:
    """One HTML document: plotly.js inline (offline), each figure drawn from its JSON, and
    ``data_json`` in ``<script id="report-data">`` for tools and tests."""
    from plotly.offline import get_plotlyjs

    blocks: list[str] = []
    count = 0
    for section in sections:
        charts = []
        for figure in section.figures:
            count += 1
            charts.append(_div(figure, f"fig{count}"))
        blocks.append(f"<h2>{html.escape(section.title)}</h2>{section.body_html}"
                      + "".join(charts))
    data = _script_safe(orjson.dumps(data_json).decode())
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;margin:2em auto;max-width:1100px;padding:0 1em}"
        "table{border-collapse:collapse;font-size:13px;margin:.5em 0}"
        "td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}"
        "th{background:#f4f4f4}.chart{margin:1em 0}.note{color:#555;font-size:13px}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<h1>{html.escape(title)}</h1>{''.join(blocks)}"
        f"<script type='application/json' id='report-data'>{data}</script>"
        "<script>(function(){var d=JSON.parse(document.getElementById('report-data')"
        ".textContent);var g=document.getElementById('equity');var y=g&&g.data?"
        "g.data[0].y:[];document.body.setAttribute('data-equity-last',"
        "y.length?String(y[y.length-1]):'');document.body.setAttribute('data-pnl',"
        "String(d.pnl_usdc));})();</script></body></html>")


def report_sections(data: ReportData) -> tuple[list[Section], Accounts, TradingStats]:
    """The standard sections, in reading order, with the figures they were computed from."""
    accounts = compute_accounts(data)
    stats = trading_stats(data, accounts)
    names = {m.market_id: m.name for m in data.markets}
    summary = [{"what": k, "value": v} for k, v in data.summary_rows]
    sections = [Section("Summary", table(summary) if summary else ""),
                Section("Trading statistics", table(stats_rows(stats))),
                Section("Equity", "<p class='note'>Equity = trading cash + positions marked at "
                        "mid + settlement received, fees and rebates drawn apart; it ends at "
                        "the run's P&amp;L.</p>",
                        [equity_figure(accounts, data.time_label),
                         drawdown_figure(accounts, data.time_label)])]
    by_market = {names.get(k, k[:12]): v for k, v in accounts.pnl_by_market.items()}
    sections.append(Section(
        "P&L by market and by strategy",
        "<p class='note'>Settlement is credited to the strategy whose fills opened the "
        "position; positions still open are marked at the last mid.</p>",
        [bar_figure("P&L by market (USDC)", by_market),
         bar_figure("P&L by strategy (USDC)", accounts.pnl_by_strategy)]))
    sections.append(Section("Markets", "", [market_figure(data, m) for m in data.markets]))
    if data.latency_ms:
        sections.append(Section(
            "Latency", f"<p class='note'>{html.escape(data.latency_note)}</p>"
            + table(latency_rows(data.latency_ms)), [latency_figure(data.latency_ms)]))
    sections.extend(data.extra_sections)
    rows = [{"t (s)": round(f.t_s, 3), "market": names.get(f.market_id, f.market_id[:12]),
             "strategy": f.strategy, "side": f.side, "outcome": f.outcome, "size": f.size,
             "price": f.price, "fee (USDC)": f.fee_usdc}
            for f in sorted(data.fills, key=lambda f: f.t_s)[:MAX_FILL_ROWS]]
    sections.append(Section(f"Fills (first {MAX_FILL_ROWS})", table(rows)))
    return sections, accounts, stats


def render_report(data: ReportData) -> tuple[str, Accounts, TradingStats]:
    """The whole report, and the figures it shows (callers put them in their summaries)."""
    sections, accounts, stats = report_sections(data)
    data_json = {"pnl_usdc": accounts.pnl_usdc,
                 "equity": {"t_s": [p.t_s for p in accounts.equity],
                            "total_usdc": [p.total_usdc for p in accounts.equity]},
                 "pnl_by_market": accounts.pnl_by_market,
                 "pnl_by_strategy": accounts.pnl_by_strategy}
    return render_html(data.title, sections, data_json), accounts, stats


def truth_audit_section(audit: Mapping[str, Any]) -> Section:
    """The truth audit (ops/truth_audit.py): intents on stale or never-true facts, wrong or
    premature finals, against the simulator's timeline; or why the run has none."""
    if "error" in audit:
        return Section("Truth audit", f"<p class='note'>not audited: "
                                      f"{html.escape(str(audit['error']))}</p>")
    staleness = audit.get("staleness_ms") or {}
    rows = [{"what": "intents / audited (carrying discrete facts)",
             "value": f"{audit['intents']} / {audit['audited']}"},
            {"what": "intents on a never-true fact", "value": audit["never_true_intents"]},
            {"what": f"intents on inputs stale > {audit['stale_threshold_ms']:g} ms "
                     "(max / p50 ms)",
             "value": f"{audit['stale_input_intents']} ({staleness.get('max')} / "
                      f"{staleness.get('p50')})"},
            {"what": "finals / wrong / premature",
             "value": f"{audit['finals']} / {audit['wrong_finals']} / "
                      f"{audit['premature_finals']}"}]
    examples = "".join(f"<li>{html.escape(str(e))}</li>"
                       for e in audit.get("never_true_examples") or [])
    return Section("Truth audit",
                   "<p class='note'>Each intent's facts against the simulator's true match "
                   "timeline (scenario time; ops/truth_audit.py).</p>" + table(rows)
                   + (f"<ul>{examples}</ul>" if examples else ""))


# ---- shared by the callers ---------------------------------------------------------------


def classify_intents(intents: Sequence[Any]) -> tuple[list[Any], dict[str, int]]:
    """(first attempts, counts by kind). A first attempt is the first intent of a (token,
    strategy, originating tick), so both legs of a pair count; later intents on the same tick
    (retries after a refusal, timer re-evaluations) and rebalances keep the original tick's
    stamp, so their age measures the wait, not our speed: they are counted apart."""
    firsts: list[Any] = []
    counts = {"first_attempts": 0, "retries": 0, "rebalances": 0, "without_tick": 0}
    seen: set[tuple[str, str, int]] = set()  # (token, strategy, originating tick)
    for intent in sorted(intents, key=lambda i: i.t_decision_ns):
        if intent.strategy.value == "rebalance":
            counts["rebalances"] += 1
        elif not intent.t_origin_ns:
            counts["without_tick"] += 1
        elif (key := (intent.token_id, intent.strategy.value, intent.t_origin_ns)) in seen:
            counts["retries"] += 1
        else:
            seen.add(key)
            firsts.append(intent)
    counts["first_attempts"] = len(firsts)
    return firsts, counts


def intent_latency_ms(
    intents: Sequence[Any], first_report_ns: Mapping[str, int] | None = None,
) -> tuple[dict[str, list[float]], str]:
    """Latency stages (ms) of OrderIntents (tick→intent: first attempts only, see
    :func:`classify_intents`), and a note saying what was counted. ``first_report_ns``:
    intent id → the time of the engine's first ExecutionReport for it (same clock)."""
    firsts, counts = classify_intents(intents)
    stages: dict[str, list[float]] = {
        "tick→intent (first attempts)": [(i.t_sent_ns - i.t_origin_ns) / 1e6 for i in firsts
                                         if i.t_sent_ns >= i.t_origin_ns]}
    parsed = [i for i in firsts if i.t_parsed_ns and i.t_shm_ns]
    if parsed:
        stages["venue frame → parsed (gateway)"] = _gaps(parsed, "t_origin_ns", "t_parsed_ns")
        stages["parsed → shm book (gateway)"] = _gaps(parsed, "t_parsed_ns", "t_shm_ns")
        stages["shm book → decision (shard)"] = _gaps(parsed, "t_shm_ns", "t_decision_ns")
    if first_report_ns:
        stages["intent sent → first engine report"] = [
            (first_report_ns[i.intent_id] - i.t_sent_ns) / 1e6 for i in firsts
            if i.intent_id in first_report_ns and first_report_ns[i.intent_id] >= i.t_sent_ns]
    note = (f"{counts['first_attempts']} first-attempt intents measured; counted apart: "
            f"{counts['retries']} retries of an already-answered tick, {counts['rebalances']} "
            f"rebalances, {counts['without_tick']} without a tick stamp (they keep an older "
            "tick's stamp, so their age is not our latency).")
    return {k: v for k, v in stages.items() if v or k.startswith("tick")}, note


def market_infos(config: Config) -> list[MarketInfo]:
    """MarketInfo of each configured market: named by its teams, tokens by what they pay on."""
    return [MarketInfo(m.market_id, " vs ".join(m.teams), (m.token_ids[0], m.token_ids[1]),
                       (m.outcomes[0], m.outcomes[1]))
            for m in config.markets]


def _gaps(intents: Sequence[Any], start: str, end: str) -> list[float]:
    """``end − start`` stamps in ms, where both are set and in order."""
    values = []
    for intent in intents:
        a, b = getattr(intent, start), getattr(intent, end)
        if a and b >= a:
            values.append((b - a) / 1e6)
    return values
