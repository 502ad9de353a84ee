"""``polyloly-shard --config FILE --shard K``: the I/O shell around :class:`ShardCore`.

Owns the sockets (SUB to the gateway and the engine's PUB, DEALER to the engine's ROUTER), the
shared-memory book reader, the observability server and the signals; every decision is the
core's. The hot loop is one thread on blocking ZeroMQ sockets (ARCHITECTURE §9: zmq.asyncio doubles
latency), waiting per ``bus.shard_wait``: ``block`` (poll with a timeout), ``spin`` (poll(0) in a
loop: lowest latency, one core busy) or ``spin_then_block`` (spin ``bus.spin_us``, then block).
SIGINT/SIGTERM stop the loop within one ``shards.time_interval_ms``; exit status 0.

**Book ticks coalesce per market** (specs/04 §backpressure): a wake-up drains every pending
message of the ready socket without blocking (at most :data:`DRAIN_BATCH`), and of the BookTicks
of one market only the newest is decided on, at its place in the batch: the shm read returns the
newest book anyway, so the older ticks would only re-decide on the same book. Every other message
(match events, source health, resolutions, execution reports, risk states, acks) is handled, in
arrival order. A coalesced tick keeps the **oldest** superseded tick's gateway stamps
(``t_recv_ns``, ``t_parsed_ns``, ``t_shm_ns``), so an intent's ``t_origin_ns`` and the decision
latency include the time the first unseen book change waited in the queue (never flattered by
coalescing). Coalesced ticks are counted (``polyloly_shard_ticks_coalesced_total``, /status).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from types import FrameType
from typing import Any, Final, cast

import msgspec
import zmq

from polyloly import bus, messages, metrics
from polyloly.bus import ZmqContext, ZmqSocket
from polyloly.config import Config, ConfigError, load_config
from polyloly.httpserve import ObservabilityServer
from polyloly.logs import current_run_id, get_logger, setup_logging
from polyloly.messages import (
    BookTick,
    CancelIntent,
    MarketResolved,
    MarketStatus,
    Message,
    MessageDecodeError,
    OrderIntent,
    StateQuery,
    StateSnapshot,
    TruthDelta,
    TruthFinal,
)
from polyloly.ports import PortInUseError
from polyloly.sdnotify import Readiness, arm_hard_stop
from shards.core import ShardCore
from shm import BookReader, BookSnapshot, ShmBookError

log = get_logger("shard")

DRAIN_BATCH: Final = 1000  # messages read from one socket per wake-up before timers run


LATENCY_WINDOW = 256
"""How many recent intents /status's ``tick_to_intent_p50_us`` covers."""


def _median(values: Iterable[float]) -> float | None:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else None


class ShmTickBooks:
    """The core's :class:`~shards.core.TickBooks` over one shm reader, with a copy cache.

    ``read(slot)`` returns the previous copy when the slot's seq did not move since (one
    aligned load instead of a 32-level copy; every shm write bumps the seq), else a fresh
    consistent copy. A reattached store gets a new instance, so a new cache.
    """

    def __init__(self, reader: BookReader, levels: int) -> None:
        self.reader = reader
        self._levels = levels
        self._cache: dict[int, BookSnapshot] = {}  # slot → last copy

    def slot_of(self, token_id: str) -> int:
        """The token's slot (KeyError if the store has no such token)."""
        return self.reader.slot_of(token_id)

    def read(self, slot: int) -> BookSnapshot:
        """``slot``'s newest book (ShmBookError when no consistent copy can be read)."""
        cached = self._cache.get(slot)
        if cached is not None and cached.seq == self.reader.seq(slot):
            return cached
        book = self.reader.snapshot(slot, self._levels)
        self._cache[slot] = book
        return book


class ShardShell:
    """Sockets, books and timers of one shard process around its core."""

    def __init__(self, config: Config, shard_id: int) -> None:
        self.config = config
        self.shard_id = shard_id
        self.core = ShardCore(config, shard_id)
        self.stop_event = threading.Event()
        # systemd Type=notify: READY=1 once health() is healthy; polled on the on_time cadence
        self.readiness = Readiness(f"shard {shard_id}", self.health)
        self.reader: BookReader | None = None
        self._ctx: ZmqContext = zmq.Context.instance()
        self._sockets: list[ZmqSocket] = []
        self._statuses: dict[str, dict[str, Any]] = {}
        self._status_lock = threading.Lock()
        self.ticks_seen = 0  # book ticks received, for /status (liveness of the tick path)
        self.ticks_coalesced = 0  # of those, superseded by a newer tick of the same market
        self._coalesced_metric = metrics.shard_ticks_coalesced.labels(str(shard_id))
        self.last_tick_ns = 0
        self.intents_sent = 0
        # tick (or event) received by the gateway → intent sent, µs, of the latest intents
        self._tick_to_intent_us: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._last_attach_try = 0.0

    # ---- sockets ----

    def open(self) -> None:
        """Create and connect the three sockets (subscriptions: only this shard's keys)."""
        cfg = self.config
        bus.ensure_run_dir(cfg)
        hwm = cfg.bus.send_hwm
        self.gateway = bus.connect(self._ctx, zmq.SUB, cfg.endpoint("gateway_pub"), hwm)
        for market in self.core.markets.values():
            bus.subscribe(self.gateway, "book_tick", market.ref.market_id)
            bus.subscribe(self.gateway, "market_resolved", market.ref.market_id)
        for match_id in self.core.truths:
            bus.subscribe(self.gateway, "match_event", match_id)
        bus.subscribe(self.gateway, "source_health")
        self.engine_pub = bus.connect(self._ctx, zmq.SUB, cfg.endpoint("engine_pub"), hwm)
        for market_id in self.core.markets:
            bus.subscribe(self.engine_pub, "execution_report", market_id)
            bus.subscribe(self.engine_pub, "risk_state", market_id)
        bus.subscribe(self.engine_pub, "risk_state", "*")
        self.dealer = self._ctx.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.LINGER, 0)
        self.dealer.setsockopt(zmq.SNDHWM, hwm)
        self.dealer.setsockopt(zmq.IMMEDIATE, 1)  # never queue intents for an absent engine
        self.dealer.setsockopt(zmq.IDENTITY, bus.shard_identity(self.shard_id))
        bus.secure(self.dealer, cfg.endpoint("engine_router"), server=False)
        self.dealer.connect(cfg.endpoint("engine_router"))
        self._sockets = [self.gateway, self.engine_pub, self.dealer]
        self.poller = zmq.Poller()
        for sock in self._sockets:
            self.poller.register(sock, zmq.POLLIN)

    def close(self) -> None:
        """Close sockets and the book reader."""
        for sock in self._sockets:
            sock.close(0)
        self._sockets = []
        self.attach_reader(None)

    # ---- health ----

    def health(self) -> dict[str, Any]:
        """/health body: healthy once the engine answered and the book store is attached."""
        return {"healthy": self.core.ready and self.reader is not None,
                "shard": self.shard_id, "ready": self.core.ready,
                "books_attached": self.reader is not None, "markets": len(self.core.markets)}

    def status(self) -> dict[str, Any]:
        """/status body, as ``polyloly status`` (ops/commands.py) reads it: ``{"shard", "ready",
        "markets": [latest MarketStatus of each market as JSON: market_id, match_id,
        truth_status, confidence, trading_state, implied_probability, winner, t_ns]}``, in
        config order; a market not yet reported is left out."""
        with self._status_lock:
            rows = [dict(self._statuses[market_id]) for market_id in self.core.markets
                    if market_id in self._statuses]
        age_ms = (time.monotonic_ns() - self.last_tick_ns) / 1e6 if self.last_tick_ns else None
        return {"shard": self.shard_id, "ready": self.core.ready, "markets": rows,
                "ticks_seen": self.ticks_seen, "ticks_coalesced": self.ticks_coalesced,
                "last_tick_age_ms": age_ms,
                "intents_sent": self.intents_sent,
                "tick_to_intent_p50_us": _median(self._tick_to_intent_us)}

    # ---- loop ----

    def run(self) -> None:
        """Serve until :attr:`stop_event` is set."""
        interval_ns = self.config.shards.time_interval_ms * 1_000_000
        self._attach_books()
        self.dealer.poll(1000, zmq.POLLOUT)  # give the engine connection a moment to come up
        self._dispatch(self.core.start(time.monotonic_ns()))
        next_time = time.monotonic_ns() + interval_ns
        while not self.stop_event.is_set():
            now = time.monotonic_ns()
            wait_ms = max(0, (next_time - now) // 1_000_000)
            for sock in self._wait(wait_ms):
                self._drain(sock)
            now = time.monotonic_ns()
            if now >= next_time:
                next_time = now + interval_ns
                if self.reader is None or self.reader.store_closed:
                    self._attach_books()
                self._dispatch(self.core.on_time(now))
                self.readiness.poll()
        self.readiness.stopping()

    def _wait(self, timeout_ms: int) -> list[ZmqSocket]:
        mode = self.config.bus.shard_wait
        if mode == "spin" or mode == "spin_then_block":
            spin_ns = (self.config.bus.spin_us * 1000 if mode == "spin_then_block"
                       else timeout_ms * 1_000_000)
            deadline = time.monotonic_ns() + spin_ns
            while True:
                ready = self.poller.poll(0)
                if ready or time.monotonic_ns() >= deadline:
                    break
            if ready or mode == "spin":
                return [sock for sock, _ in ready]
        return [sock for sock, _ in self.poller.poll(timeout_ms)]

    def _drain(self, sock: ZmqSocket) -> None:
        """Read what ``sock`` has pending (at most :data:`DRAIN_BATCH`), coalesce book ticks
        per market and handle the batch (see the module docstring)."""
        batch: list[Message] = []
        recv = sock.recv_multipart
        decode = messages.decode
        for _ in range(DRAIN_BATCH):
            try:
                frames = recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            try:
                batch.append(decode(frames[-1]))
            except MessageDecodeError as exc:
                metrics.bad_input.labels("shard", "decode_error").inc()
                log.warning("bad_message", str(exc))
        self.handle_batch(batch)

    def handle_batch(self, batch: Sequence[Message]) -> None:
        """Handle messages received together: of the BookTicks of one (known) market only the
        newest is decided on, at its own place, with the oldest superseded tick's stamps;
        everything else in order."""
        markets = self.core.markets
        newest: dict[str, int] = {}  # market id → index of its newest tick in the batch
        first: dict[str, int] = {}  # market id → index of its oldest tick in the batch
        ticks = 0
        for index, message in enumerate(batch):
            if type(message) is BookTick and message.market_id in markets:
                ticks += 1
                first.setdefault(message.market_id, index)
                newest[message.market_id] = index
        if ticks == len(newest):  # one tick per market: nothing to coalesce
            for message in batch:
                self._handle(message)
            return
        coalesced = 0
        for index, message in enumerate(batch):
            if type(message) is BookTick and message.market_id in markets:
                market_id = message.market_id
                if newest[market_id] != index:
                    coalesced += 1
                    continue
                if first[market_id] != index:
                    oldest = cast(BookTick, batch[first[market_id]])
                    message = msgspec.structs.replace(
                        message, t_recv_ns=oldest.t_recv_ns, t_parsed_ns=oldest.t_parsed_ns,
                        t_shm_ns=oldest.t_shm_ns)
            self._handle(message)
        self.ticks_seen += coalesced
        self.ticks_coalesced += coalesced
        self._coalesced_metric.inc(coalesced)

    def _handle(self, message: Message) -> None:
        now = time.monotonic_ns()
        if isinstance(message, BookTick):
            self.ticks_seen += 1
            self.last_tick_ns = now
        out = self.core.handle(message, now)  # the one entry point, shared with the replay
        if isinstance(message, MarketResolved):
            log.info("market_resolved", "the venue resolved the market",
                     market_id=message.market_id, winning_token_id=message.winning_token_id)
        elif isinstance(message, StateSnapshot):
            log.info("state_rebuilt", "rebuilt from the engine's snapshot",
                     positions=len(message.positions), open_orders=len(message.open_orders),
                     halted=list(message.halted_markets), kill_switch=message.kill_switch)
        self._dispatch(out)

    def attach_reader(self, reader: BookReader | None) -> None:
        """Read BookTicks' books through ``reader`` (closing the previous one); None detaches."""
        if self.reader is not None and self.reader is not reader:
            self.reader.close()
        self.reader = reader
        self.core.attach_books(None if reader is None
                               else ShmTickBooks(reader, self.config.shm.levels))

    def _dispatch(self, out: Sequence[Message]) -> None:
        for message in out:
            if isinstance(message, OrderIntent):
                sent = time.monotonic_ns()
                intent = msgspec.structs.replace(message, t_sent_ns=sent)
                if self._send(intent):
                    self.intents_sent += 1
                    self._tick_to_intent_us.append(max(0, sent - intent.t_origin_ns) / 1e3)
                    metrics.decision_latency.observe(max(0, sent - intent.t_origin_ns) / 1e9)
                    log.info("intent_sent", intent.reason, market_id=intent.market_id,
                             intent_id=intent.intent_id, strategy=intent.strategy.value,
                             outcome=intent.outcome.value, price=intent.price, size=intent.size)
            elif isinstance(message, CancelIntent | StateQuery):
                self._send(message)
            elif isinstance(message, MarketStatus):
                self._record_status(message)  # first: /status is never behind the engine
                self._send(message)
            elif isinstance(message, TruthDelta | TruthFinal):
                metrics.truth_confidence.labels(message.match_id).set(message.confidence)
                log.info(str(message.__struct_config__.tag), "",
                         **messages.to_builtins(message))

    def _send(self, message: Message) -> bool:
        try:
            bus.send(self.dealer, message, zmq.NOBLOCK)
        except zmq.Again:
            metrics.bad_input.labels("shard", "engine_unreachable").inc()
            log.warning("send_dropped", "engine not connected; message dropped",
                        kind=message.__struct_config__.tag)
            return False
        return True

    def _record_status(self, status: MarketStatus) -> None:
        for state in type(status.trading_state):
            metrics.trading_state.labels(status.market_id, state.value).set(
                1 if state is status.trading_state else 0)
        metrics.truth_confidence.labels(status.match_id).set(status.confidence)
        row = messages.to_builtins(status)
        row.update(self.core.status_details(status.market_id))
        with self._status_lock:
            self._statuses[status.market_id] = row

    def _attach_books(self) -> None:
        if time.monotonic() - self._last_attach_try < 1.0 and self._last_attach_try:
            return
        self._last_attach_try = time.monotonic()
        self.attach_reader(None)
        try:
            self.attach_reader(BookReader.attach(self.config.shm.segment_name, timeout_s=0.2))
        except ShmBookError as exc:
            log.warning("books_unavailable", str(exc), segment=self.config.shm.segment_name)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="polyloly-shard", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="config overlay file (YAML)")
    parser.add_argument("--shard", type=int, required=True, help="shard index K")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run shard K until SIGINT/SIGTERM; return the exit status."""
    args = _parse(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    setup_logging(config.logging.level, file=config.logging.file, run_id=config.run.run_id)
    if not 0 <= args.shard < config.shards.count:
        log.error("bad_shard", f"--shard: expected 0..{config.shards.count - 1}, "
                               f"was {args.shard}")
        return 2
    try:
        bus.init_security(config, f"shard-{args.shard}")  # CURVE keys, or no tcp:// plaintext
    except bus.BusSecurityError as exc:
        print(f"polyloly-shard: {exc}", file=sys.stderr)
        return 2
    shell = ShardShell(config, args.shard)

    def stop(signum: int, _frame: FrameType | None) -> None:
        shell.stop_event.set()
        arm_hard_stop(reason=f"signal {signal.Signals(signum).name}")  # a stuck loop still ends

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    server: ObservabilityServer | None = None
    if config.metrics.enabled:
        port = (config.metrics.shard_base_port + args.shard
                if config.metrics.shard_base_port else 0)
        try:
            server = ObservabilityServer(config.metrics.host, port, shell.health, shell.status,
                                         setting=f"metrics.shard_base_port + {args.shard}",
                                         registry=metrics.registry_for("shard", current_run_id())
                                         ).start()
        except PortInUseError as exc:  # bad setup: one line, no traceback
            print(f"polyloly-shard: {exc}", file=sys.stderr)
            return 2
    log.info("shard_started", f"shard {args.shard} with {len(shell.core.markets)} markets",
             shard=args.shard, metrics_port=server.port if server else None,
             markets=list(shell.core.markets))
    shell.open()
    try:
        shell.run()
    finally:
        shell.close()
        if server is not None:
            server.stop()
        log.info("shard_stopped", f"shard {args.shard} stopped", shard=args.shard)
    return 0


if __name__ == "__main__":
    sys.exit(main())
