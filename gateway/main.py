"""``polyloly-gateway``: the gateway shell. Polymarket market data into shm and events; esports
feeds into events.

Usage: ``polyloly-gateway --config FILE [--record DIR]``. Prints one JSON line on stdout when
ready (``{"event": "ready", "metrics_port": ..., "shm": ..., "gateway_pub": ...}``), serves
``/metrics``, ``/health`` and ``/status`` on ``metrics.gateway_port``, and exits 0 after
SIGINT/SIGTERM once every task stopped (bounded).

:class:`GatewayApp` owns the sockets, tasks and wiring around the pure cores (ARCHITECTURE §2):
Polymarket market WS → :func:`parse_market_frame` → :class:`BookKeeper` (writes the shm books
through :class:`shm.BookWriter`) → :class:`GatewayPublisher` (BookTick, TradePrint). User WS →
:class:`UserChannel` → PUSH to the engine. Esports adapters (:mod:`gateway.esports`, contract
in :mod:`gateway.feeds`) → MatchEvent on PUB, SourceHealth on change. Every raw inbound message
can be recorded; every bad one goes to the DLQ. Everything Polymarket-specific is in
:mod:`gateway.polymarket`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import msgspec
import orjson
import uvloop
import zmq

from gateway.alerting import AlertFn, SourceStaleAlarm, no_alert
from gateway.dead_letters import DeadLetterQueue
from gateway.esports import build_adapters
from gateway.feeds import FeedAdapter
from gateway.polymarket.book_keeper import MARKET_SOURCE, REST_SOURCE, BookKeeper, KeeperOutput
from gateway.polymarket.parse import parse_market_frame, parse_rest_book
from gateway.polymarket.rest_books import RestBookFetcher
from gateway.polymarket.subscribe import (
    chunk_tokens,
    credentials_from_env,
    market_subscribe_message,
)
from gateway.polymarket.user_channel import UserChannel
from gateway.polymarket.ws_session import SessionSettings, WsSession
from gateway.publisher import GatewayPublisher, OrderedSender, bind_publisher
from gateway.recorder import Recorder
from gateway.source_health import SourceHealthTracker, SourceRule
from polyloly import bus, metrics
from polyloly.alerts import Alert, build_alerter
from polyloly.clock import Clock, SystemClock
from polyloly.config import Config, ConfigError, load_config
from polyloly.domain import SourceTier
from polyloly.httpserve import ObservabilityServer
from polyloly.logs import current_run_id, get_logger, setup_logging
from polyloly.messages import MatchEvent
from polyloly.ports import PortInUseError
from polyloly.resilience import BreakerConfig, CircuitBreaker, RetryPolicy
from polyloly.sdnotify import Readiness, guard_stop_signals
from shm import BookWriter
from shm.errors import StoreInUseError

MARKET_FEED: Final = "polymarket_market"
HOUSEKEEPING_INTERVAL_S: Final = 0.05
RESYNC_WORKERS: Final = 4
SHUTDOWN_TIMEOUT_S: Final = 10.0

_log = get_logger("gateway")


class GatewayApp:
    """One gateway process's state and tasks. Construct, then ``await run(stop)``."""

    def __init__(
        self,
        config: Config,
        *,
        record_dir: str | Path | None = None,
        clock: Clock | None = None,
        ctx: zmq.Context[zmq.Socket[bytes]] | None = None,
        adapters: list[FeedAdapter] | None = None,
        credentials: tuple[str, str, str] | None = None,
        rng: random.Random | None = None,
        alert: AlertFn = no_alert,
    ) -> None:
        """``adapters`` defaults to :func:`gateway.esports.build_adapters`; ``credentials``
        (api key, secret, passphrase) to none, which leaves the user channel off;
        ``alert`` receives the SPEC §14 alerts (WS reconnect streaks, stale sources)."""
        self.config = config
        bus.init_security(config, "gateway")  # first: CURVE keys, or refuse tcp:// in plaintext
        self._alert = alert
        self.stale_alarm = SourceStaleAlarm()
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._own_ctx = ctx is None
        self._ctx = ctx or zmq.Context()
        pm = config.polymarket
        token_markets: dict[str, str] = {}
        for market in config.markets:
            for token in market.token_ids:
                token_markets[token] = market.market_id
        self.token_markets = token_markets
        self.store: BookWriter | None = None
        if token_markets:
            self.store = BookWriter.create(config.shm.segment_name, list(token_markets),
                                             levels=config.shm.levels,
                                             tick_size=config.markets[0].tick_size)
            for market in config.markets:
                for token in market.token_ids:
                    self.store.set_tick_size(token, market.tick_size)
        self.keeper = BookKeeper(self.store, token_markets) if self.store else None
        bus.ensure_run_dir(config)
        bus.ensure_private_dir(config.run.data_dir)  # the DLQ lives there
        self.publisher = GatewayPublisher(
            bind_publisher(self._ctx, config.endpoint("gateway_pub"), config.bus.send_hwm))
        self.user_sender = OrderedSender(
            bus.connect(self._ctx, zmq.PUSH, config.endpoint("user_updates"),
                        config.bus.send_hwm),
            "user_updates", topic_prefixed=False)
        self.dlq = DeadLetterQueue(config.data_path(config.storage.dlq_file), self._clock)
        self.recorder = (Recorder(record_dir, self._clock, config.storage.rotate_bytes)
                         if record_dir is not None else None)
        settings = SessionSettings(
            ping_interval_s=pm.ping_interval_s, pong_timeout_s=pm.pong_timeout_s,
            reconnect_base_s=pm.reconnect_base_s, reconnect_max_s=pm.reconnect_max_s,
            open_timeout_s=pm.request_timeout_s)
        self.market_chunks = chunk_tokens(list(token_markets), pm.assets_per_connection)
        self.sessions = [self._market_session(i, chunk, settings)
                         for i, chunk in enumerate(self.market_chunks)]
        self._up_since_ns: list[int | None] = [None] * len(self.sessions)
        self._last_sweep_ns = [0] * len(self.sessions)
        self.user_channel: UserChannel | None = None
        if credentials is not None:
            self.user_channel = UserChannel(
                pm.user_ws_url, credentials, [m.market_id for m in config.markets], settings,
                CircuitBreaker("user_ws", self._clock, _breaker_config(pm.reconnect_max_s)),
                sender=self.user_sender, dlq=self.dlq, recorder=self.recorder, rng=self._rng,
                on_alert=alert, failures_before_alert=config.alerts.ws_failed_reconnects)
        self.fetcher = RestBookFetcher(
            pm.clob_rest_url, pm.request_timeout_s,
            CircuitBreaker("polymarket_rest_book", self._clock,
                           _breaker_config(pm.reconnect_max_s)),
            RetryPolicy(max_attempts=3, base_delay_s=0.2, max_delay_s=2.0), self._rng)
        self._resync_queue: asyncio.Queue[str] = asyncio.Queue()
        self.adapters = (adapters if adapters is not None
                         else build_adapters(config, self._clock))
        rules = {name: SourceRule(SourceTier(p.tier), p.stale_threshold_ms)
                 for name, p in config.providers.items() if p.enabled}
        for adapter in self.adapters:
            threshold = (config.providers[adapter.name].stale_threshold_ms
                         if adapter.name in config.providers else 30_000)
            rules.setdefault(adapter.name, SourceRule(adapter.tier, threshold))
        self.health_tracker = SourceHealthTracker(rules, self._clock.monotonic_ns())
        self._event_seq: dict[str, int] = {}
        self.resolutions: list[dict[str, Any]] = []
        self._market_messages = metrics.feed_messages.labels(feed=MARKET_FEED)
        self._market_lag = metrics.event_lag_ms.labels(source=MARKET_FEED)
        self.ready = False

    # ---- construction helpers ----

    def _market_session(self, index: int, tokens: list[str],
                        settings: SessionSettings) -> WsSession:
        def on_up() -> None:
            self._up_since_ns[index] = time.monotonic_ns()
            self._last_sweep_ns[index] = 0
            if self.keeper is not None:
                self.keeper.mark_connected(tokens)

        def on_down() -> None:
            self._up_since_ns[index] = None
            if self.keeper is not None:
                self._handle(self.keeper.mark_disconnected(tokens, time.monotonic_ns()),
                             MARKET_SOURCE, 0)

        def on_frame(raw: bytes, t_recv_ns: int) -> None:
            self._on_market_frame(index, raw, t_recv_ns)

        breaker = CircuitBreaker(f"market_ws_{index}", self._clock,
                                 _breaker_config(self.config.polymarket.reconnect_max_s))
        return WsSession(f"market-{index}", MARKET_FEED, self.config.polymarket.market_ws_url,
                         market_subscribe_message(tokens), on_frame, settings, breaker,
                         on_up=on_up, on_down=on_down, rng=self._rng, on_alert=self._alert,
                         failures_before_alert=self.config.alerts.ws_failed_reconnects)

    # ---- inbound ----

    def _on_market_frame(self, index: int, raw: bytes, t_recv_ns: int) -> None:
        if self.recorder is not None:
            self.recorder.record(MARKET_SOURCE, raw, t_recv_ns, source=f"market-{index}")
        self._market_messages.inc()
        parsed = parse_market_frame(raw)
        t_parsed_ns = time.monotonic_ns()
        if parsed.control is not None:
            if parsed.control == "INVALID OPERATION":
                _log.warning("ws_invalid_operation", "venue refused a subscription message",
                             connection=f"market-{index}")
            return
        if self.keeper is None:
            return
        out = self.keeper.apply_frame(parsed, raw, t_recv_ns, t_parsed_ns)
        self.dlq.count_only(MARKET_SOURCE, "frame_errors_over_cap", parsed.errors_dropped)
        if parsed.events:
            first = parsed.events[0]
            self._market_lag.observe(max(0, self._clock.wall_ms() - first.exchange_ts_ms))
        self._handle(out, MARKET_SOURCE, t_recv_ns)

    def _handle(self, out: KeeperOutput, source: str, t_recv_ns: int) -> None:
        publish = self.publisher.publish
        for message in out.messages:
            publish(message)
        for dead in out.dead_letters:
            self.dlq.put(dead.source, dead.reason, dead.detail, dead.raw, t_recv_ns)
        for token in out.resync_tokens:
            self._resync_queue.put_nowait(token)
        for resolved in out.resolutions:
            self.resolutions.append(msgspec.structs.asdict(resolved))
            _log.info("market_resolved", f"market {resolved.market_id} resolved",
                      market_id=resolved.market_id, winner=resolved.winning_token_id)

    # ---- esports plug-in callbacks ----

    def emit_match_event(self, event: MatchEvent) -> None:
        """:data:`gateway.feeds.EmitFn`: publish in order, never dropped."""
        seq = self._event_seq.get(event.source, 0) + 1
        self._event_seq[event.source] = seq
        self.health_tracker.observe(event.source, event.t_recv_ns)
        self.publisher.publish(msgspec.structs.replace(event, seq=seq))

    def record_payload(self, source: str, raw: bytes, t_recv_ns: int) -> None:
        """:data:`gateway.feeds.RecordFn`."""
        metrics.feed_messages.labels(feed=source).inc()
        self.health_tracker.observe_payload(source, raw, t_recv_ns)  # a frozen answer is not life
        if self.recorder is not None:
            self.recorder.record(f"esports.{source}", raw, t_recv_ns, source=source)

    def dead_letter(self, source: str, raw: bytes, reason: str, error: str) -> None:
        """:data:`gateway.feeds.DeadLetterFn`."""
        self.dlq.put(f"esports.{source}", reason, error, raw, time.monotonic_ns())

    # ---- tasks ----

    async def run(self, stop: asyncio.Event) -> None:
        """Run every task until ``stop`` is set, then shut down within a few seconds."""
        tasks = [asyncio.create_task(session.run(stop), name=session.name)
                 for session in self.sessions]
        if self.user_channel is not None:
            tasks.append(asyncio.create_task(self.user_channel.session.run(stop), name="user"))
        else:
            _log.info("user_channel_disabled",
                      "no POLYMARKET_API_KEY/SECRET/PASSPHRASE: user channel not started")
        tasks += [asyncio.create_task(self._run_adapter(a, stop), name=f"esports-{a.name}")
                  for a in self.adapters]
        workers = [asyncio.create_task(self._resync_worker()) for _ in range(RESYNC_WORKERS)]
        housekeeping = asyncio.create_task(self._housekeeping(stop))
        self.ready = True
        _log.info("gateway_started", "gateway running", tokens=len(self.token_markets),
                  connections=len(self.sessions), adapters=[a.name for a in self.adapters],
                  shm=self.store.name if self.store else None)
        try:
            await stop.wait()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=5.0)
        except TimeoutError:
            _log.warning("shutdown_slow", "some feed tasks did not stop within 5 s")
        finally:
            for task in [*tasks, *workers, housekeeping]:
                task.cancel()
            await asyncio.gather(*tasks, *workers, housekeeping, return_exceptions=True)
            await self.close()

    async def _run_adapter(self, adapter: FeedAdapter, stop: asyncio.Event) -> None:
        attempt = 0
        policy = RetryPolicy(max_attempts=1 << 30, base_delay_s=1.0, max_delay_s=60.0)
        while not stop.is_set():
            try:
                await adapter.run(self.emit_match_event, self.record_payload,
                                  self.dead_letter, stop)
                attempt = 0
            except Exception as exc:
                _log.error("esports_adapter_failed", f"{adapter.name}: {type(exc).__name__}: "
                           f"{exc}", source=adapter.name)
                metrics.ws_reconnects.labels(feed=adapter.name).inc()
            if stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), policy.delay_s(attempt, self._rng))
            attempt += 1

    async def _resync_worker(self) -> None:
        while True:
            token = await self._resync_queue.get()
            await self._resync(token)

    async def _resync(self, token: str) -> None:
        keeper = self.keeper
        if keeper is None:
            return
        try:
            raw, t_recv_ns = await self.fetcher.fetch(token)
        except Exception as exc:
            keeper.resync_failed(token)
            metrics.book_resyncs.labels(result="fetch_failed").inc()
            _log.warning("book_resync_failed", f"{type(exc).__name__}: {exc}", token=token)
            return
        if self.recorder is not None:
            self.recorder.record(REST_SOURCE, raw, t_recv_ns, source="rest")
        try:
            snapshot = parse_rest_book(raw)
            if snapshot.token_id != token:
                raise ValueError(f"asked for token {token!r}, got {snapshot.token_id!r}")
        except ValueError as exc:
            keeper.resync_failed(token)
            metrics.book_resyncs.labels(result="bad_book").inc()
            self.dlq.put(REST_SOURCE, "invalid_message", str(exc), raw, t_recv_ns)
            return
        out = keeper.apply_rest_snapshot(snapshot, raw, t_recv_ns, time.monotonic_ns())
        metrics.book_resyncs.labels(result="applied").inc()
        self._handle(out, REST_SOURCE, t_recv_ns)

    async def _housekeeping(self, stop: asyncio.Event) -> None:
        snapshot_timeout_ns = int(self.config.polymarket.snapshot_timeout_s * 1e9)
        last_staleness_ns = 0
        while not stop.is_set():
            now_ns = time.monotonic_ns()
            self.publisher.flush()
            self.user_sender.flush()
            for change in self.health_tracker.check(now_ns):
                metrics.source_stale.labels(source=change.source).set(int(change.stale))
                self.publisher.publish(change)
                self._send_alert(self.stale_alarm.on_health(change))
            for alert in self.stale_alarm.due(now_ns):
                self._send_alert(alert)
            if self.keeper is not None:
                for index, tokens in enumerate(self.market_chunks):
                    up_since = self._up_since_ns[index]
                    if (up_since is None or now_ns - up_since < snapshot_timeout_ns
                            or now_ns - self._last_sweep_ns[index] < snapshot_timeout_ns):
                        continue
                    self._last_sweep_ns[index] = now_ns
                    for token in self.keeper.tokens_without_fresh_book(tokens):
                        self._handle(self.keeper.request_resync(token, now_ns), MARKET_SOURCE,
                                     now_ns)
                metrics.books_stale.set(self.keeper.unhealthy_count())
                if now_ns - last_staleness_ns >= 1_000_000_000:
                    last_staleness_ns = now_ns
                    for token, state in self.keeper.tokens.items():
                        if state.last_update_ns:
                            metrics.book_staleness_seconds.labels(token=token).set(
                                (now_ns - state.last_update_ns) / 1e9)
            if self.recorder is not None:
                self.recorder.flush()
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)

    def _send_alert(self, alert: Alert | None) -> None:
        if alert is None:
            return
        try:
            self._alert(alert)
        except Exception as exc:  # alerting must never stop housekeeping
            _log.error("alert_failed", f"{type(exc).__name__}: {exc}", key=alert.key)

    # ---- observability ----

    def health(self) -> dict[str, Any]:
        """Healthy when every market connection is up, no book is stale, the bus keeps up."""
        connections = {s.name: s.connected for s in self.sessions}
        unhealthy_books = self.keeper.unhealthy_count() if self.keeper else 0
        healthy = (self.ready and all(connections.values()) and unhealthy_books == 0
                   and not self.publisher.overloaded and not self.user_sender.overloaded)
        return {"healthy": healthy, "ready": self.ready, "connections": connections,
                "books_not_ready": unhealthy_books, "bus_backlog": self.publisher.backlog}

    def status(self) -> dict[str, Any]:
        """Per-connection and per-token detail for ``/status``."""
        now_ns = time.monotonic_ns()
        return {
            **self.health(),
            "shm": self.store.name if self.store else None,
            "sessions": {s.name: {"connected": s.connected, "connects": s.connects,
                                  "frames": s.frames}
                         for s in [*self.sessions, *([self.user_channel.session]
                                                     if self.user_channel else [])]},
            "tokens": self.keeper.status(now_ns) if self.keeper else {},
            "sources": self.health_tracker.status(now_ns),
            "dead_letters": self.dlq.count,
            "dead_letters_not_written": self.dlq.suppressed,
            "ticks_coalesced": self.publisher.coalesced,
            "user_updates_sent": self.user_sender.sent,
            "resolutions": self.resolutions,
        }

    async def close(self) -> None:
        """Release everything: sockets, files, the shm segment (slots marked STALE, then
        unlinked)."""
        self.publisher.flush()
        self.user_sender.flush()
        await self.fetcher.close()
        if self.recorder is not None:
            self.recorder.close()
        self.dlq.close()
        if self.store is not None:
            self.store.close()
            self.store = None
        self.publisher.sock.close(linger=0)
        self.user_sender.sock.close(linger=0)
        if self._own_ctx:
            self._ctx.term()


def _breaker_config(reconnect_max_s: float) -> BreakerConfig:
    return BreakerConfig(failure_threshold=5, recovery_timeout_s=min(30.0, reconnect_max_s),
                         half_open_max_calls=1)


# ---- entry point ----


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="polyloly-gateway", description=__doc__)
    parser.add_argument("--config", default=None, help="config overlay YAML (base.yaml always)")
    parser.add_argument("--record", default=None, metavar="DIR",
                        help="record every raw inbound message to DIR as JSONL")
    return parser.parse_args(argv)


async def _serve(app: GatewayApp, server: ObservabilityServer | None) -> None:
    stop = asyncio.Event()
    # graceful stop on the loop, and an exit within HARD_STOP_S even if the loop is stuck
    guard_stop_signals(asyncio.get_running_loop(), stop.set)
    runner = asyncio.create_task(app.run(stop))
    # systemd Type=notify: READY=1 once app.health() is healthy, watchdog pings from this loop
    readiness = asyncio.create_task(Readiness("gateway", app.health).run(stop))
    await asyncio.sleep(0)
    ready = {"event": "ready", "metrics_port": server.port if server else None,
             "shm": app.store.name if app.store else None,
             "gateway_pub": app.config.endpoint("gateway_pub")}
    sys.stdout.write(orjson.dumps(ready).decode() + "\n")
    sys.stdout.flush()
    await stop.wait()
    await readiness  # STOPPING=1 sent
    try:
        await asyncio.wait_for(runner, timeout=SHUTDOWN_TIMEOUT_S)
    except TimeoutError:
        get_logger("gateway").error("shutdown_timeout", "gateway did not stop in time")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``polyloly-gateway``; returns the exit code."""
    args = parse_args(argv)
    bus.private_umask()  # our files 0600, our dirs 0700 (issue 20 #13)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    setup_logging(config.logging.level, file=config.logging.file, run_id=config.run.run_id)
    log = get_logger("gateway")

    async def start() -> None:
        alerter = build_alerter(config, component="gateway")
        app = GatewayApp(config, record_dir=args.record, credentials=credentials_from_env(),
                         alert=alerter.send)
        server = None
        if config.metrics.enabled:
            try:
                server = ObservabilityServer(config.metrics.host, config.metrics.gateway_port,
                                             app.health, app.status,
                                             setting="metrics.gateway_port",
                                             registry=metrics.registry_for(
                                                 "gateway", current_run_id())).start()
            except PortInUseError:
                await app.close()  # unlink the books it already made before exiting
                raise
        try:
            await _serve(app, server)
        finally:
            if server is not None:
                server.stop()

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(start())
    # bad setup (a port, the books, the bus keys): one line, no traceback
    except (PortInUseError, StoreInUseError, bus.BusSecurityError) as exc:
        sys.stderr.write(f"polyloly-gateway: {exc}\n")
        return 2
    log.info("gateway_stopped", "gateway stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
