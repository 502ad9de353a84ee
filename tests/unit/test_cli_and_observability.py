"""The CLI lists existing subcommands; the exporter serves metrics and health on loopback."""

from __future__ import annotations

import urllib.request

import pytest

from ops.cli import available_commands, main
from polyloly import metrics
from polyloly.clock import ManualClock
from polyloly.httpserve import ObservabilityServer


def test_help_lists_only_existing_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "config" in out
    for name in available_commands():
        assert f"  {name} " in out


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_exporter_serves_seed_metric_names_and_health() -> None:
    metrics.ws_reconnects.labels(feed="market").inc()
    healthy = {"healthy": True}
    servers = [ObservabilityServer("127.0.0.1", 0, lambda: dict(healthy),
                                   registry=metrics.registry_for(process)).start()
               for process in ("engine", "gateway", "shard")]
    server = servers[0]
    try:
        base = f"http://127.0.0.1:{server.port}"
        body = "".join(  # each seed metric is served by the process that owns it
            urllib.request.urlopen(f"http://127.0.0.1:{s.port}/metrics", timeout=5).read().decode()
            for s in servers)
        for name in (
            "polyloly_orders_total", "polyloly_fills_total", "polyloly_order_latency_seconds",
            "polyloly_slippage_bps", "polyloly_pnl_realized_usdc", "polyloly_pnl_unrealized_usdc",
            "polyloly_daily_pnl_usdc", "polyloly_event_lag_ms", "polyloly_ws_reconnects_total",
            "polyloly_circuit_breaker_trips_total", "polyloly_truth_confidence",
        ):
            assert name in body
        assert urllib.request.urlopen(f"{base}/health", timeout=5).status == 200
        healthy["healthy"] = False
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{base}/health", timeout=5)
        assert info.value.code == 503
    finally:
        for each in servers:
            each.stop()


def test_exporter_refuses_non_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        ObservabilityServer("0.0.0.0", 0, lambda: {})


def test_manual_clock_never_goes_back() -> None:
    clock = ManualClock()
    clock.advance(ms=5)
    assert clock.monotonic_ns() == 5_000_000
    with pytest.raises(ValueError):
        clock.advance(ns=-1)
