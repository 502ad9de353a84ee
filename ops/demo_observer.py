"""A read-only observer for the demo: listens to the gateway and engine PUB sockets and samples
mid prices from shared memory, so the console and the report need no access to internals."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict, deque
from typing import Any

import zmq

from polyloly import bus, messages
from polyloly.config import Config
from polyloly.domain import Side
from polyloly.messages import (
    ExecutionReport,
    MarketResolved,
    MatchEvent,
    MessageDecodeError,
    RiskState,
    SourceHealth,
)


class Observer:
    """Collects execution reports, risk states, match events, feed health and mid prices."""

    def __init__(self, config: Config, sample_interval_s: float = 0.5) -> None:
        self._config = config
        self._sample_interval_s = sample_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-observer", daemon=True)
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self.fills: list[dict[str, Any]] = []
        self.reports: list[ExecutionReport] = []
        self.risk_states: list[RiskState] = []
        self.match_events: list[MatchEvent] = []
        self.sources: dict[str, bool] = {}
        self.source_seen_t_s: dict[str, float] = {}  # each feed's last event we know of
        self.resolutions: dict[str, str | None] = {}  # market → winning token (None: 50-50)
        self.resolution_t_s: dict[str, float] = {}  # market → when the venue resolved it
        self.mids: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.orders: dict[str, dict[str, Any]] = {}  # order id → first report (our quote)
        self.first_report_ns: dict[str, int] = {}  # intent id → its first report's t_ns
        self.match_event_t_s: list[float] = []  # parallel to match_events
        self.risk_state_t_s: list[float] = []  # parallel to risk_states
        # (t_s, market, truth status, confidence, implied YES) from the shards' /status
        self.truth_samples: list[tuple[float, str, str, float, float | None]] = []
        # what the console scrolls and --no-ui prints: (t_s, kind, text)
        self.events: deque[tuple[float, str, str]] = deque(maxlen=500)
        self.events_total = 0
        self.book_ticks = 0
        self.decode_errors = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def elapsed_s(self) -> float:
        return time.monotonic() - self._t0

    def _run(self) -> None:
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        sock = bus.connect(context, zmq.SUB, self._config.endpoint("gateway_pub"))
        sock.connect(self._config.endpoint("engine_pub"))
        for kind in ("execution_report", "risk_state", "match_event", "source_health",
                     "book_tick", "market_resolved"):
            bus.subscribe(sock, kind)
        reader = None
        next_sample = 0.0
        try:
            while not self._stop.is_set():
                if sock.poll(100):
                    self._consume(sock.recv_multipart())
                now = time.monotonic()
                if now >= next_sample:
                    next_sample = now + self._sample_interval_s
                    reader = reader or self._attach()
                    if reader is not None:
                        self._sample(reader)
        finally:
            sock.close(0)
            if reader is not None:
                with contextlib.suppress(Exception):
                    reader.close()

    def _attach(self) -> Any:
        from shm import BookReader, ShmBookError

        try:
            return BookReader.attach(self._config.shm.segment_name, timeout_s=0.01)
        except ShmBookError:
            return None

    def _sample(self, reader: Any) -> None:
        from shm import ShmBookError

        t = self.elapsed_s()
        for market in self._config.markets:
            for token in market.token_ids:
                try:
                    mid = reader.mid(reader.slot_of(token))
                except (ShmBookError, KeyError):
                    continue
                if mid is not None:
                    with self._lock:
                        self.mids[token].append((t, mid))

    def _consume(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            self.decode_errors += 1
            return
        try:
            message = messages.decode(frames[1])
        except MessageDecodeError:
            self.decode_errors += 1
            return
        t_s = self.elapsed_s()
        with self._lock:
            if isinstance(message, ExecutionReport):
                self._on_report(message, t_s)
            elif isinstance(message, RiskState):
                self.risk_states.append(message)
                self.risk_state_t_s.append(t_s)
                scope = message.market_id[:10] + "…" if message.market_id else "global"
                what = ("kill switch PULLED" if message.kill_switch else
                        "market HALTED" if message.halted else "released")
                self._event(t_s, "alert", f"{what} ({scope}): {message.reason}")
            elif isinstance(message, MatchEvent):
                self.match_events.append(message)
                self.match_event_t_s.append(t_s)
                self.source_seen_t_s[message.source] = t_s
            elif isinstance(message, MarketResolved):
                self.resolutions[message.market_id] = message.winning_token_id
                self.resolution_t_s.setdefault(message.market_id, t_s)
                self._event(t_s, "resolved", f"{self.market_name(message.market_id)} resolved")
            elif isinstance(message, SourceHealth):
                if self.sources.get(message.source) != message.stale:
                    self._event(t_s, "alert" if message.stale else "feed",
                                f"feed {message.source} {'STALE' if message.stale else 'ok'}")
                self.sources[message.source] = message.stale
                seen = t_s - message.last_event_age_ms / 1000
                self.source_seen_t_s[message.source] = max(
                    seen, self.source_seen_t_s.get(message.source, seen))
            else:
                self.book_ticks += 1

    def _event(self, t_s: float, kind: str, text: str) -> None:
        self.events.append((t_s, kind, text))
        self.events_total += 1

    def market_name(self, market_id: str) -> str:
        for market in self._config.markets:
            if market.market_id == market_id:
                return " vs ".join(market.teams)
        return market_id[:12]

    def _on_report(self, message: ExecutionReport, t_s: float) -> None:
        self.reports.append(message)
        self.first_report_ns.setdefault(message.intent_id, message.t_ns)
        name = self.market_name(message.market_id)
        if message.order_id not in self.orders:
            self.orders[message.order_id] = {
                "t_s": t_s, "market_id": message.market_id, "outcome": message.outcome.value,
                "side": message.side.value, "price": message.price, "size": message.size,
                "strategy": message.strategy.value}
            if message.status.value == "REJECTED":
                self._event(t_s, "reject", f"{name}: {message.strategy.value} "
                            f"{message.outcome.value} rejected {message.reason}".strip())
            else:
                self._event(t_s, "order", f"{name}: {message.strategy.value} "
                            f"{message.side.value} {message.outcome.value} "
                            f"{message.size:g} @ {message.price:.3f}")
        if message.last_fill_size > 0:
            self._event(t_s, "fill", f"{name}: {message.strategy.value} {message.side.value} "
                        f"{message.outcome.value} {message.last_fill_size:g} @ "
                        f"{message.last_fill_price:.3f} (fee {message.fee_usdc:.4f})")
            self.fills.append({
                "t_s": t_s, "market_id": message.market_id, "token_id": message.token_id,
                "outcome": message.outcome.value, "side": message.side.value,
                "strategy": message.strategy.value, "size": message.last_fill_size,
                "price": message.last_fill_price, "fee_usdc": message.fee_usdc,
                "order_id": message.order_id,
            })

    def record_statuses(self, statuses: dict[str, dict[str, Any]]) -> None:
        """Keep the shards' truth view (status, confidence, implied YES) for the report's
        truth timeline; a sample is kept only when it changed."""
        t_s = self.elapsed_s()
        with self._lock:
            last: dict[str, tuple[str, float, float | None]] = {
                m: (s, c, p) for _, m, s, c, p in self.truth_samples}
            for name, body in statuses.items():
                if not name.startswith("shard-") or not isinstance(body, dict):
                    continue
                for row in body.get("markets", []) or []:
                    implied = row.get("implied_probability")
                    sample = (str(row.get("truth_status")), float(row.get("confidence") or 0.0),
                              None if implied is None else float(implied))
                    market = str(row.get("market_id"))
                    if last.get(market) != sample:
                        self.truth_samples.append((t_s, market, *sample))

    def recent_events(self, count: int) -> list[tuple[float, str, str]]:
        with self._lock:
            return list(self.events)[-count:]

    def events_since(self, seen: int) -> tuple[list[tuple[float, str, str]], int]:
        """Events after the first ``seen`` ever recorded (those still kept), and the new
        total: --no-ui prints each once."""
        with self._lock:
            total = self.events_total
            fresh = min(total - seen, len(self.events))
            return (list(self.events)[len(self.events) - fresh:] if fresh > 0 else []), total

    def stats(self) -> dict[str, Any]:
        with self._lock:
            cash = 0.0
            for fill in self.fills:
                notional = fill["size"] * fill["price"]
                cash += -notional if fill["side"] == Side.BUY.value else notional
                cash -= fill["fee_usdc"]
            return {
                "book_ticks": self.book_ticks,
                "match_events": len(self.match_events),
                "orders": len({r.order_id for r in self.reports}),
                "fills": len(self.fills),
                "fees_usdc": sum(f["fee_usdc"] for f in self.fills),
                "cash_usdc": cash,  # trading cash after fees: buys are cash out
                "sources": dict(self.sources),
                "source_age_s": {k: self.elapsed_s() - v
                                 for k, v in self.source_seen_t_s.items()},
                "resolved": len(self.resolutions),
            }
