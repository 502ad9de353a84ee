"""ops/console.py: the live frame fits 100×30 and 200×50 terminals, labels what it shows
truthfully, --no-ui prints a line per fill/alert and progress, the summary is a table."""

from __future__ import annotations

import io

import pytest
from rich.cells import cell_len
from rich.console import Console

from ops.console import (
    ConsoleView,
    LinePrinter,
    MarketRow,
    position_label,
    print_summary,
    render,
)


def _view(markets: int, events: int) -> ConsoleView:
    rows = [MarketRow(f"Team Number {i} With A Long Name vs Another Very Long Team {i}",
                      "PENDING_CONFIRM" if i % 2 else "LIVE", 0.85 if i % 2 else None,
                      0.61, 0.55, position_label(10.0, 4.0, ("Team A", "Team B")), 0.9731,
                      -1.25 + i) for i in range(markets)]
    return ConsoleView(
        title="PolyLOL demo 20990101-000000-abcdef · demo_short · PAPER trading · x1",
        elapsed_s=42.0, duration_s=120.0,
        processes=[("engine", "up"), ("gateway", "up"), ("shard-0", "DOWN"), ("shard-1", "up")],
        feeds=[("grid", False, 0.4), ("lolesports", True, 31.0), ("pandascore", False, None)],
        markets=rows,
        events=[(float(i), "fill" if i % 3 else "alert",
                 f"market {i}: pair_arb BUY YES 10 @ 0.480 (fee 0.0075) " + "x" * 150)
                for i in range(events)],
        realized_usdc=86.28, unrealized_usdc=-1.5, fees_usdc=2.3456, trading_cash_usdc=-232.86,
        fills=40, orders=55, latency_p50_ms={"shard-0": 1.55, "shard-1": 3011.4})


@pytest.mark.parametrize(("width", "height"), [(100, 30), (200, 50), (80, 24)])
@pytest.mark.parametrize(("markets", "events"), [(4, 3), (4, 100), (100, 500), (0, 0)])
def test_the_frame_fits_the_terminal(width: int, height: int, markets: int, events: int) -> None:
    console = Console(width=width, height=height, file=io.StringIO(), record=True,
                      color_system=None, legacy_windows=False)
    console.print(render(_view(markets, events), width, height))
    lines = console.export_text().splitlines()
    assert len(lines) <= height
    assert max(cell_len(line) for line in lines) <= width
    text = "\n".join(lines)
    assert "scenario" in text and "35%" in text  # the progress bar's line is on screen
    if markets:
        assert "Team Number 0" in text


def test_the_frame_says_what_each_number_is() -> None:
    console = Console(width=200, height=50, file=io.StringIO(), record=True, color_system=None)
    console.print(render(_view(4, 5), 200, 50))
    text = console.export_text()
    assert "realized +86.28 USDC (settlement incl.)" in text
    assert "trading cash -232.86 (buys are cash out, not loss)" in text
    assert "shard-1 3.01 s" in text and "shard-0 1.55 ms" in text  # units, not raw µs
    assert "lolesports:STALE 31s" in text
    assert "shard-0:DOWN" in text
    live_row = next(line for line in text.splitlines() if " LIVE " in line)
    assert "0.85" not in live_row  # no confidence shown while no result is pending


def test_position_labels_never_call_one_side_a_pair() -> None:
    assert position_label(12.0, 0.0, ("G2", "FNC")) == "12 G2 only"
    assert position_label(0.0, 5.0, ("G2", "FNC")) == "5 FNC only"
    assert position_label(10.0, 10.0, ("G2", "FNC")) == "10 pairs"
    assert position_label(10.0, 4.0, ("G2", "FNC")) == "4 pairs +6 G2"
    assert position_label(0.0, 0.0, ("G2", "FNC")) == "flat"


def test_no_ui_prints_fills_alerts_and_progress_but_not_every_order() -> None:
    stream = io.StringIO()
    printer = LinePrinter(stream, progress_every_s=10.0)
    printer.events([(1.0, "order", "placed"), (2.0, "fill", "G2 vs FNC: pair_arb BUY YES 10"),
                    (3.0, "alert", "feed grid STALE")])
    view = _view(1, 0)
    printer.progress(view)
    printer.progress(view)  # within 10 s of the last one: nothing
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[    2.0s] FILL     G2 vs FNC: pair_arb BUY YES 10"
    assert lines[1] == "[    3.0s] ALERT    feed grid STALE"
    assert lines[2].startswith("[   42.0s] PROGRESS  35% of 120s · orders 55 fills 40")
    assert "+84.78 USDC" in lines[2] and "DOWN: shard-0" in lines[2]
    assert len(lines) == 3


def test_summary_is_a_table_with_the_file_paths() -> None:
    out = io.StringIO()
    summary = {"run_id": "r1", "scenario": "demo_short", "intents": 12,
               "intents_by_strategy": {"pair_arb": 8, "temporal_arb": 4}, "orders": 10,
               "fills": 9, "pnl_usdc": 86.28, "realized_pnl_usdc": 86.28,
               "unrealized_pnl_usdc": 0.0, "fees_usdc": 1.2,
               "pnl_by_strategy_usdc": {"pair_arb": 50.0, "temporal_arb": 36.28},
               "markets": [{"resolved": True}, {"resolved": False}],
               "trading_stats": {"trades": 5, "wins": 4, "profit_factor": 3.5,
                                 "max_drawdown_usdc": 2.0},
               "tick_to_intent_ms": {"count": 12, "p50": 1.5, "p99": 9.2}}
    print_summary(summary, [("report", "runs/r1/report.html")],
                  Console(file=out, width=100, color_system=None))
    text = out.getvalue()
    assert "{" not in text  # not JSON
    assert "P&L (equity at the end)" in text and "+86.28 USDC" in text
    assert "markets resolved" in text and "1 of 2" in text
    assert "1.50 ms / 9.20 ms" in text
    assert "report   runs/r1/report.html" in text
