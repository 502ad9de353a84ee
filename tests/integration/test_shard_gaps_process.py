"""The shard process hears the venue's resolution on the gateway PUB and goes RESOLVED; its
/status is what ``polyloly status`` renders (fake gateway/engine on ipc, real shm store)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import zmq

from polyloly import bus, messages
from polyloly.config import load_config
from polyloly.domain import TradingState
from polyloly.messages import MarketResolved, MarketStatus, StateQuery, StateSnapshot
from polyloly.ops import render_status
from shm import BookWriter
from tests.integration.test_shard_process import (  # noqa: F401 (run_dir is a fixture)
    DEADLINE_S,
    MARKET,
    NO,
    YES,
    receive,
    run_dir,
    write_config,
)


def metrics_port(log_file: Path) -> int:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if log_file.exists():
            for line in log_file.read_text().splitlines():
                record = json.loads(line)
                if record.get("event_type") == "shard_started":
                    return int(record["metrics_port"])
        time.sleep(0.05)
    raise AssertionError("the shard never logged shard_started")


def get_status(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as resp:
        body: dict[str, Any] = json.loads(resp.read())
    return body


def test_shard_gaps_process_resolves_on_market_resolved_and_status_renders(
    run_dir: Path,  # noqa: F811
) -> None:
    segment = f"plgaps_{os.getpid()}_{int(time.time() * 1000) % 100000}"
    config_path = write_config(run_dir, segment)
    config = load_config(config_path)
    writer = BookWriter.create(segment, [YES, NO], levels=8)
    ctx = zmq.Context()
    gateway = bus.bind(ctx, zmq.PUB, config.endpoint("gateway_pub"))
    router = bus.bind(ctx, zmq.ROUTER, config.endpoint("engine_router"))
    engine_pub = bus.bind(ctx, zmq.PUB, config.endpoint("engine_pub"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "shards.main", "--config", str(config_path), "--shard", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        identity, _ = receive(router, StateQuery, DEADLINE_S)
        snapshot = StateSnapshot(shard_id=0, positions=(), open_orders=(), halted_markets=(),
                                 kill_switch=False, t_ns=time.monotonic_ns())
        router.send_multipart([identity, messages.encode(snapshot)])
        _, status = receive(router, MarketStatus, DEADLINE_S)
        assert status.trading_state is TradingState.IDLE
        port = metrics_port(run_dir / "shard.log")
        resolved = MarketResolved(market_id=MARKET, t_exchange_ms=1,
                                  t_recv_ns=time.monotonic_ns(), winning_token_id=NO)
        deadline = time.monotonic() + DEADLINE_S
        seen: TradingState | None = None
        while seen is not TradingState.RESOLVED and time.monotonic() < deadline:
            bus.publish(gateway, resolved)  # until the subscription is up; repeats are ignored
            if router.poll(100):
                message = messages.decode(router.recv_multipart()[1])
                if isinstance(message, MarketStatus):
                    seen = message.trading_state
        assert seen is TradingState.RESOLVED
        body = get_status(port)
        assert body["shard"] == 0 and body["ready"] is True
        rows = body["markets"]
        assert isinstance(rows, list) and len(rows) == 1
        row = rows[0]
        assert row["market_id"] == MARKET and row["trading_state"] == "RESOLVED"
        assert row["truth_status"] == "PRE_MATCH" and row["venue_winner"] == "NO"
        assert {"confidence", "match_id", "truth_disputed", "score_known"} <= set(row)
        table = render_status(config, {"shard-0": body})
        assert "RESOLVED" in table and "PRE_MATCH" in table
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
            for sock in (gateway, router, engine_pub):
                sock.close(0)
            ctx.term()
            writer.close()
    assert code == 0, proc.stderr.read().decode() if proc.stderr else ""
