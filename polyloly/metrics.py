"""Prometheus metrics of SPEC §10.2 (exact names) plus the system's own, each with one owner.

Every process imports this module, but the metrics are created unregistered
(``registry=None``): each process serves only the set it owns (:data:`OWNERS`, through
:func:`registry_for`) — P&L, orders and risk from the engine, feeds and books from the gateway,
truth and trading states from the shards — so a P&L panel draws one series, not one per process
with the others at zero. Names keep SPEC §10.2's spelling where the spec names them
(``polyloly_event_lag_ms`` stays in ms, docs/DECISIONS.md D17); the system's own durations are in
seconds. The exporter (:mod:`polyloly.httpserve`) serves the registry on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
)
from prometheus_client.registry import Collector

Process = Literal["engine", "gateway", "shard"]

def _counter(name: str, doc: str, labels: Iterable[str] = ()) -> Counter:
    return Counter(name, doc, labels, registry=None)


def _gauge(name: str, doc: str, labels: Iterable[str] = ()) -> Gauge:
    return Gauge(name, doc, labels, registry=None)


def _histogram(name: str, doc: str, labels: Iterable[str] = (), *,
               buckets: Iterable[float]) -> Histogram:
    return Histogram(name, doc, labels, buckets=tuple(buckets), registry=None)


_LATENCY_BUCKETS_S = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
)
_LAG_BUCKETS_MS = (1, 5, 10, 50, 100, 500, 1000, 2500, 5000, 10_000, 30_000, 120_000, 600_000)
_DECISION_BUCKETS_S = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1,
)

# --- SPEC §10.2, names exactly as specified ------------------------------------------------
orders_placed = _counter(
    "polyloly_orders_total", "Orders placed", ["side", "strategy", "market"]
)
orders_filled = _counter("polyloly_fills_total", "Orders filled", ["side", "strategy"])
order_latency = _histogram(
    "polyloly_order_latency_seconds", "Order placement latency", buckets=_LATENCY_BUCKETS_S
)
slippage_bps = _histogram(  # realized, per fill, adverse only (an improvement counts as 0)
    "polyloly_slippage_bps", "Execution slippage: fill price vs the intent's expected price",
    buckets=(0, 5, 10, 25, 50, 100, 200, 500, 1000),
)
pnl_realized = _gauge("polyloly_pnl_realized_usdc", "Realized P&L")
pnl_unrealized = _gauge("polyloly_pnl_unrealized_usdc", "Unrealized P&L")
daily_pnl = _gauge("polyloly_daily_pnl_usdc", "Daily P&L")
event_lag_ms = _histogram(
    "polyloly_event_lag_ms", "Event processing lag", ["source"], buckets=_LAG_BUCKETS_MS
)
ws_reconnects = _counter("polyloly_ws_reconnects_total", "WS reconnections", ["feed"])
circuit_breaker_trips = _counter(
    "polyloly_circuit_breaker_trips_total", "CB trips", ["market", "reason"]
)
truth_confidence = _gauge("polyloly_truth_confidence", "Truth engine confidence", ["match_id"])

# --- system metrics -------------------------------------------------------------------------
dead_letters = _counter(
    "polyloly_dead_letters_total", "Messages that failed to parse or apply", ["source", "reason"]
)
invalid_transitions = _counter(  # a venue report the order table forbids: dead-lettered
    "polyloly_invalid_transitions_total", "Order reports refused by the order lifecycle table",
    ["transition"],
)
feed_messages = _counter("polyloly_feed_messages_total", "Inbound messages per feed", ["feed"])
feed_ignored = _counter(
    "polyloly_feed_ignored_total",
    "Well-formed entries of broadcast feeds about games we do not track (not errors)",
    ["feed", "reason"],
)
sports_ws_lead_seconds = _gauge(
    "polyloly_sports_ws_lead_seconds",
    "Last lead (seconds, signed) of our first esports source over Polymarket's sports WS "
    "on a map/match end; negative when the sports WS was first",
    ["event_type"],
)
book_staleness_seconds = _gauge(
    "polyloly_book_staleness_seconds", "Seconds since the last update of a book", ["token"]
)
books_stale = _gauge("polyloly_books_stale", "Books currently flagged STALE or RESYNCING")
source_stale = _gauge("polyloly_source_stale", "1 when a feed is stale", ["source"])
intents = _counter(
    "polyloly_intents_total", "Order intents sent by shards", ["strategy", "market"]
)
intent_rejects = _counter(
    "polyloly_intent_rejects_total", "Intents refused by the engine", ["reason"]
)
decision_latency = _histogram(
    "polyloly_decision_latency_seconds",
    "Book tick or match event received by the gateway → intent sent by the shard",
    buckets=_DECISION_BUCKETS_S,
)
bad_input = _counter(
    "polyloly_bad_input_total", "Inputs refused by a core (unknown market, bad value...)",
    ["component", "reason"],
)
trading_state = _gauge(
    "polyloly_trading_state", "1 for the market's current trading state", ["market", "state"]
)
kill_switch = _gauge("polyloly_kill_switch", "1 when the global kill switch is pulled")
exposure_usdc = _gauge("polyloly_exposure_usdc", "Open exposure at cost", ["market"])
daily_loss_limit_usdc = _gauge(  # config/prometheus/alerts.yml compares daily P&L with it
    "polyloly_daily_loss_limit_usdc", "risk.max_daily_loss_usdc of the running engine"
)
venue_heartbeat_failures = _gauge(
    "polyloly_venue_heartbeat_failures",
    "Consecutive failed venue heartbeats (real executor); 2 or more: orders refused",
)
sign_seconds = _histogram(
    "polyloly_order_sign_seconds", "Order build + EIP-712 sign time", buckets=_DECISION_BUCKETS_S
)
alerts_sent = _counter("polyloly_alerts_total", "Alerts sent", ["severity", "sink"])
shard_actions_refused = _counter(
    "polyloly_shard_actions_refused_total",
    "Trading actions a shard core refused because the market's state does not allow them",
    ["state", "action"],
)
shard_ticks_coalesced = _counter(
    "polyloly_shard_ticks_coalesced_total",
    "Book ticks a shard skipped because a newer tick of the same market was in the same drained "
    "batch (it decided once, on the newest book)", ["shard"],
)
truth_conflicts = _counter(
    "polyloly_truth_conflicts_total", "Matches whose sources disagreed on the winner", ["match_id"]
)

# --- gateway ---------------------------------------------------------------------------------
bus_coalesced = _counter(
    "polyloly_bus_coalesced_total",
    "Book ticks replaced by a newer tick of the same slot under PUB backpressure", ["kind"],
)
bus_backlog = _gauge(
    "polyloly_bus_backlog", "Messages waiting for a full PUB/PUSH pipe to drain", ["socket"]
)
book_resyncs = _counter(
    "polyloly_book_resyncs_total", "REST /book resyncs of a diverged or silent book", ["result"]
)

build_info = Info("polyloly_build", "Run id, version and process of this exporter", registry=None)

# --- owners: what each process serves --------------------------------------------------------
_COMMON: tuple[Collector, ...] = (dead_letters, bad_input, alerts_sent, circuit_breaker_trips)
OWNERS: dict[Process, tuple[Collector, ...]] = {
    "engine": (
        orders_placed, orders_filled, order_latency, slippage_bps, pnl_realized, pnl_unrealized,
        daily_pnl, intents, intent_rejects, kill_switch, exposure_usdc, sign_seconds,
        invalid_transitions, daily_loss_limit_usdc, venue_heartbeat_failures,
    ),
    "gateway": (
        event_lag_ms, ws_reconnects, feed_messages, feed_ignored, sports_ws_lead_seconds,
        book_staleness_seconds, books_stale, source_stale, bus_coalesced, bus_backlog,
        book_resyncs,
    ),
    "shard": (
        truth_confidence, decision_latency, trading_state, shard_actions_refused,
        shard_ticks_coalesced, truth_conflicts,
    ),
}
# Restarts are not counted by the supervisor (no one scrapes it, and systemd restarts without
# it): the dashboard reads them as changes of each process's process_start_time_seconds.


def registry_for(process: Process, run_id: str = "", version: str = "") -> CollectorRegistry:
    """A registry with what ``process`` owns, the errors every process counts, the process/GC
    collectors (``process_start_time_seconds`` shows restarts) and ``polyloly_build_info``."""
    registry = CollectorRegistry(auto_describe=True)
    for collector in (*OWNERS[process], *_COMMON, PROCESS_COLLECTOR, PLATFORM_COLLECTOR,
                      GC_COLLECTOR, build_info):
        registry.register(collector)
    build_info.info({"run_id": run_id, "version": version or _version(), "process": process})
    return registry


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("polyloly")
    except metadata.PackageNotFoundError:
        return "unknown"
