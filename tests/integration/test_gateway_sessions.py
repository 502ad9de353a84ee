"""WebSocket sessions, the user channel and the esports plug-in over real loopback sockets.

A small local websockets server plays the venue where the simulator has no switch for it
(a venue that stops answering PONG, scripted user-channel frames).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import zmq
from websockets.asyncio.server import ServerConnection, serve

from gateway.feeds import DeadLetterFn, EmitFn, RecordFn
from gateway.main import GatewayApp
from gateway.polymarket.ws_session import SessionSettings, WsSession
from gateway.recorder import read_recording
from polyloly import bus, messages, metrics
from polyloly.clock import SystemClock
from polyloly.config import Config, deep_merge, load_raw, validate
from polyloly.domain import MatchEventType, SourceTier
from polyloly.messages import (
    GameStatePayload,
    MatchEvent,
    SourceHealth,
    UserOrderUpdate,
    UserTradeUpdate,
)
from polyloly.resilience import CircuitBreaker
from tests.helpers.fixtures import polymarket


class FakeVenue:
    """A websockets server: records what clients send, answers PING unless told not to,
    and sends ``script`` frames after the first (subscription) message."""

    def __init__(self, answer_ping: bool = True, script: list[bytes] | None = None) -> None:
        self.answer_ping = answer_ping
        self.script = script or []
        self.connections = 0
        self.received: list[str] = []
        self.port = 0

    async def handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        first = True
        async for message in ws:
            text = message if isinstance(message, str) else message.decode()
            self.received.append(text)
            if text == "PING":
                if self.answer_ping:
                    await ws.send("PONG")
            elif first:
                first = False
                for frame in self.script:
                    await ws.send(frame.decode())

    async def __aenter__(self) -> FakeVenue:
        self._server = await serve(self.handler, "127.0.0.1", 0, compression=None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


async def _until(predicate: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.01)


def _session(url: str, frames: list[bytes], feed: str) -> WsSession:
    settings = SessionSettings(ping_interval_s=0.05, pong_timeout_s=0.3, reconnect_base_s=0.02,
                               reconnect_max_s=0.1, open_timeout_s=2.0)
    return WsSession("test-0", feed, url, b'{"assets_ids":["1"],"type":"market"}',
                     lambda raw, t: frames.append(raw), settings,
                     CircuitBreaker("test", SystemClock()))


def test_session_sends_text_ping_and_stays_up_while_pong_comes_back() -> None:
    async def scenario() -> None:
        async with FakeVenue(answer_ping=True) as venue:
            frames: list[bytes] = []
            session = _session(venue.url, frames, "test_ok")
            stop = asyncio.Event()
            task = asyncio.create_task(session.run(stop))
            await asyncio.sleep(0.6)
            stop.set()
            await asyncio.wait_for(task, 3)
            assert venue.connections == 1
            assert json.loads(venue.received[0])["assets_ids"] == ["1"]
            assert venue.received.count("PING") >= 5
            assert b"PONG" in frames

    asyncio.run(scenario())


def test_session_reconnects_and_resubscribes_when_pong_stops() -> None:
    counter = metrics.ws_reconnects.labels(feed="test_silent")

    async def scenario() -> None:
        async with FakeVenue(answer_ping=False) as venue:
            before = counter._value.get()
            session = _session(venue.url, [], "test_silent")
            stop = asyncio.Event()
            task = asyncio.create_task(session.run(stop))
            await _until(lambda: venue.connections >= 3, 5.0)
            stop.set()
            await asyncio.wait_for(task, 3)
            subscriptions = [m for m in venue.received if m.startswith("{")]
            assert len(subscriptions) >= 3  # every reconnect subscribes again
            assert counter._value.get() >= before + 2

    asyncio.run(scenario())


def test_session_against_a_closed_port_backs_off_and_stops_promptly() -> None:
    async def scenario() -> None:
        session = _session("ws://127.0.0.1:9", [], "test_refused")
        stop = asyncio.Event()
        task = asyncio.create_task(session.run(stop))
        await asyncio.sleep(0.3)
        assert not session.connected and session.connects == 0
        stop.set()
        started = time.monotonic()
        await asyncio.wait_for(task, 3)
        assert time.monotonic() - started < 1.0

    asyncio.run(scenario())


# --- through the gateway app --------------------------------------------------------------


def _config(tmp: Path, **overlay: Any) -> Config:
    base = {
        "run": {"run_dir": tempfile.mkdtemp(prefix="plgs-"), "data_dir": str(tmp / "data")},
        "shm": {"segment_name": f"plgs_{uuid.uuid4().hex[:10]}"},
        "metrics": {"enabled": False},
        "providers": {},
        "markets": [],
    }
    return validate(deep_merge(load_raw(None, environ={}), deep_merge(base, overlay)))


async def _with_app(app: GatewayApp, body: Callable[[], Awaitable[None]]) -> None:
    stop = asyncio.Event()
    runner = asyncio.create_task(app.run(stop))
    try:
        await body()
    finally:
        stop.set()
        await asyncio.wait_for(runner, 10)


def test_user_channel_authenticates_and_pushes_updates_to_the_engine_in_order(
        tmp_path: Path) -> None:
    script = [polymarket("ws_messages", "order_placement.json").read_bytes(),
              b"[" + polymarket("ws_messages", "user_trade2.json").read_bytes() + b","
              + polymarket("ws_messages", "order_cancel.json").read_bytes() + b"]",
              b'{"event_type":"order","id":"x","side":"BUY"}',
              b"PONG"]

    async def scenario() -> None:
        async with FakeVenue(script=script) as venue:
            config = _config(tmp_path, polymarket={"user_ws_url": venue.url})
            ctx = zmq.Context()
            pull = bus.bind(ctx, zmq.PULL, config.endpoint("user_updates"))
            app = GatewayApp(config, ctx=ctx, adapters=[], credentials=("k-123456",
                                                                        "s-123456",
                                                                        "p-123456"),
                             record_dir=tmp_path / "rec")
            received: list[messages.Message] = []

            async def body() -> None:
                while len(received) < 3:
                    if pull.poll(0):
                        received.append(messages.decode(pull.recv()))
                    else:
                        await asyncio.sleep(0.01)
                await _until(lambda: app.dlq.count >= 1, 2.0)

            try:
                await asyncio.wait_for(_with_app(app, body), 10)
            finally:
                pull.close(linger=0)
                ctx.term()
            auth = json.loads(venue.received[0])
            assert auth == {"auth": {"apiKey": "k-123456", "secret": "s-123456",
                                     "passphrase": "p-123456"}, "type": "user", "markets": []}
            assert [type(m) for m in received] == [UserOrderUpdate, UserTradeUpdate,
                                                   UserOrderUpdate]
            assert isinstance(received[0], UserOrderUpdate)
            assert received[0].update_type == "PLACEMENT" and received[0].status == "LIVE"
            assert isinstance(received[2], UserOrderUpdate)
            assert received[2].status == "CANCELED"
            assert app.dlq.count == 1
            recorded = [raw for env, raw in read_recording(tmp_path / "rec")
                        if env.event_type == "polymarket.user_ws"]
            assert recorded == script

    asyncio.run(scenario())


class FakeAdapter:
    """An esports adapter as ``gateway/esports`` will write them."""

    name = "fake"
    tier = SourceTier.A

    def __init__(self) -> None:
        self.go = asyncio.Event()

    async def run(self, emit: EmitFn, record: RecordFn, dead_letter: DeadLetterFn,
                  stop: asyncio.Event) -> None:
        await self.go.wait()  # the test's subscriber is connected
        for n in range(1, 4):
            raw = json.dumps({"n": n}).encode()
            t_recv_ns = time.monotonic_ns()
            record(self.name, raw, t_recv_ns)
            emit(MatchEvent(match_id="match-1", source=self.name, tier=self.tier,
                            event_type=MatchEventType.GAME_STATE,
                            payload=GameStatePayload(kills_a=n),
                            t_event_ms=n, t_recv_ns=t_recv_ns, t_recv_ms=n))
        dead_letter(self.name, b"\xffnot json", "malformed_json", "bad bytes")
        await stop.wait()


def test_esports_adapter_events_are_published_in_order_with_seq_and_health(
        tmp_path: Path) -> None:
    config = _config(tmp_path, providers={"fake": {"enabled": True, "url": "http://fake",
                                                   "tier": "A", "stale_threshold_ms": 300}})

    async def scenario() -> None:
        ctx = zmq.Context()
        adapter = FakeAdapter()
        app = GatewayApp(config, ctx=ctx, adapters=[adapter], record_dir=tmp_path / "rec")
        sub = bus.connect(ctx, zmq.SUB, config.endpoint("gateway_pub"))
        bus.subscribe(sub, "match_event", "match-1")
        bus.subscribe(sub, "source_health")
        received: list[messages.Message] = []

        async def body() -> None:
            def stale_again() -> bool:
                while sub.poll(0):
                    received.append(messages.decode(sub.recv_multipart()[1]))
                health = [m for m in received if isinstance(m, SourceHealth)]
                return bool(health) and health[-1].stale and any(
                    not h.stale for h in health)

            await asyncio.sleep(0.2)
            adapter.go.set()
            await _until(stale_again, 5.0)

        try:
            await _with_app(app, body)
        finally:
            sub.close(linger=0)
            ctx.term()
        events = [m for m in received if isinstance(m, MatchEvent)]
        health = [m for m in received if isinstance(m, SourceHealth)]
        assert [e.seq for e in events] == [1, 2, 3]
        assert [e.payload for e in events] == [GameStatePayload(kills_a=n) for n in (1, 2, 3)]
        assert [h.stale for h in health][-2:] == [False, True]
        assert health[-1].source == "fake" and health[-1].stale_threshold_ms == 300
        assert health[-1].last_event_age_ms > 300
        assert app.dlq.count == 1
        recorded = [raw for env, raw in read_recording(tmp_path / "rec")
                    if env.event_type == "esports.fake"]
        assert recorded == [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}']

    asyncio.run(scenario())
