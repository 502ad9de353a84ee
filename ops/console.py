"""The demo's operator console (rich): a live layout that fits the terminal, the ``--no-ui``
line printer, and the closing summary table.

Everything shown is read from outside the processes (their /health and /status, the
observer's bus subscription), so the console can never disturb trading. Labels say what a
number is: trading cash is not P&L, a one-sided position is not a locked pair, confidence is
the Truth Engine's confidence in a *final result* (so it is shown only once a result is
pending or final), latency carries its unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from rich.console import Console, Group
from rich.layout import Layout
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ops.report import fmt_ms, fmt_usdc
from polyloly.config import Config

_CONFIDENCE_STATES = ("PENDING_CONFIRM", "FINAL")  # confidence is about a final result
_KIND_STYLE = {"fill": "green", "order": "cyan", "reject": "yellow", "alert": "bold red",
               "resolved": "magenta", "feed": "blue"}
_DUST = 1e-9


@dataclass(frozen=True, slots=True)
class MarketRow:
    """One market as the console shows it."""

    name: str
    truth: str
    confidence: float | None  # None: no final result pending, nothing to be confident about
    fair_yes: float | None
    mid_yes: float | None
    position: str
    pair_cost: float | None  # cost per pair of the locked pairs held (< 1 is the edge)
    pnl_usdc: float | None  # realized + marked


@dataclass
class ConsoleView:
    """A snapshot of the run for one frame."""

    title: str
    elapsed_s: float
    duration_s: float
    processes: list[tuple[str, str]]  # name, up / DOWN / unhealthy
    feeds: list[tuple[str, bool, float | None]]  # name, stale, age of its last event (s)
    markets: list[MarketRow]
    events: list[tuple[float, str, str]]
    realized_usdc: float | None = None
    unrealized_usdc: float | None = None
    fees_usdc: float | None = None
    trading_cash_usdc: float = 0.0
    fills: int = 0
    orders: int = 0
    latency_p50_ms: dict[str, float] = field(default_factory=dict)


def position_label(yes: float, no: float, outcomes: tuple[str, str]) -> str:
    """What we hold: a pair only when both legs are held, and how many pairs are locked."""
    if yes <= _DUST and no <= _DUST:
        return "flat"
    if yes > _DUST and no > _DUST:
        pairs = min(yes, no)
        extra = abs(yes - no)
        if extra <= _DUST:
            return f"{pairs:g} pairs"
        heavy = outcomes[0] if yes > no else outcomes[1]
        return f"{pairs:g} pairs +{extra:g} {heavy}"
    side, shares = (outcomes[0], yes) if yes > _DUST else (outcomes[1], no)
    return f"{shares:g} {side} only"


def _mid(observer: Any, token: str) -> float | None:
    series = observer.mids.get(token) if observer is not None else None
    return series[-1][1] if series else None


def build_view(config: Config, statuses: Mapping[str, Any], health: Mapping[str, int],
               observer: Any, elapsed_s: float, duration_s: float, title: str) -> ConsoleView:
    """Gather one frame from the processes' /status bodies, their /health codes and the
    observer."""
    rows: dict[str, dict[str, Any]] = {}
    latency: dict[str, float] = {}
    for name, body in statuses.items():
        if not isinstance(body, dict):
            continue
        if name.startswith("shard-"):
            for row in body.get("markets", []) or []:
                rows[str(row.get("market_id"))] = row
            if body.get("tick_to_intent_p50_us") is not None:
                latency[name] = float(body["tick_to_intent_p50_us"]) / 1000
    engine = statuses.get("engine") if isinstance(statuses.get("engine"), dict) else {}
    assert isinstance(engine, dict)
    pnl = engine.get("pnl") or {}
    realized_by_market = pnl.get("by_market") or {}
    held: dict[str, tuple[float, float]] = {}  # token → (shares, cost)
    for position in engine.get("positions", []) or []:
        held[str(position.get("token_id"))] = (float(position.get("shares") or 0.0),
                                               float(position.get("cost_usdc") or 0.0))
    markets = []
    for market in config.markets:
        row = rows.get(market.market_id, {})
        yes_token, no_token = market.token_ids
        (yes, yes_cost), (no, no_cost) = held.get(yes_token, (0.0, 0.0)), held.get(
            no_token, (0.0, 0.0))
        pair_cost = (yes_cost / yes + no_cost / no) if yes > _DUST and no > _DUST else None
        marked = 0.0
        for token, shares, cost in ((yes_token, yes, yes_cost), (no_token, no, no_cost)):
            mid = _mid(observer, token)
            if shares > _DUST and mid is not None:
                marked += shares * mid - cost
        realized = realized_by_market.get(market.market_id)
        truth = str(row.get("truth_status") or "-")
        implied = row.get("implied_probability")
        markets.append(MarketRow(
            name=" vs ".join(market.teams), truth=truth,
            confidence=float(row.get("confidence") or 0.0) if truth in _CONFIDENCE_STATES
            else None,
            fair_yes=None if implied is None else float(implied),
            mid_yes=_mid(observer, yes_token),
            position=position_label(yes, no, (market.outcomes[0], market.outcomes[1])),
            pair_cost=pair_cost,
            pnl_usdc=None if realized is None and not held else float(realized or 0.0) + marked))
    stats = observer.stats() if observer is not None else {}
    sources = {name: False for name in config.providers if config.providers[name].enabled}
    sources.update(stats.get("sources", {}))
    ages = stats.get("source_age_s", {})
    return ConsoleView(
        title=title, elapsed_s=elapsed_s, duration_s=duration_s,
        processes=[(name, "up" if code == 200 else "DOWN" if code == 0 else "unhealthy")
                   for name, code in health.items()],
        feeds=[(name, stale, ages.get(name)) for name, stale in sorted(sources.items())],
        markets=markets, events=observer.recent_events(200) if observer is not None else [],
        realized_usdc=pnl.get("realized_usdc"), unrealized_usdc=pnl.get("unrealized_usdc"),
        fees_usdc=pnl.get("fees_usdc"), trading_cash_usdc=float(stats.get("cash_usdc", 0.0)),
        fills=int(stats.get("fills", 0)), orders=int(stats.get("orders", 0)),
        latency_p50_ms=latency)


def _num(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _markets_table(view: ConsoleView, max_rows: int, width: int) -> Table:
    table = Table(expand=True, box=None, pad_edge=False, show_edge=False,
                  header_style="bold", padding=(0, 1))
    wide = width >= 140
    table.add_column("market", ratio=3, no_wrap=True, overflow="ellipsis")
    table.add_column("truth", ratio=2, no_wrap=True, overflow="ellipsis")
    table.add_column("conf", justify="right", no_wrap=True, min_width=4)
    table.add_column("fair Y" if not wide else "fair value YES", justify="right", no_wrap=True)
    table.add_column("mid Y" if not wide else "mid YES", justify="right", no_wrap=True)
    table.add_column("position", ratio=3, no_wrap=True, overflow="ellipsis")
    table.add_column("pair $" if not wide else "pair cost", justify="right", no_wrap=True)
    table.add_column("P&L $" if not wide else "P&L (USDC)", justify="right", no_wrap=True)
    shown = view.markets if len(view.markets) <= max_rows else view.markets[:max_rows - 1]
    for row in shown:
        pnl = Text(_num(row.pnl_usdc, "+.2f"),
                   style="" if row.pnl_usdc is None else "green" if row.pnl_usdc >= 0 else "red")
        table.add_row(row.name, row.truth, _num(row.confidence, ".2f"),
                      _num(row.fair_yes, ".3f"), _num(row.mid_yes, ".3f"), row.position,
                      _num(row.pair_cost, ".4f"), pnl)
    if len(shown) < len(view.markets):
        table.add_row(f"… {len(view.markets) - len(shown)} more markets", "", "", "", "", "",
                      "", "")
    return table


def _status_lines(view: ConsoleView) -> Group:
    processes = Text("processes ", style="bold")
    for name, state in view.processes:
        processes.append(f"{name}:", style="")
        processes.append(f"{state} ", style="green" if state == "up" else "bold red")
    feeds = Text("feeds ", style="bold")
    for name, stale, age in view.feeds:
        feeds.append(f"{name}:")
        feeds.append("STALE" if stale else "ok", style="bold red" if stale else "green")
        feeds.append(f" {age:.0f}s " if age is not None else " — ")
    money = Text("P&L ", style="bold")
    money.append(f"realized {fmt_usdc(view.realized_usdc)} (settlement incl.) · "
                 f"unrealized {fmt_usdc(view.unrealized_usdc)} (marked at mid) · fees "
                 f"{_num(view.fees_usdc, '.4f')}")
    flow = Text("cash ", style="bold")
    flow.append(f"trading cash {view.trading_cash_usdc:+.2f} (buys are cash out, not loss) · "
                f"orders {view.orders} fills {view.fills}")
    latency = Text("tick→intent p50 ", style="bold")
    latency.append("  ".join(f"{name} {fmt_ms(ms)}" for name, ms in
                             sorted(view.latency_p50_ms.items())) or "—")
    for line in (processes, feeds, money, flow, latency):
        line.no_wrap = True
        line.overflow = "ellipsis"
    return Group(processes, feeds, money, flow, latency)


def _events(view: ConsoleView, rows: int) -> Group:
    lines = []
    for t_s, kind, text in view.events[-rows:] if rows > 0 else []:
        line = Text(f"{t_s:7.1f}s ", style="dim")
        line.append(f"{kind.upper():<8} ", style=_KIND_STYLE.get(kind, ""))
        line.append(text)
        line.no_wrap = True
        line.overflow = "ellipsis"
        lines.append(line)
    if not lines:
        lines.append(Text("no orders, fills or alerts yet", style="dim"))
    return Group(*lines)


def _progress(view: ConsoleView) -> Table:
    grid = Table.grid(expand=True)
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1)
    grid.add_column(no_wrap=True)
    total = max(view.duration_s, 1e-9)
    done = min(view.elapsed_s, total)
    grid.add_row(Text("scenario ", style="bold"), ProgressBar(total=total, completed=done),
                 Text(f" {done / total:4.0%} {view.elapsed_s:5.0f}/{view.duration_s:.0f} s"))
    return grid


STATUS_LINES = 5


def render(view: ConsoleView, width: int, height: int) -> Layout:
    """The whole frame, sized to ``width`` × ``height`` (every line fits: rows are cropped and
    long names end in an ellipsis, never wrap)."""
    min_events = 3
    # title, status lines, market header, progress; the rest is markets then events
    fixed = 1 + STATUS_LINES + 1 + 1
    market_rows = max(1, min(len(view.markets), height - fixed - min_events))
    layout = Layout()
    title = Text(view.title, style="bold", no_wrap=True, overflow="ellipsis")
    layout.split_column(
        Layout(title, name="title", size=1),
        Layout(_status_lines(view), name="status", size=STATUS_LINES),
        Layout(_markets_table(view, market_rows, width), name="markets",
               size=market_rows + 1),
        Layout(_events(view, max(0, height - fixed - market_rows)), name="events", ratio=1),
        Layout(_progress(view), name="progress", size=1),
    )
    return layout


class LiveConsole:
    """The live view: redraws the whole frame in the terminal's alternate screen."""

    def __init__(self, console: Console | None = None) -> None:
        from rich.live import Live

        self.console = console or Console()
        self._live = Live(console=self.console, screen=True, auto_refresh=False,
                          redirect_stdout=False, redirect_stderr=False)

    def __enter__(self) -> LiveConsole:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()

    def update(self, view: ConsoleView) -> None:
        size = self.console.size
        self._live.update(render(view, size.width, size.height), refresh=True)


class LinePrinter:
    """``--no-ui``: one short line per order event, fill or alert as it happens, and a
    progress line every ``progress_every_s`` seconds of the run."""

    def __init__(self, stream: IO[str], progress_every_s: float = 10.0) -> None:
        self._stream = stream
        self._every = progress_every_s
        self._next_progress = 0.0
        self._printed_at = -1.0
        self.seen = 0

    def events(self, events: Sequence[tuple[float, str, str]]) -> None:
        for t_s, kind, text in events:
            if kind == "order":
                continue  # orders are many; their fills and rejections are what matters
            self._stream.write(f"[{t_s:7.1f}s] {kind.upper():<8} {text}\n")
        self._stream.flush()

    def progress(self, view: ConsoleView, force: bool = False) -> None:
        """A progress line when due (``force``: now, unless this very frame was printed)."""
        if view.elapsed_s < self._next_progress and (
                not force or view.elapsed_s == self._printed_at):
            return
        self._printed_at = view.elapsed_s
        self._next_progress = view.elapsed_s + self._every
        total = max(view.duration_s, 1e-9)
        share = min(view.elapsed_s / total, 1.0)
        down = [name for name, state in view.processes if state != "up"]
        pnl = None
        if view.realized_usdc is not None:
            pnl = view.realized_usdc + (view.unrealized_usdc or 0.0)
        self._stream.write(
            f"[{view.elapsed_s:7.1f}s] PROGRESS {share:4.0%} of {view.duration_s:.0f}s · "
            f"orders {view.orders} fills {view.fills} · P&L (realized + marked) "
            f"{fmt_usdc(pnl)}" + (f" · DOWN: {', '.join(down)}" if down else "") + "\n")
        self._stream.flush()


def summary_table(summary: Mapping[str, Any]) -> Table:
    """The closing table a person reads instead of the JSON."""
    table = Table(title=f"PolyLOL demo {summary.get('run_id', '')}: {summary.get('scenario')}",
                  show_header=False, title_justify="left")
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value")
    stats = summary.get("trading_stats") or {}
    latency = summary.get("tick_to_intent_ms") or {}
    markets = summary.get("markets") or []

    def by(counts: Mapping[str, int] | None) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted((counts or {}).items())) or "none"

    pf = stats.get("profit_factor")
    rows: list[tuple[str, str]] = [
        ("markets resolved", f"{sum(1 for m in markets if m.get('resolved'))} of {len(markets)}"),
        ("intents", f"{summary.get('intents', 0)} ({by(summary.get('intents_by_strategy'))})"),
        ("orders / fills", f"{summary.get('orders', 0)} / {summary.get('fills', 0)} "
                           f"({by(summary.get('fills_by_strategy'))})"),
        ("P&L (equity at the end)", fmt_usdc(summary.get("pnl_usdc"))),
        ("  engine realized (settlement incl.)", fmt_usdc(summary.get("realized_pnl_usdc"))),
        ("  engine unrealized (marked at mid)", fmt_usdc(summary.get("unrealized_pnl_usdc"))),
        ("  fees paid", f"{float(summary.get('fees_usdc') or 0.0):.4f} USDC"),
        ("P&L by strategy", ", ".join(f"{k} {v:+.2f}" for k, v in sorted(
            (summary.get("pnl_by_strategy_usdc") or {}).items())) or "none"),
        ("trades (won)", f"{stats.get('trades', 0)} ({stats.get('wins', 0)})"),
        ("profit factor", "—" if pf is None else f"{pf:.2f}"),
        ("max drawdown", f"{float(stats.get('max_drawdown_usdc') or 0.0):.2f} USDC"),
        ("tick→intent p50 / p99 (first attempts)",
         f"{fmt_ms(latency.get('p50'))} / {fmt_ms(latency.get('p99'))} "
         f"(n={latency.get('count', 0)})"),
        ("shard restarts / dead letters",
         f"{summary.get('shard_restarts', 0)} / {summary.get('dead_letters', 0)}"),
    ]
    for what, value in rows:
        table.add_row(what, value)
    return table


def print_summary(summary: Mapping[str, Any], paths: Sequence[tuple[str, str]],
                  console: Console | None = None) -> None:
    """The summary table, then where the files are."""
    out = console or Console()
    out.print(summary_table(summary))
    for label, path in paths:
        out.print(f"{label:<8} {path}", soft_wrap=True, highlight=False)

