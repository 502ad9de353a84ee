"""`polyloly doctor`'s feed and clock checks against a tiny local server on 127.0.0.1 (an OS
port) that answers garbage, HTTP 500, or nothing: each esports check fails naming the provider,
the URL and what was wrong; a polling check sends exactly one request; a provider with nothing
to ask about is a warning; the venue's /time off by more than run.max_clock_skew_s fails a live
config and warns a paper one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from ops.feed_checks import check_feed
from ops.startup_checks import venue_clock_check
from polyloly.config import Config, validate

pytestmark = pytest.mark.timeout(60)

PROVIDERS = ("opendota", "lolesports", "liquipedia", "grid", "pandascore", "polymarket_sports")
SOCKET_PROVIDERS = ("pandascore", "polymarket_sports")
# the path each provider's one request goes to (the adapters' endpoints)
PATHS = {
    "opendota": "/api/live",
    "lolesports": "/persisted/gw/getLive",
    "liquipedia": "/api/v3/match",
    "grid": "/live-data-feed/series-state/graphql",
    "pandascore": "/matches/4242",
    "polymarket_sports": "/ws",
}
# a well-formed answer with nothing in it, per polling provider
EMPTY = {
    "opendota": b"[]",
    "lolesports": b'{"data": {"schedule": {"events": []}}}',
    "liquipedia": b'{"result": []}',
}


@dataclass
class BadServer:
    """Answers every request as ``mode`` says: garbage, 500, hang, or empty (well-formed)."""

    mode: str = "garbage"
    time_offset_s: float = 0.0
    requests: list[str] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path)
        if request.path == "/time":
            return web.Response(body=orjson.dumps(time.time() + self.time_offset_s))
        if self.mode == "500":
            return web.Response(status=500, text="Internal Server Error")
        if self.mode == "hang":
            await asyncio.sleep(30)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.send_str("<html>this is not JSON</html>")
            async for _ in ws:
                pass
            return ws
        if self.mode == "empty":
            (name,) = [name for name, path in PATHS.items() if path == request.path]
            return web.Response(body=EMPTY[name], content_type="application/json")
        return web.Response(text="<html>this is not JSON</html>", content_type="text/html")


@asynccontextmanager
async def bad_server() -> AsyncIterator[BadServer]:
    """The server on 127.0.0.1 and a port from the OS, stopped on the way out."""
    bad = BadServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", bad.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        bad.url = f"{host}:{port}"
        yield bad
    finally:
        await runner.cleanup()


def with_server(body: Callable[[BadServer], Awaitable[None]]) -> None:
    async def main() -> None:
        async with bad_server() as server:
            await body(server)

    asyncio.run(main())


def config_for(server: BadServer, *, ids: bool = True, mode: str = "paper") -> Config:
    http, ws = f"http://{server.url}", f"ws://{server.url}"
    providers: dict[str, Any] = {name: {"enabled": True, "url": http} for name in PROVIDERS}
    providers["pandascore"]["url"] = ws
    providers["polymarket_sports"]["url"] = f"{ws}/ws"
    provider_ids = {"opendota": "7000000001", "lolesports": "110", "liquipedia": "ABC123",
                    "grid": "2600000", "pandascore": "4242", "polymarket_sports": "99"}
    return validate({
        "run": {"mode": mode},
        "execution": {"executor": "real" if mode == "live" else "paper"},
        "polymarket": {"clob_rest_url": http},
        "providers": providers,
        "markets": [{
            "market_id": "0xabc", "token_ids": ["1", "2"], "match_id": "m", "game": "lol",
            "teams": ["T1", "Gen.G"], "provider_ids": provider_ids if ids else {},
        }],
    })


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_garbage_answer_fails_naming_provider_url_and_parse_error(name: str) -> None:
    async def body(server: BadServer) -> None:
        result = await check_feed(name, config_for(server), timeout_s=2.0)
        assert not result.ok and result.fatal, result
        assert result.detail.startswith(f"{name}: the answer of ")
        assert f"{server.url}{PATHS[name]} does not parse: not_json" in result.detail

    with_server(body)


@pytest.mark.parametrize("name", PROVIDERS)
def test_http_500_fails_naming_provider_url_and_status(name: str) -> None:
    async def body(server: BadServer) -> None:
        server.mode = "500"
        result = await check_feed(name, config_for(server), timeout_s=2.0)
        assert not result.ok and result.fatal, result
        assert result.detail.startswith(f"{name}: ")
        assert result.detail.endswith(f"{server.url}{PATHS[name]}")
        if name in SOCKET_PROVIDERS:
            assert "WebSocket handshake refused with HTTP 500 by " in result.detail
        else:
            assert "HTTP 500 from " in result.detail

    with_server(body)


@pytest.mark.parametrize("name", PROVIDERS)
def test_no_answer_within_the_timeout_fails(name: str) -> None:
    async def body(server: BadServer) -> None:
        server.mode = "hang"
        started = time.monotonic()
        result = await check_feed(name, config_for(server), timeout_s=0.5)
        assert time.monotonic() - started < 3.0
        assert not result.ok and result.fatal, result
        assert result.detail.startswith(f"{name}: no answer within 0.5s from ")
        assert result.detail.endswith(f"{server.url}{PATHS[name]}")

    with_server(body)


@pytest.mark.parametrize("name", ("opendota", "lolesports", "liquipedia"))
def test_a_polling_check_sends_exactly_one_request(name: str) -> None:
    async def body(server: BadServer) -> None:
        server.mode = "empty"
        result = await check_feed(name, config_for(server), timeout_s=2.0)
        assert result.ok, result
        assert server.requests == [PATHS[name]]

    with_server(body)


@pytest.mark.parametrize("name", ("grid", "pandascore", "liquipedia"))
def test_nothing_to_ask_is_a_warning_and_sends_nothing(name: str) -> None:
    async def body(server: BadServer) -> None:
        result = await check_feed(name, config_for(server, ids=False), timeout_s=2.0)
        assert not result.ok and not result.fatal
        assert result.detail == (
            f"{name}: nothing to ask: no configured market has provider_ids.{name}"
        )
        assert server.requests == []

    with_server(body)


@pytest.mark.parametrize(("mode", "fatal"), [("live", True), ("paper", False)])
def test_venue_time_off_by_more_than_the_limit(mode: str, fatal: bool) -> None:
    async def body(server: BadServer) -> None:
        config = config_for(server, mode=mode)
        async with aiohttp.ClientSession() as session:
            server.time_offset_s = 10.0
            off = await venue_clock_check(session, f"http://{server.url}", config)
            server.time_offset_s = 0.0
            near = await venue_clock_check(session, f"http://{server.url}", config)
        assert not off.ok and off.fatal is fatal
        assert 9.0 < float(off.detail.split("s against", 1)[0]) < 11.0
        assert "against the venue's /time (limit ±2s" in off.detail
        assert near.ok

    with_server(body)
