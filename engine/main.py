"""``polyloly-engine --config FILE``: the engine process (ARCHITECTURE §4, §6; SPEC §13).

Startup: load config; refuse the real executor without ``LIVE_TRADING=1`` and a private key
(exit 2, clear message); refuse a missing, empty or foreign SQLite state unless ``--new-state``
allows a first start (exit 2, one line; :func:`engine.store.check_state`); open SQLite and
rebuild state; build the executor (real one imported only when configured); reconcile with
the venue (a fresh state adopts its open orders and positions); then serve. Sockets: ROUTER
(shard intents, each shard as itself), PUB (execution reports, risk states), PULL
(user-channel updates from the gateway), SUB to the gateway (market resolution claims, settled
once the venue's REST confirms them). Books are read from shm, never ticked: every 2 ms the shm seq
counters of the tokens with resting paper orders are read, every 50 ms those of every
configured token; the tokens whose seq moved (or an executor order due) go to the core's one
book entry, ``EngineCore.on_book_change``. The shell also reads the kill file (every second);
the core's effects (venue submits, cancels, resolutions, reconciliation, the engine's own
kill-switch pull) are carried out by :class:`engine.driver.EngineDriver`. The ZeroMQ
sockets are polled without zmq.asyncio (ARCHITECTURE §9): a short blocking poll, then the loop
gets a turn; venue submits run as tasks of that loop. A live executor is reconciled again
every ``execution.reconcile_interval_s``. Shutdown (SIGINT/SIGTERM): stop intake, wait for
submits in flight (≤ 5 s), cancel open orders if ``execution.cancel_on_shutdown``, flush JSONL
and SQLite, write ``state_snapshot.json``; bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import zmq

from engine.books import BookSource, LazyShmBookSource, SeqWatch
from engine.core import EngineCore, Outbound
from engine.driver import EngineDriver
from engine.executors.base import Executor
from engine.executors.paper import PaperExecutor
from engine.journal import EventJournal
from engine.kill_switch import KillSwitchFile
from engine.persistence.sqlite import SqlitePersistence
from engine.store import EngineStore, StateRefused, check_state, state_identity
from polyloly import bus, metrics
from polyloly.alerts import build_alerter
from polyloly.bus import ZmqContext, ZmqSocket
from polyloly.clock import SystemClock
from polyloly.config import Config, ConfigError, load_config
from polyloly.eventlog import JsonlWriter
from polyloly.httpserve import ObservabilityServer
from polyloly.logs import current_run_id, get_logger, register_secret, setup_logging
from polyloly.messages import encode
from polyloly.ports import PortInUseError
from polyloly.sdnotify import Readiness, guard_stop_signals

_LOG = get_logger("engine")
EXIT_REFUSED = 2
_POLL_MS = 1
_TICK_INTERVAL_S = 0.05
_KILL_POLL_S = 1.0
_RESOLVE_INTERVAL_S = 2.0
_SHUTDOWN_BUDGET_S = 5.0
_DRAIN_MAX = 1000
_BOOK_POLL_S = 0.002
"""How often (s) the shm seq counters of the executor's watched tokens are read."""


class StartupRefused(Exception):
    """The engine must not start (live mode without its safeguards)."""


def check_live_prerequisites(config: Config, environ: dict[str, str]) -> None:
    """Raise :class:`StartupRefused` when the real executor lacks LIVE_TRADING=1 or a key."""
    if config.execution.executor != "real" and config.run.mode != "live":
        return
    if environ.get("LIVE_TRADING") != "1":
        raise StartupRefused(
            "live trading refused: set LIVE_TRADING=1 in the environment to use the real "
            "executor (execution.executor=real or run.mode=live)"
        )
    from engine.secrets import SecretError, load_private_key

    try:
        key = load_private_key(
            key_env=config.execution.private_key_env,
            key_file=config.execution.private_key_file,
            environ=environ,
        )
    except SecretError as exc:
        raise StartupRefused(f"live trading refused: {exc}") from None
    register_secret(key.hex)


async def build_executor(config: Config, core_books: Any, clock: SystemClock) -> Executor:
    """The paper executor, or the real one (imported only when configured)."""
    if config.execution.executor == "real":
        # imported here: py-clob-client-v2 and the signing stack load only for live trading
        from engine.executors.polymarket.executor import RealExecutor

        executor: Executor = await RealExecutor.create(config, clock=clock)
        return executor
    return PaperExecutor(core_books, config.markets, clock, config.polymarket.matching_delay_s,
                         latency_ms=config.execution.paper_latency_ms)


class BookPoll:
    """The live feed of :meth:`EngineCore.on_book_change` (through the driver) from the shm seq
    counters: the executor's watched tokens at every call, every configured token when
    ``sample`` is set."""

    def __init__(self, driver: EngineDriver, books: BookSource) -> None:
        self.driver = driver
        self._watched = SeqWatch(books)
        self._sampled = SeqWatch(books)

    async def poll(self, *, sample: bool = False) -> bool:
        """Feed the core the tokens whose seq moved; return whether it was called (nothing
        moved and nothing due costs two calls)."""
        core = self.driver.core
        moved = set(self._watched.moved(self.driver.executor.watched_tokens()))
        if sample:
            moved.update(self._sampled.moved(core.token_ids))
        if not moved and not core.executor_due():
            return False
        await self.driver.on_book_change(sorted(moved))
        return True


class EngineShell:
    """Sockets, timers, signals, the shm book poll and the kill file around one
    :class:`EngineCore`."""

    def __init__(self, config: Config, core: EngineCore, ctx: ZmqContext,
                 kill_file: KillSwitchFile | None = None) -> None:
        self.config = config
        self.core = core
        self.kill_file = kill_file
        self.driver = EngineDriver(core, core.executor, self.send, sleep=asyncio.sleep,
                                   kill_file=kill_file)
        self.book_poll = BookPoll(self.driver, core.books)
        hwm = config.bus.send_hwm
        self.router = bus.bind(ctx, zmq.ROUTER, config.endpoint("engine_router"), hwm)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 0)
        self.pub = bus.bind(ctx, zmq.PUB, config.endpoint("engine_pub"), hwm)
        self.pull = bus.bind(ctx, zmq.PULL, config.endpoint("user_updates"), hwm)
        self.sub = bus.connect(ctx, zmq.SUB, config.endpoint("gateway_pub"), hwm)
        bus.subscribe(self.sub, "market_resolved")  # books are read from shm, never ticked
        self.poller = zmq.Poller()
        for sock in (self.router, self.pull, self.sub):
            self.poller.register(sock, zmq.POLLIN)
        self.stopping = asyncio.Event()
        self._status_cache: dict[str, Any] = {"ready": False}

    async def tick(self, *, read_kill_file: bool, resolve_pending: bool) -> None:
        """The periodic tick, with the kill file's content when due (the driver carries out
        the core's effects, its own kill-switch pull included)."""
        kill = self.kill_file.read() if read_kill_file and self.kill_file is not None else None
        await self.driver.tick(kill=kill, resolve_pending=resolve_pending)

    def send(self, outbound: Outbound) -> None:
        try:
            if outbound.identity is None:
                bus.publish(self.pub, outbound.message, zmq.NOBLOCK)
            else:
                self.router.send_multipart((outbound.identity, encode(outbound.message)),
                                           zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            metrics.dead_letters.labels(source="engine", reason="send_failed").inc()
            _LOG.warning("send_failed", str(exc), kind=type(outbound.message).__name__)

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = next_kill = next_resolve = next_status = next_books = loop.time()
        reconcile_every_s = self.config.execution.reconcile_interval_s
        next_reconcile = loop.time() + reconcile_every_s  # the start-up one just ran
        while not self.stopping.is_set():
            ready = dict(self.poller.poll(_POLL_MS))
            for sock in (self.router, self.pull, self.sub):
                if sock in ready:
                    await self._drain(sock)
            now = loop.time()
            sample_due = now >= next_tick
            if now >= next_books or sample_due:
                next_books = now + _BOOK_POLL_S
                await self._guarded(self.book_poll.poll(sample=sample_due))
            if sample_due:
                next_tick = now + _TICK_INTERVAL_S
                kill_due = now >= next_kill
                resolve_due = now >= next_resolve
                if kill_due:
                    next_kill = now + _KILL_POLL_S
                if resolve_due:
                    next_resolve = now + _RESOLVE_INTERVAL_S
                await self._guarded(self.tick(read_kill_file=kill_due,
                                              resolve_pending=resolve_due))
            if now >= next_reconcile:
                next_reconcile = now + reconcile_every_s
                self.driver.start_periodic_reconcile()  # live only; runs as a task
            if now >= next_status:
                next_status = now + 0.5
                self._status_cache = self.core.status().to_json_dict()
            await asyncio.sleep(0)

    async def _drain(self, sock: ZmqSocket) -> None:
        """Take every frame ready on ``sock`` (≤ 1000) and hand them over as one batch."""
        batch: list[list[bytes]] = []
        for _ in range(_DRAIN_MAX):
            try:
                batch.append(sock.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                break
        if not batch:
            return
        frames: list[tuple[bytes | None, bytes]] = []
        for parts in batch:
            if sock is self.router or sock is self.sub:  # [identity|topic, payload]
                if len(parts) != 2:
                    metrics.bad_input.labels(component="engine", reason="bad_frames").inc()
                    continue
                frames.append((parts[0] if sock is self.router else None, parts[1]))
            else:
                frames.append((None, parts[-1]))
        if sock is self.sub:  # book changes written before a resolution apply before it
            await self._guarded(self.book_poll.poll())
        await self._guarded(self.driver.handle_frames(frames))

    async def _guarded(self, work: Any) -> None:
        try:
            await work
        except Exception as exc:  # one bad message must never stop the engine
            metrics.dead_letters.labels(source="engine", reason="handler_error").inc()
            _LOG.error("handler_error", repr(exc))

    def health(self) -> dict[str, Any]:
        # fills not stored: alive (retrying, intake refused) but not healthy (issue 20 #6)
        unstored = self.core.orders.unstored_fills
        return {"healthy": bool(self.core.ready and self.core.executor.healthy()
                                and not unstored),
                "ready": self.core.ready, "executor": self.core.executor.name,
                "kill_switch": self.core.kill_switch.engaged, "unstored_fills": unstored,
                "storage_error": self.core.orders.storage_error}

    def status(self) -> dict[str, Any]:
        return self._status_cache

    def close(self) -> None:
        for sock in (self.router, self.pub, self.pull, self.sub):
            sock.close(0)


def engine_identity(config: Config) -> str:
    """Whose state this engine keeps (:func:`engine.store.state_identity`)."""
    return state_identity(config.execution.executor, config.polymarket.funder)


def open_state(config: Config, *, new_state: bool) -> tuple[EngineStore, bool]:
    """Open the engine's SQLite state after :func:`engine.store.check_state` accepted it
    (raises :class:`StateRefused` otherwise) and stamp its identity; return it and whether it
    is a fresh one (the start-up reconciliation then adopts the venue's orders/positions)."""
    path = config.data_path(config.storage.sqlite_file)
    identity = engine_identity(config)
    found = check_state(path, identity, new_state=new_state)
    store = EngineStore(path)
    if found != "existing":
        store.stamp_identity(identity)
        _LOG.warning("state_" + found, "fresh engine state: the venue's positions and open "
                     "orders are adopted before intake" if found == "new" else
                     "state without identity stamped", path=str(path), identity=identity)
    return store, found == "new"


async def run(config: Config, *, new_state: bool = False) -> int:
    """Run the engine until SIGINT/SIGTERM; return the exit code."""
    clock = SystemClock()
    bus.ensure_run_dir(config)
    data_dir = Path(config.run.data_dir)
    store, fresh = open_state(config, new_state=new_state)
    kill_file = KillSwitchFile.in_data_dir(data_dir)
    journal = EventJournal(
        JsonlWriter(config.data_path(config.storage.events_dir), "engine",
                    config.storage.rotate_bytes), clock)
    books = LazyShmBookSource(config.shm.segment_name)
    executor = await build_executor(config, books, clock)
    alerter = build_alerter(config, component="engine")
    core = EngineCore(config, SqlitePersistence(store, journal), executor, books, clock,
                      alert=alerter.send)
    core.start(kill_file.read())
    ctx = zmq.Context()
    shell = EngineShell(config, core, ctx, kill_file)
    server = None
    if config.metrics.enabled:
        server = ObservabilityServer(config.metrics.host, config.metrics.engine_port,
                                     shell.health, shell.status, setting="metrics.engine_port",
                                     registry=metrics.registry_for("engine", current_run_id()))
        metrics.daily_loss_limit_usdc.set(config.risk.max_daily_loss_usdc)
        server.start()
    # graceful stop on the loop; the process exits within HARD_STOP_S even if the loop is stuck
    guard_stop_signals(asyncio.get_running_loop(), shell.stopping.set)
    # systemd Type=notify: READY=1 once shell.health() is healthy (after the reconcile),
    # watchdog pings from this loop, STOPPING=1 when stopping is set
    readiness = asyncio.create_task(Readiness("engine", shell.health).run(shell.stopping))
    try:
        await shell.driver.reconcile_on_start(adopt=fresh)  # before any intent is accepted
        core.mark_ready()
        _LOG.info("engine_ready", "engine serving", executor=executor.name,
                  router=config.endpoint("engine_router"))
        await shell.serve()
    finally:
        await _shutdown(config, core, shell, server, journal, store, ctx)
        readiness.cancel()  # finished already after a graceful stop (STOPPING=1 sent)
    return 0


async def _shutdown(config: Config, core: EngineCore, shell: EngineShell, server: Any,
                    journal: EventJournal, store: EngineStore, ctx: ZmqContext) -> None:
    # submits queued but not sent are dropped (CANCELLED); those in flight finish; then the
    # venue cancel-all when execution.cancel_on_shutdown
    await shell.driver.shutdown(_SHUTDOWN_BUDGET_S)
    try:
        snapshot = core.status().to_json_dict()
        path = Path(config.run.data_dir) / "state_snapshot.json"
        path.write_bytes(msgspec.json.encode({"t_ms": int(time.time() * 1000), **snapshot}))
    except Exception as exc:
        _LOG.error("snapshot_failed", repr(exc))
    try:
        await asyncio.wait_for(core.executor.close(), _SHUTDOWN_BUDGET_S)
    except (TimeoutError, Exception) as exc:
        _LOG.error("executor_close_failed", repr(exc))
    journal.close()
    store.close()
    shell.close()
    if isinstance(core.books, LazyShmBookSource):
        # release the shm views before exit: left to SharedMemory.__del__ at interpreter
        # teardown, the mmap close met live casts and wrote a BufferError to engine.log
        core.books.close()
    ctx.term()
    if server is not None:
        server.stop()
    _LOG.info("engine_stopped", "engine stopped")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``polyloly-engine``."""
    parser = argparse.ArgumentParser(prog="polyloly-engine", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=None, help="config overlay file (YAML)")
    parser.add_argument("--new-state", action="store_true",
                        help="allow a first start on a missing/empty database (refused "
                             "otherwise); the venue's positions and open orders are adopted "
                             "before intake")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"polyloly-engine: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    setup_logging(config.logging.level, file=config.logging.file, run_id=config.run.run_id)
    try:
        check_live_prerequisites(config, dict(os.environ))
        bus.init_security(config, "engine")  # CURVE keys, or no tcp:// in plaintext
    except (StartupRefused, bus.BusSecurityError) as exc:
        print(f"polyloly-engine: {exc}", file=sys.stderr)
        _LOG.error("startup_refused", str(exc))
        return EXIT_REFUSED
    try:
        import uvloop

        return uvloop.run(run(config, new_state=args.new_state))
    except StateRefused as exc:
        print(f"polyloly-engine: {exc}", file=sys.stderr)
        _LOG.error("startup_refused", str(exc))
        return EXIT_REFUSED
    except Exception as exc:
        if type(exc).__name__ == "RealExecutorError" or isinstance(exc, PortInUseError):
            print(f"polyloly-engine: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        raise


if __name__ == "__main__":
    raise SystemExit(main())
