"""SPEC §14 alerts end to end: the engine and the gateway as real processes send their alerts to
a local server speaking the Telegram Bot API, once each, with the right severity, and the bot
token never reaches their logs.

* engine: a kill switch pulled by hand (CRITICAL), its release (INFO), then a position bought
  and marked down past ``risk.max_daily_loss_usdc`` (the engine pulls the kill switch: CRITICAL);
* gateway: its market WebSocket URL is a closed port, so every reconnect fails; the third
  failure in a row raises one WARNING.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
import zmq

from engine.cli import kill_main
from polyloly import bus
from polyloly.config import load_config
from polyloly.domain import OrderStatus, OrderType, Outcome, Side, Strategy
from polyloly.messages import ExecutionReport, IntentAck, OrderIntent, RiskState, decode, encode
from shm.writer import BookWriter
from tests.helpers.ports import held_port

TOKEN = "987654:SECRET-bot-token-for-alert-tests"
TOKEN_ENV = "POLYLOLY_TEST_TELEGRAM_TOKEN"
CHAT_ID = "4242"
MARKET = "0x" + "e" * 64
YES, NO = "5001", "5002"


class BotApi:
    """A Telegram Bot API stand-in: records ``sendMessage`` calls, answers ``{"ok": true}``."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with api._lock:
                    api.paths.append(self.path)
                    api.messages.append(body)
                    count = len(api.messages)
                ok = self.path == f"/bot{TOKEN}/sendMessage" and body.get("chat_id") == CHAT_ID
                data = orjson.dumps({"ok": ok, "result": {"message_id": count}})
                self.send_response(200 if ok else 404)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def texts(self, needle: str) -> list[str]:
        with self._lock:
            return [m["text"] for m in self.messages if needle in m["text"]]

    def wait_for(self, needle: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.texts(needle)
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no alert containing {needle!r} within {timeout_s} s; "
                             f"got {[m['text'] for m in self.messages]}")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def bot_api() -> Iterator[BotApi]:
    api = BotApi()
    try:
        yield api
    finally:
        api.close()


def _free_port() -> int:
    return held_port()  # from the OS, held for the session: nothing else can take it


def _alerts_overlay(api: BotApi) -> dict[str, Any]:
    return {"telegram": {"enabled": True, "base_url": api.url, "chat_id": CHAT_ID,
                         "token_env": TOKEN_ENV}}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("POLYMARKET_", "POLYLOLY__", "LIVE_TRADING"))}
    env[TOKEN_ENV] = TOKEN
    return env


def _stop(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
        code = -9
    output = b"".join(stream.read() for stream in (process.stdout, process.stderr) if stream)
    return code, output.decode(errors="replace")


# --- engine ---------------------------------------------------------------------------------


def _wait_healthy(port: int, process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "engine exited before it was healthy"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("engine never became healthy")


def _receive(sock: zmq.Socket[bytes], kind: type, timeout_s: float = 5.0,
             where: Any = None) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sock.poll(100):
            message = decode(sock.recv_multipart()[-1])
            if isinstance(message, kind) and (where is None or where(message)):
                return message
    raise AssertionError(f"no {kind.__name__} within {timeout_s} s")


def test_engine_process_alerts_hand_kill_release_and_daily_loss_once_without_leaking_the_token(
        tmp_path: Path, bot_api: BotApi) -> None:
    segment = f"pla_{uuid.uuid4().hex[:10]}"
    port = _free_port()
    log_file = tmp_path / "engine.log"
    config_path = tmp_path / "engine.yaml"
    config_path.write_text(yaml.safe_dump({
        "run": {"run_dir": tempfile.mkdtemp(prefix="pla-"), "data_dir": str(tmp_path / "data")},
        "shm": {"segment_name": segment},
        "polymarket": {"matching_delay_s": 0.0},
        "metrics": {"engine_port": port},
        "risk": {"max_daily_loss_usdc": 2.0},
        "markets": [{"market_id": MARKET, "token_ids": [YES, NO], "match_id": "m",
                     "game": "lol", "tick_size": 0.01, "min_order_size": 5}],
        "logging": {"file": str(log_file)},
        "alerts": _alerts_overlay(bot_api),
    }))
    config = load_config(config_path)
    writer = BookWriter.create(segment, [YES, NO], levels=8, tick_size=0.01)
    for token in (YES, NO):
        writer.apply_snapshot(token, [(0.49, 500.0)], [(0.50, 500.0)], t_recv_ns=1,
                              exchange_ts_ms=1)
    process = subprocess.Popen([sys.executable, "-m", "engine.main", "--config", str(config_path),
                                "--new-state"],
                               env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ctx = zmq.Context()
    dealer = bus.connect(ctx, zmq.DEALER, config.endpoint("engine_router"),
                         identity=bus.shard_identity(0))
    sub = bus.connect(ctx, zmq.SUB, config.endpoint("engine_pub"))
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    try:
        _wait_healthy(port, process)
        time.sleep(0.3)  # let the SUB join

        assert kill_main(["--config", str(config_path), "--reason", "operator drill"]) == 0
        pulled = bot_api.wait_for("kill switch pulled", 10)
        assert "CRITICAL" in pulled and "operator drill" in pulled
        _receive(sub, RiskState, where=lambda s: s.kill_switch)
        assert kill_main(["--config", str(config_path), "--reason", "drill over",
                          "--release"]) == 0
        released = bot_api.wait_for("kill switch released", 10)
        assert "INFO" in released and "drill over" in released
        _receive(sub, RiskState, where=lambda s: not s.kill_switch)

        dealer.send(encode(OrderIntent(
            intent_id="i1", idempotency_key="k1", shard_id=0, market_id=MARKET, token_id=YES,
            outcome=Outcome.YES, side=Side.BUY, price=0.50, size=20.0,
            order_type=OrderType.FAK, strategy=Strategy.TEMPORAL_ARB, t_origin_ns=1,
            t_decision_ns=1, t_sent_ns=1)))
        ack = _receive(dealer, IntentAck)
        assert ack.accepted, ack
        _receive(sub, ExecutionReport, where=lambda r: r.status is OrderStatus.FILLED)
        writer.apply_snapshot(YES, [(0.09, 500.0)], [(0.11, 500.0)], t_recv_ns=2,
                              exchange_ts_ms=2)  # 10 shares bought at 0.50 now marked at 0.10
        loss = bot_api.wait_for("daily loss exceeded", 10)
        assert "CRITICAL" in loss and "-2.00 USDC" in loss
        _receive(sub, RiskState, where=lambda s: s.kill_switch)
        time.sleep(1.5)  # many more ticks and kill-file polls: nothing is said twice
        assert len(bot_api.texts("daily loss exceeded")) == 1
        assert len(bot_api.texts("kill switch pulled by")) == 1
        assert len(bot_api.messages) == 3
    finally:
        dealer.close(0)
        sub.close(0)
        ctx.term()
        code, output = _stop(process)
        writer.close()
    assert code == 0, output
    assert all(path == f"/bot{TOKEN}/sendMessage" for path in bot_api.paths)
    log_text = log_file.read_text() if log_file.exists() else ""
    assert "daily loss exceeded" in log_text  # every alert is logged too
    for name, text in (("output", output), ("log", log_text)):
        assert TOKEN not in text and "SECRET-bot-token" not in text, f"token leaked in {name}"


# --- gateway --------------------------------------------------------------------------------


def test_gateway_process_warns_once_after_three_failed_market_reconnects(
        tmp_path: Path, bot_api: BotApi) -> None:
    dead = f"ws://127.0.0.1:{_free_port()}"  # nothing listens there
    config_file = tmp_path / "gateway.yaml"
    config_file.write_text(yaml.safe_dump({
        "run": {"run_dir": tempfile.mkdtemp(prefix="plag-"), "data_dir": str(tmp_path / "data")},
        "shm": {"segment_name": f"plag_{uuid.uuid4().hex[:10]}"},
        "polymarket": {"market_ws_url": dead, "user_ws_url": dead,
                       "clob_rest_url": f"http://127.0.0.1:{_free_port()}",
                       "reconnect_base_s": 0.05, "reconnect_max_s": 0.2},
        "metrics": {"gateway_port": 0},
        "providers": {},
        "markets": [{"market_id": MARKET, "token_ids": [YES, NO], "match_id": "m",
                     "game": "lol"}],
        "alerts": _alerts_overlay(bot_api),
    }))
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.main", "--config", str(config_file)],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 20)
        assert ready, "gateway printed no ready line in time"
        assert orjson.loads(process.stdout.readline())["event"] == "ready"
        warning = bot_api.wait_for("WS disconnect", 15)
        assert "WARNING" in warning and "market-0" in warning and "3 times" in warning
        time.sleep(1.5)  # the connection keeps failing: no second alert
        assert len(bot_api.texts("WS disconnect")) == 1
    finally:
        code, output = _stop(process)
    assert code == 0, output
    assert '"event_type": "alert"' in output or '"event_type":"alert"' in output
    assert TOKEN not in output and "SECRET-bot-token" not in output
