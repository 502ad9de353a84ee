"""Issue 20 #3: a half-open market WebSocket (TCP up, no bytes) went unnoticed for 24–36 s
(ping every 10 s, timeout 30 s) while its books looked fresh. Liveness is now any frame (data
or PONG) within ``polymarket.pong_timeout_s`` (3 s by default, PING every 1 s): a silent
connection is dropped, its books flagged STALE (which shards and the engine's risk refuse:
``shards/market_trader.py`` tradable mask, ``tests/unit/test_risk_manager.py`` BOOK_STALE), and
it is re-made. A failing disconnect handler no longer ends the session for good."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import zmq
from websockets.asyncio.server import ServerConnection, serve

from gateway.main import GatewayApp
from gateway.polymarket.ws_session import SessionSettings, WsSession
from polyloly.clock import SystemClock
from polyloly.config import Config, PolymarketConfig, deep_merge, load_raw, validate
from polyloly.resilience import CircuitBreaker
from shm import SlotFlags

TOKENS = ("7001", "7002")
MARKET = "0x" + "cd" * 32


class HalfOpenVenue:
    """Sends a book per token after the subscription and answers PING — until ``mute()``:
    then the TCP connection stays up and not one byte more is sent (a half-open socket)."""

    def __init__(self) -> None:
        self.muted = False
        self.connections = 0
        self.port = 0

    def mute(self) -> None:
        self.muted = True

    async def handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        first = True
        async for message in ws:
            if self.muted:
                continue  # reads, never answers: the peer sees silence
            text = message if isinstance(message, str) else message.decode()
            if text == "PING":
                await ws.send("PONG")
            elif first:
                first = False
                await ws.send(orjson.dumps([
                    {"event_type": "book", "asset_id": t, "market": MARKET,
                     "timestamp": "1700000000000", "hash": "h",
                     "bids": [{"price": "0.40", "size": "10"}],
                     "asks": [{"price": "0.60", "size": "10"}]} for t in TOKENS]).decode())

    async def __aenter__(self) -> HalfOpenVenue:
        self._server = await serve(self.handler, "127.0.0.1", 0, compression=None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()


def _config(tmp: Path, url: str) -> Config:
    overlay: dict[str, Any] = {
        "run": {"run_dir": tempfile.mkdtemp(prefix="plgl-"), "data_dir": str(tmp / "data")},
        "shm": {"segment_name": f"plgl_{uuid.uuid4().hex[:10]}"},
        "metrics": {"enabled": False}, "providers": {},
        "polymarket": {"market_ws_url": url, "clob_rest_url": "http://127.0.0.1:9",
                       "reconnect_base_s": 0.05, "reconnect_max_s": 0.2},
        "markets": [{"market_id": MARKET, "token_ids": list(TOKENS), "match_id": "m",
                     "game": "cs2"}],
    }
    return validate(deep_merge(load_raw(None, environ={}), overlay))


def test_the_defaults_notice_a_silent_socket_within_a_few_seconds() -> None:
    defaults = PolymarketConfig()
    assert defaults.pong_timeout_s <= 5.0 and defaults.ping_interval_s < defaults.pong_timeout_s


def test_a_half_open_market_socket_marks_its_books_stale_within_the_timeout(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        async with HalfOpenVenue() as venue:
            config = _config(tmp_path, f"ws://127.0.0.1:{venue.port}")
            ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
            app = GatewayApp(config, ctx=ctx, adapters=[])
            stop = asyncio.Event()
            runner = asyncio.create_task(app.run(stop))
            try:
                assert app.keeper is not None
                keeper = app.keeper
                deadline = time.monotonic() + 10
                while any(keeper.tokens[t].flags for t in TOKENS):
                    assert time.monotonic() < deadline, "books never became fresh"
                    await asyncio.sleep(0.02)
                await asyncio.sleep(1.5)  # PONGs keep a quiet connection alive
                assert all(keeper.tokens[t].flags == 0 for t in TOKENS)
                assert app.sessions[0].liveness_drops == 0
                venue.mute()
                muted_at = time.monotonic()
                while not all(keeper.tokens[t].flags & SlotFlags.STALE for t in TOKENS):
                    assert time.monotonic() - muted_at < 6.0, "silence went unnoticed"
                    await asyncio.sleep(0.02)
                noticed_s = time.monotonic() - muted_at
                assert noticed_s <= config.polymarket.pong_timeout_s + 1.5
                assert app.sessions[0].liveness_drops >= 1
                assert app.health()["healthy"] is False
            finally:
                stop.set()
                await asyncio.wait_for(runner, 10)
                ctx.term()

    asyncio.run(scenario())


def test_a_failing_disconnect_handler_does_not_end_the_session_for_good() -> None:
    downs: list[int] = []

    def on_down() -> None:
        downs.append(1)
        raise OverflowError("a value our handler could not store")

    async def scenario() -> None:
        async with HalfOpenVenue() as venue:
            settings = SessionSettings(ping_interval_s=0.05, pong_timeout_s=0.3,
                                       reconnect_base_s=0.02, reconnect_max_s=0.1)
            session = WsSession("t-0", "test_liveness", f"ws://127.0.0.1:{venue.port}",
                                b'{"assets_ids":[],"type":"market"}', lambda raw, t: None,
                                settings, CircuitBreaker("t", SystemClock()), on_down=on_down)
            venue.mute()
            stop = asyncio.Event()
            task = asyncio.create_task(session.run(stop))
            deadline = time.monotonic() + 5
            while venue.connections < 3:
                assert not task.done(), "the session ended for good"
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            stop.set()
            await asyncio.wait_for(task, 3)
            assert len(downs) >= 2

    asyncio.run(scenario())


def test_config_check_refuses_a_timeout_that_leaves_no_room_for_the_pong() -> None:
    from ops.config_errors import liveness_errors

    base = load_raw(None, environ={})
    bad = validate(deep_merge(base, {"polymarket": {"ping_interval_s": 5.0,
                                                    "pong_timeout_s": 3.0}}))
    (line,) = liveness_errors(bad)
    assert line.startswith("polymarket.pong_timeout_s") and "must exceed" in line
    assert liveness_errors(validate(base)) == []


def test_one_token_that_cannot_be_flagged_never_spares_the_others(tmp_path: Path) -> None:
    from gateway.polymarket.book_keeper import BookKeeper
    from shm import BookUpdateError, BookWriter
    from shm.errors import BookRejectReason

    store = BookWriter.create(f"plgd_{uuid.uuid4().hex[:10]}", list(TOKENS), levels=4,
                              tick_size=0.01)
    try:
        keeper = BookKeeper(store, dict.fromkeys(TOKENS, MARKET))
        keeper.mark_connected(TOKENS)
        real = store.mark_stale

        def failing(token: str, stale: bool = True) -> Any:
            if token == TOKENS[0]:
                raise BookUpdateError(BookRejectReason.MALFORMED, token, "injected")
            return real(token, stale)

        store.mark_stale = failing  # type: ignore[method-assign]
        out = keeper.mark_disconnected(TOKENS, 1)
        assert [d.reason for d in out.dead_letters] == ["book_malformed"]
        assert keeper.tokens[TOKENS[1]].flags & SlotFlags.STALE
        assert not keeper.tokens[TOKENS[0]].connected
    finally:
        store.close()
