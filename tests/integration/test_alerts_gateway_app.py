"""The gateway app (in process, real loopback sockets) hands its SPEC §14 alerts to ``alert``:
a WS session that cannot reconnect, and an esports source that goes silent then speaks again."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

from gateway.feeds import DeadLetterFn, EmitFn, RecordFn
from gateway.main import GatewayApp
from gateway.polymarket.ws_session import SessionSettings, WsSession
from polyloly.alerts import Alert, Severity
from polyloly.clock import SystemClock
from polyloly.config import Config, deep_merge, load_raw, validate
from polyloly.domain import SourceTier
from polyloly.resilience import CircuitBreaker
from tests.helpers.ports import held_port


async def _until(predicate: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.01)


def _closed_port() -> int:
    return held_port()  # from the OS, held for the session: nothing else can take it


def test_a_session_that_cannot_reconnect_alerts_once_per_streak() -> None:
    alerts: list[Alert] = []

    def flaky_alert(alert: Alert) -> None:
        alerts.append(alert)
        raise RuntimeError("alert sink down")  # must not take the session down

    settings = SessionSettings(reconnect_base_s=0.01, reconnect_max_s=0.02, open_timeout_s=1.0)
    session = WsSession("market-7", "test_alerts", f"ws://127.0.0.1:{_closed_port()}",
                        b"{}", lambda raw, t: None, settings,
                        CircuitBreaker("test_alerts", SystemClock()), on_alert=flaky_alert)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(session.run(stop))
        await _until(lambda: session.alarm.consecutive_failures >= 5, 5.0)  # breaker opens at 5
        stop.set()
        await asyncio.wait_for(task, 3)

    asyncio.run(scenario())
    (alert,) = alerts
    assert alert.severity is Severity.WARNING and alert.key == "ws_disconnect:market-7"


class _TalkThenSilent:
    """An esports adapter that sends one payload, goes silent, then speaks again on ``resume``."""

    name = "silentfeed"
    tier = SourceTier.B

    def __init__(self) -> None:
        self.resume = asyncio.Event()

    async def run(self, emit: EmitFn, record: RecordFn, dead_letter: DeadLetterFn,
                  stop: asyncio.Event) -> None:
        record(self.name, json.dumps({"n": 1}).encode(), time.monotonic_ns())
        await self.resume.wait()
        record(self.name, json.dumps({"n": 2}).encode(), time.monotonic_ns())
        await stop.wait()


def _config(tmp: Path) -> Config:
    overlay = {
        "run": {"run_dir": tempfile.mkdtemp(prefix="plaa-"), "data_dir": str(tmp / "data")},
        "shm": {"segment_name": f"plaa_{uuid.uuid4().hex[:10]}"},
        "metrics": {"enabled": False},
        "providers": {"silentfeed": {"enabled": True, "url": "http://unused", "tier": "B",
                                     "stale_threshold_ms": 200}},
        "markets": [],
    }
    return validate(deep_merge(load_raw(None, environ={}), overlay))


def test_a_source_going_stale_warns_at_once_and_its_recovery_informs(tmp_path: Path) -> None:
    alerts: list[Alert] = []
    adapter = _TalkThenSilent()

    async def scenario() -> None:
        ctx: zmq.Context[Any] = zmq.Context()
        app = GatewayApp(_config(tmp_path), ctx=ctx, adapters=[adapter], alert=alerts.append)
        stop = asyncio.Event()
        runner = asyncio.create_task(app.run(stop))
        try:
            await _until(lambda: bool(alerts), 5.0)
            await asyncio.sleep(0.3)  # still stale: nothing more
            adapter.resume.set()
            await _until(lambda: len(alerts) >= 2, 5.0)
        finally:
            stop.set()
            await asyncio.wait_for(runner, 10)
            ctx.term()

    asyncio.run(scenario())
    assert [(a.severity, a.key) for a in alerts] == [
        (Severity.WARNING, "source_stale:silentfeed"),
        (Severity.INFO, "source_stale:silentfeed:recovered"),
    ]
    assert "silentfeed" in alerts[0].text and "threshold 0.2 s" in alerts[0].text
