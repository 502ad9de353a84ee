"""The Grafana dashboard and Prometheus config cover the SPEC §10.2 metrics."""

from __future__ import annotations

from pathlib import Path

import orjson
import yaml

ROOT = Path(__file__).resolve().parents[2]
SEED_METRICS = (
    "polyloly_orders_total", "polyloly_fills_total", "polyloly_order_latency_seconds",
    "polyloly_slippage_bps", "polyloly_pnl_realized_usdc", "polyloly_pnl_unrealized_usdc",
    "polyloly_daily_pnl_usdc", "polyloly_event_lag_ms", "polyloly_ws_reconnects_total",
    "polyloly_circuit_breaker_trips_total", "polyloly_truth_confidence",
)


def test_dashboard_has_a_panel_for_every_seed_metric() -> None:
    dashboard = orjson.loads((ROOT / "config" / "grafana" / "dashboard.json").read_bytes())
    expressions = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for name in SEED_METRICS:
        assert name in expressions, name


def test_prometheus_scrapes_the_configured_default_ports() -> None:
    from polyloly.config import load_config

    config = load_config(None, environ={})
    scrape = yaml.safe_load((ROOT / "config" / "prometheus.yml").read_text())
    targets = {t for job in scrape["scrape_configs"] for sc in job["static_configs"]
               for t in sc["targets"]}
    assert f"127.0.0.1:{config.metrics.gateway_port}" in targets
    assert f"127.0.0.1:{config.metrics.engine_port}" in targets
    assert f"127.0.0.1:{config.metrics.shard_base_port}" in targets
