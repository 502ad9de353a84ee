"""The engine as a real process on ipc in a tmp dir: a fake shard DEALER sends intents and gets
acks and execution reports; the kill CLI stops new orders; SIGTERM exits 0; a fake private key
never reaches logs, metrics, the event log or the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
import zmq

from engine.cli import kill_main
from polyloly import bus
from polyloly.config import load_config
from polyloly.domain import OrderStatus, OrderType, Outcome, RejectReason, Side, Strategy
from polyloly.messages import ExecutionReport, IntentAck, OrderIntent, RiskState, decode, encode
from shm.writer import BookWriter
from tests.helpers.engine_launch import free_port, wait_healthy

FAKE_KEY = "0x" + "4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d"
MARKET = "0x" + "c" * 64
YES, NO = "3001", "3002"


@pytest.fixture
def engine_setup(tmp_path: Path):
    segment = f"plt_{uuid.uuid4().hex[:10]}"
    port = free_port()
    overlay = {
        "run": {"run_dir": str(tmp_path / "run"), "data_dir": str(tmp_path / "data")},
        "shm": {"segment_name": segment},
        "polymarket": {"matching_delay_s": 0.0},
        "metrics": {"engine_port": port},
        "markets": [{"market_id": MARKET, "token_ids": [YES, NO], "match_id": "m",
                     "game": "lol", "tick_size": 0.01, "min_order_size": 5}],
        "logging": {"file": str(tmp_path / "engine.log")},
    }
    config_path = tmp_path / "engine.yaml"
    config_path.write_text(yaml.safe_dump(overlay))
    writer = BookWriter.create(segment, [YES, NO], levels=8, tick_size=0.01)
    for token in (YES, NO):
        writer.apply_snapshot(token, [(0.49, 500.0)], [(0.50, 500.0)], t_recv_ns=1,
                              exchange_ts_ms=1)
    env = {**os.environ, "POLYMARKET_PRIVATE_KEY": FAKE_KEY}
    env.pop("LIVE_TRADING", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.main", "--config", str(config_path), "--new-state"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        yield config_path, port, process, tmp_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        writer.close()


def _intent(n: int) -> OrderIntent:
    return OrderIntent(
        intent_id=f"i{n}", idempotency_key=f"k{n}", shard_id=0, market_id=MARKET, token_id=YES,
        outcome=Outcome.YES, side=Side.BUY, price=0.50, size=20.0, order_type=OrderType.FAK,
        strategy=Strategy.TEMPORAL_ARB, t_origin_ns=1, t_decision_ns=1, t_sent_ns=1,
    )


def _receive(sock: zmq.Socket, kind: type, timeout_s: float = 5.0, where=None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sock.poll(100):
            message = decode(sock.recv_multipart()[-1])
            if isinstance(message, kind) and (where is None or where(message)):
                return message
    raise AssertionError(f"no {kind.__name__} within {timeout_s} s")


def test_engine_process_acks_reports_obeys_kill_cli_and_never_leaks_the_key(engine_setup):
    config_path, port, process, tmp_path = engine_setup
    config = load_config(config_path)
    wait_healthy(port, process)
    ctx = zmq.Context()
    dealer = bus.connect(ctx, zmq.DEALER, config.endpoint("engine_router"),
                         identity=bus.shard_identity(0))
    sub = bus.connect(ctx, zmq.SUB, config.endpoint("engine_pub"))
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    time.sleep(0.3)  # let the SUB join
    try:
        dealer.send(b"not a message")
        dealer.send(encode(_intent(1)))
        ack = _receive(dealer, IntentAck)
        assert ack.accepted, ack
        report = _receive(sub, ExecutionReport, where=lambda r: r.status is OrderStatus.FILLED)
        assert report.filled_size == pytest.approx(report.size)  # cold vol sizing: 20 → 10
        assert report.size == pytest.approx(10)

        assert kill_main(["--config", str(config_path), "--reason", "test stop"]) == 0
        state = _receive(sub, RiskState, timeout_s=5, where=lambda s: s.kill_switch)
        assert "test stop" in state.reason
        dealer.send(encode(_intent(2)))
        refused = _receive(dealer, IntentAck)
        assert not refused.accepted and refused.reason is RejectReason.KILL_SWITCH

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            metrics_text = answer.read().decode()
        assert "polyloly_fills_total" in metrics_text
        # the engine serves what it owns, not the gateway's or the shards' metrics
        assert "polyloly_books_stale" not in metrics_text
        assert "polyloly_truth_confidence" not in metrics_text
        assert 'polyloly_build_info{process="engine"' in metrics_text
    finally:
        dealer.close(0)
        sub.close(0)
        ctx.term()
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    stderr = process.stderr.read().decode() if process.stderr else ""
    log_text = (tmp_path / "engine.log").read_text() if (tmp_path / "engine.log").exists() else ""
    secret = FAKE_KEY[2:]
    for name, text in (("stderr", stderr), ("log", log_text), ("metrics", metrics_text)):
        assert secret not in text, f"private key leaked into {name}"
    data_dir = tmp_path / "data"
    assert (data_dir / "state_snapshot.json").exists()
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".jsonl" for p in files)
    for path in files:
        assert secret.encode() not in path.read_bytes(), f"private key leaked into {path}"


def test_real_executor_without_live_trading_refuses_to_start(tmp_path: Path) -> None:
    config_path = tmp_path / "live.yaml"
    config_path.write_text(yaml.safe_dump({
        "run": {"run_dir": str(tmp_path / "run"), "data_dir": str(tmp_path / "data")},
        "execution": {"executor": "real"}, "metrics": {"enabled": False},
    }))
    env = {k: v for k, v in os.environ.items() if k != "LIVE_TRADING"}
    result = subprocess.run(
        [sys.executable, "-m", "engine.main", "--config", str(config_path)],
        env=env, capture_output=True, timeout=30,
    )
    assert result.returncode == 2
    assert b"LIVE_TRADING=1" in result.stderr
