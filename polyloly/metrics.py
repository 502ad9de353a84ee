"""Prometheus metrics of SPEC §10.2 (exact names) plus the system's own, registered once.

Every process imports this module; the exporter (:mod:`polyloly.httpserve`) serves them on
127.0.0.1 with the process's health and status.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS_S = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
)
_LAG_BUCKETS_MS = (1, 5, 10, 50, 100, 500, 1000, 2500, 5000, 10_000, 30_000, 120_000, 600_000)
_DECISION_BUCKETS_S = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1,
)

# --- SPEC §10.2, names exactly as specified ------------------------------------------------
orders_placed = Counter(
    "polyloly_orders_total", "Orders placed", ["side", "strategy", "market"]
)
orders_filled = Counter("polyloly_fills_total", "Orders filled", ["side", "strategy"])
order_latency = Histogram(
    "polyloly_order_latency_seconds", "Order placement latency", buckets=_LATENCY_BUCKETS_S
)
slippage_bps = Histogram(
    "polyloly_slippage_bps", "Execution slippage", buckets=(0, 5, 10, 25, 50, 100, 200, 500, 1000)
)
pnl_realized = Gauge("polyloly_pnl_realized_usdc", "Realized P&L")
pnl_unrealized = Gauge("polyloly_pnl_unrealized_usdc", "Unrealized P&L")
daily_pnl = Gauge("polyloly_daily_pnl_usdc", "Daily P&L")
event_lag_ms = Histogram(
    "polyloly_event_lag_ms", "Event processing lag", ["source"], buckets=_LAG_BUCKETS_MS
)
ws_reconnects = Counter("polyloly_ws_reconnects_total", "WS reconnections", ["feed"])
circuit_breaker_trips = Counter(
    "polyloly_circuit_breaker_trips_total", "CB trips", ["market", "reason"]
)
truth_confidence = Gauge("polyloly_truth_confidence", "Truth engine confidence", ["match_id"])

# --- system metrics -------------------------------------------------------------------------
dead_letters = Counter(
    "polyloly_dead_letters_total", "Messages that failed to parse or apply", ["source", "reason"]
)
invalid_transitions = Counter(  # a venue report the order table forbids: dead-lettered
    "polyloly_invalid_transitions_total", "Order reports refused by the order lifecycle table",
    ["transition"],
)
feed_messages = Counter("polyloly_feed_messages_total", "Inbound messages per feed", ["feed"])
feed_ignored = Counter(
    "polyloly_feed_ignored_total",
    "Well-formed entries of broadcast feeds about games we do not track (not errors)",
    ["feed", "reason"],
)
sports_ws_lead_ms = Gauge(
    "polyloly_sports_ws_lead_ms",
    "Last lead (ms, signed) of our first esports source over Polymarket's sports WS "
    "on a map/match end; negative when the sports WS was first",
    ["event_type"],
)
book_staleness_seconds = Gauge(
    "polyloly_book_staleness_seconds", "Seconds since the last update of a book", ["token"]
)
books_stale = Gauge("polyloly_books_stale", "Books currently flagged STALE or RESYNCING")
source_stale = Gauge("polyloly_source_stale", "1 when a feed is stale", ["source"])
intents = Counter(
    "polyloly_intents_total", "Order intents sent by shards", ["strategy", "market"]
)
intent_rejects = Counter(
    "polyloly_intent_rejects_total", "Intents refused by the engine", ["reason"]
)
decision_latency = Histogram(
    "polyloly_decision_latency_seconds",
    "Book tick or match event received by the gateway → intent sent by the shard",
    buckets=_DECISION_BUCKETS_S,
)
bad_input = Counter(
    "polyloly_bad_input_total", "Inputs refused by a core (unknown market, bad value...)",
    ["component", "reason"],
)
trading_state = Gauge(
    "polyloly_trading_state", "1 for the market's current trading state", ["market", "state"]
)
kill_switch = Gauge("polyloly_kill_switch", "1 when the global kill switch is pulled")
exposure_usdc = Gauge("polyloly_exposure_usdc", "Open exposure at cost", ["market"])
sign_seconds = Histogram(
    "polyloly_order_sign_seconds", "Order build + EIP-712 sign time", buckets=_DECISION_BUCKETS_S
)
shard_restarts = Counter("polyloly_shard_restarts_total", "Shard restarts", ["shard"])
alerts_sent = Counter("polyloly_alerts_total", "Alerts sent", ["severity", "sink"])
shard_actions_refused = Counter(
    "polyloly_shard_actions_refused_total",
    "Trading actions a shard core refused because the market's state does not allow them",
    ["state", "action"],
)
shard_ticks_coalesced = Counter(
    "polyloly_shard_ticks_coalesced_total",
    "Book ticks a shard skipped because a newer tick of the same market was in the same drained "
    "batch (it decided once, on the newest book)", ["shard"],
)
truth_conflicts = Counter(
    "polyloly_truth_conflicts_total", "Matches whose sources disagreed on the winner", ["match_id"]
)

# --- gateway ---------------------------------------------------------------------------------
bus_coalesced = Counter(
    "polyloly_bus_coalesced_total",
    "Book ticks replaced by a newer tick of the same slot under PUB backpressure", ["kind"],
)
bus_backlog = Gauge(
    "polyloly_bus_backlog", "Messages waiting for a full PUB/PUSH pipe to drain", ["socket"]
)
book_resyncs = Counter(
    "polyloly_book_resyncs_total", "REST /book resyncs of a diverged or silent book", ["result"]
)
