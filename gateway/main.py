"""``polyloly-gateway``: Polymarket market data into shm and events; esports feeds into events.

Usage: ``polyloly-gateway --config FILE [--record DIR]``. Prints one JSON line on stdout when
ready (``{"event": "ready", "metrics_port": ..., "shm": ..., "gateway_pub": ...}``), serves
``/metrics``, ``/health`` and ``/status`` on ``metrics.gateway_port``, and exits 0 after
SIGINT/SIGTERM once every task stopped (bounded).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

import orjson
import uvloop

from gateway.app import GatewayApp, credentials_from_env
from polyloly.alerts import build_alerter
from polyloly.config import ConfigError, load_config
from polyloly.httpserve import ObservabilityServer
from polyloly.logs import get_logger, setup_logging
from polyloly.ports import PortInUseError
from polyloly.sdnotify import Readiness
from shm.errors import StoreInUseError

SHUTDOWN_TIMEOUT_S = 10.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="polyloly-gateway", description=__doc__)
    parser.add_argument("--config", default=None, help="config overlay YAML (base.yaml always)")
    parser.add_argument("--record", default=None, metavar="DIR",
                        help="record every raw inbound message to DIR as JSONL")
    return parser.parse_args(argv)


async def _serve(app: GatewayApp, server: ObservabilityServer | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
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
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    setup_logging(config.logging.level, file=config.logging.file)
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
                                             setting="metrics.gateway_port").start()
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
    except (PortInUseError, StoreInUseError) as exc:  # bad setup: one line, no traceback
        sys.stderr.write(f"polyloly-gateway: {exc}\n")
        return 2
    log.info("gateway_stopped", "gateway stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
