"""The engine is SIGKILLed between placing an order (resting at the venue) and its fill; the
order fills while the engine is dead; the restarted engine reconciles with the venue before
accepting intents, knows the fill, and places nothing twice — not even when the shard resends
the same intent. Real executor, py-clob-client-v2, the simulator's CLOB V2."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
import zmq
from eth_account import Account

from ops.commands import fetch_json
from polyloly import bus
from polyloly.config import load_config
from polyloly.domain import OrderStatus, OrderType, Outcome, RejectReason, Side, Strategy
from polyloly.messages import ExecutionReport, IntentAck, OrderIntent, decode, encode
from shm.writer import BookWriter
from sim.venue.testing import SampleMarket, ThreadedVenue
from tests.helpers.engine_launch import free_port, wait_healthy

KEY = "0x" + "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
MARKET = SampleMarket()
YES, NO = MARKET.token_ids


def _receive(sock: zmq.Socket, kind: type, timeout_s: float, where: Any = None) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sock.poll(100):
            message = decode(sock.recv_multipart()[-1])
            if isinstance(message, kind) and (where is None or where(message)):
                return message
    raise AssertionError(f"no {kind.__name__} within {timeout_s} s")


def _start_engine(config_path: Path, env: dict[str, str],
                  new_state: bool = False) -> subprocess.Popen[bytes]:
    # only the first start may create the state: a restart must find the one it left
    return subprocess.Popen(
        [sys.executable, "-m", "engine.main", "--config", str(config_path),
         *(["--new-state"] if new_state else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


@pytest.mark.timeout(120)
def test_engine_killed_between_placement_and_fill_reconciles_and_never_duplicates(
    tmp_path: Path,
) -> None:
    segment = f"plk_{uuid.uuid4().hex[:10]}"
    port = free_port()
    address = Account.from_key(KEY).address
    with ThreadedVenue([MARKET], matching_delay_s=0.0) as sim:
        venue = sim.venue
        sim.call(lambda: venue.place_internal("mm", YES, "SELL", 0.451, 100))
        sim.call(lambda: venue.place_internal("mm", YES, "BUY", 0.449, 100))
        overlay = {
            "run": {"run_dir": str(tmp_path / "run"), "data_dir": str(tmp_path / "data")},
            "shm": {"segment_name": segment},
            "polymarket": {"clob_rest_url": sim.url, "matching_delay_s": 0.0},
            "execution": {"executor": "real", "trade_poll_interval_s": 0.2},
            "metrics": {"engine_port": port},
            "markets": [{"market_id": MARKET.condition_id, "token_ids": [YES, NO],
                         "match_id": "m", "game": "cs2", "tick_size": 0.001,
                         "min_order_size": 5}],
            "logging": {"file": str(tmp_path / "engine.log")},
        }
        config_path = tmp_path / "engine.yaml"
        config_path.write_text(yaml.safe_dump(overlay))
        config = load_config(config_path)
        writer = BookWriter.create(segment, [YES, NO], levels=8, tick_size=0.001)
        writer.apply_snapshot(YES, [(0.449, 100.0)], [(0.451, 100.0)], t_recv_ns=1,
                              exchange_ts_ms=1)
        writer.apply_snapshot(NO, [(0.549, 100.0)], [(0.551, 100.0)], t_recv_ns=1,
                              exchange_ts_ms=1)
        env = {**os.environ, "POLYMARKET_PRIVATE_KEY": KEY, "LIVE_TRADING": "1"}
        for name in ("POLYMARKET_API_KEY", "POLYMARKET_API_SECRET", "POLYMARKET_API_PASSPHRASE"):
            env.pop(name, None)
        bus.ensure_run_dir(config)
        context = zmq.Context()
        engine = _start_engine(config_path, env, new_state=True)
        dealer = sub = None
        try:
            wait_healthy(port, engine, 30)
            dealer = bus.connect(context, zmq.DEALER, config.endpoint("engine_router"),
                                 identity=bus.shard_identity(0))
            sub = bus.connect(context, zmq.SUB, config.endpoint("engine_pub"))
            bus.subscribe(sub, "execution_report")
            time.sleep(0.3)
            intent = OrderIntent(
                intent_id="i-rest", idempotency_key="k-rest", shard_id=0,
                market_id=MARKET.condition_id, token_id=YES, outcome=Outcome.YES, side=Side.BUY,
                price=0.450, size=20.0, order_type=OrderType.GTC, strategy=Strategy.PAIR_ARB,
                t_origin_ns=1, t_decision_ns=1, t_sent_ns=1,
            )
            dealer.send(encode(intent))
            ack = _receive(dealer, IntentAck, 10)
            assert ack.accepted, ack
            live = _receive(sub, ExecutionReport, 15, lambda r: r.status is OrderStatus.LIVE)
            size = live.size  # risk may size the intent down (volatility, drawdown)
            assert 5.0 <= size <= 20.0
            ours = sim.call(lambda: [o for o in venue._orders.values() if o.address == address])
            assert len(ours) == 1

            engine.send_signal(signal.SIGKILL)  # dies with the order resting, unfilled
            engine.wait(10)
            sim.call(lambda: venue.place_internal("taker", YES, "SELL", 0.450, 20, "FAK"))
            assert sim.call(lambda: venue.position_u(address, YES)) == round(size * 1e6)

            engine = _start_engine(config_path, env)
            wait_healthy(port, engine, 30)  # healthy only after reconciling with the venue
            status = fetch_json(port, "/status")[1]
            held = {p["token_id"]: p["shares"] for p in status["positions"]}
            assert held.get(YES) == pytest.approx(size), status
            assert not status["open_orders"], status
            assert not status["halted_markets"], status

            dealer.send(encode(intent))  # the shard resends the same decision after a restart
            again = _receive(dealer, IntentAck, 10)
            assert not again.accepted and again.reason is RejectReason.DUPLICATE
            time.sleep(0.5)
            ours = sim.call(lambda: [o for o in venue._orders.values() if o.address == address])
            assert len(ours) == 1, "an order was placed twice"
        finally:
            for sock in (dealer, sub):
                if sock is not None:
                    sock.close(0)
            context.term()
            if engine.poll() is None:
                engine.send_signal(signal.SIGTERM)
                try:
                    engine.wait(15)
                except subprocess.TimeoutExpired:
                    engine.kill()
            writer.close()
