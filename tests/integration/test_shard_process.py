"""The shard process end to end: fake gateway PUB and fake engine ROUTER/PUB on ipc, a real
shm book store. The shard rebuilds from a StateSnapshot, then a mispriced tick → pair intents."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
import zmq

from polyloly import bus, messages
from polyloly.config import load_config
from polyloly.domain import Outcome, Strategy, TradingState
from polyloly.messages import (
    BookTick,
    MarketStatus,
    OrderIntent,
    PositionView,
    StateQuery,
    StateSnapshot,
)
from shm import BookWriter

MARKET = "0x" + "cd" * 32
YES, NO = "2001", "2002"
DEADLINE_S = 15.0


@pytest.fixture()
def run_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="plshard", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def write_config(run_dir: Path, segment: str) -> Path:
    overlay = {
        "run": {"run_dir": str(run_dir), "data_dir": str(run_dir / "var")},
        "shm": {"segment_name": segment, "levels": 8},
        "shards": {"count": 1, "status_interval_s": 0.2, "time_interval_ms": 20},
        "metrics": {"shard_base_port": 0},
        "logging": {"file": str(run_dir / "shard.log"), "level": "INFO"},
        "markets": [{"market_id": MARKET, "token_ids": [YES, NO], "match_id": "m9",
                     "game": "cs2", "best_of": 3}],
    }
    path = run_dir / "config.yaml"
    path.write_text(yaml.safe_dump(overlay))
    return path


def receive(router: zmq.Socket, kind: type, timeout_s: float) -> tuple[bytes, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if router.poll(100):
            identity, payload = router.recv_multipart()
            message = messages.decode(payload)
            if isinstance(message, kind):
                return identity, message
    raise AssertionError(f"no {kind.__name__} within {timeout_s} s")


def health(log_file: Path) -> dict:
    port = None
    deadline = time.monotonic() + DEADLINE_S
    while port is None and time.monotonic() < deadline:
        if log_file.exists():
            for line in log_file.read_text().splitlines():
                record = json.loads(line)
                if record.get("event_type") == "shard_started":
                    port = record["metrics_port"]
        time.sleep(0.05)
    assert port is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def test_shard_process_rebuilds_then_sends_pair_intents_on_a_mispriced_tick(
    run_dir: Path,
) -> None:
    segment = f"plshard_{os.getpid()}_{int(time.time() * 1000) % 100000}"
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
        identity, query = receive(router, StateQuery, DEADLINE_S)
        assert identity == bus.shard_identity(0) and query.market_ids == (MARKET,)
        assert health(run_dir / "shard.log")["healthy"] is False
        snapshot = StateSnapshot(
            shard_id=0, positions=tuple(
                PositionView(market_id=MARKET, token_id=token, outcome=outcome, shares=5.0,
                             cost_usdc=2.3, fees_usdc=0.0)
                for token, outcome in ((YES, Outcome.YES), (NO, Outcome.NO))),
            open_orders=(), halted_markets=(), kill_switch=False, t_ns=time.monotonic_ns())
        router.send_multipart([identity, messages.encode(snapshot)])
        _, status = receive(router, MarketStatus, DEADLINE_S)
        assert status.market_id == MARKET
        assert status.trading_state is TradingState.LOCKED_PAIR  # rebuilt from the positions
        assert health(run_dir / "shard.log")["healthy"] is True
        now = time.monotonic_ns()
        writer.apply_snapshot(NO, [(0.38, 100.0)], [(0.40, 500.0)], t_recv_ns=now,
                              exchange_ts_ms=0)
        write = writer.apply_snapshot(YES, [(0.43, 100.0)], [(0.45, 500.0)], t_recv_ns=now,
                                      exchange_ts_ms=0)
        tick = BookTick(market_id=MARKET, token_id=YES, slot=write.slot, seq=write.seq,
                        t_exchange_ms=0, t_recv_ns=now, t_parsed_ns=now, t_shm_ns=now)
        intents: list[OrderIntent] = []
        deadline = time.monotonic() + DEADLINE_S
        while len(intents) < 2 and time.monotonic() < deadline:
            bus.publish(gateway, tick)
            if router.poll(100):
                _, payload = router.recv_multipart()
                message = messages.decode(payload)
                if isinstance(message, OrderIntent):
                    intents.append(message)
        assert {i.outcome for i in intents} == {Outcome.YES, Outcome.NO}
        assert all(i.strategy is Strategy.PAIR_ARB and i.shard_id == 0 for i in intents)
        assert all(i.t_origin_ns == now and i.t_sent_ns >= i.t_decision_ns for i in intents)
        prices = {i.outcome: i.price for i in intents}
        assert prices == {Outcome.YES: 0.45, Outcome.NO: 0.40}
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
