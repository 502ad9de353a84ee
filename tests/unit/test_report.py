"""The HTML report renders every chart kind, escapes text, and survives empty data."""

from __future__ import annotations

from ops.report import (
    Marker,
    Section,
    bar_chart,
    histogram,
    line_chart,
    render_html,
    table,
)


def test_report_renders_charts_and_escapes_names() -> None:
    chart = line_chart("prices <yes>", {"mid": [(0, 0.5), (1, 0.6)]}, [Marker(1, 0.6, "buy")])
    hist = histogram("latency", [1e-5, 2e-5, 1e-3, 5e-2])
    bars = bar_chart("pnl", {"m1": 1.5, "m2": -0.5})
    page = render_html("run <1>", [Section("s", table([{"a": 1.0, "b": None}]), [chart, hist,
                                                                                  bars])])
    assert page.count("<svg") == 3
    assert "run &lt;1&gt;" in page and "prices &lt;yes&gt;" in page
    assert "log bins" in hist and "<polygon" in chart


def test_empty_data_renders_a_placeholder() -> None:
    assert "no data" in line_chart("x", {})
    assert "no data" in histogram("x", [])
    assert "no data" in bar_chart("x", {})
    assert table([]) == "<p>none</p>"
