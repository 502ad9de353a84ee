"""A read-only observer for the demo: listens to the gateway and engine PUB sockets and samples
mid prices from shared memory, so the console and the report need no access to internals."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict
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
        self.resolutions: dict[str, str | None] = {}  # market → winning token (None: 50-50)
        self.mids: dict[str, list[tuple[float, float]]] = defaultdict(list)
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
        with self._lock:
            if isinstance(message, ExecutionReport):
                self.reports.append(message)
                if message.last_fill_size > 0:
                    self.fills.append({
                        "t_s": self.elapsed_s(),
                        "market_id": message.market_id,
                        "token_id": message.token_id,
                        "outcome": message.outcome.value,
                        "side": message.side.value,
                        "strategy": message.strategy.value,
                        "size": message.last_fill_size,
                        "price": message.last_fill_price,
                        "fee_usdc": message.fee_usdc,
                        "order_id": message.order_id,
                    })
            elif isinstance(message, RiskState):
                self.risk_states.append(message)
            elif isinstance(message, MatchEvent):
                self.match_events.append(message)
            elif isinstance(message, MarketResolved):
                self.resolutions[message.market_id] = message.winning_token_id
            elif isinstance(message, SourceHealth):
                self.sources[message.source] = message.stale
            else:
                self.book_ticks += 1

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
                "cash_usdc": cash,
                "sources": dict(self.sources),
            }
