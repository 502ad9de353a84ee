"""One real request per esports provider, built and parsed by the gateway's own adapter.

The check builds the provider's adapter exactly as the gateway does
(:mod:`gateway.esports`) and asks through it, so the URL, headers, query and body and the
parser are the gateway's, never a second copy:

* polling providers (OpenDota, LoL Esports, Liquipedia): the adapter's ``poll_once``; the
  first payload recorded stops the round, so exactly one request is sent;
* GRID: ``poll_state`` (the Series State GraphQL POST) of the first configured series;
* PandaScore: the frames socket of the first configured match (it greets with ``hello``);
* Polymarket sports WebSocket: the socket; pings are answered, the first data frame parsed.

A non-2xx answer, a refused handshake, a timeout, or an answer the parser dead-letters fails the
check with the provider, the URL (query left out: it may hold a token) and what was wrong.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from gateway.esports import ADAPTERS, SPORTS_WS
from gateway.esports.grid import GridAdapter
from gateway.esports.pandascore import PandaScoreAdapter
from gateway.esports.polymarket_sports import PolymarketSportsAdapter
from gateway.esports.transport import (
    AdapterBase,
    AdapterIO,
    HttpStatusError,
    ParseFn,
    PollingAdapter,
)
from polyloly.clock import SystemClock
from polyloly.config import Config
from polyloly.messages import MatchEvent

WS_CLOSED_NORMALLY = 1000  # PandaScore closes a finished match's socket with 1000


@dataclass(frozen=True, slots=True)
class FeedCheck:
    """``ok`` False with ``fatal`` False is a warning (nothing could be asked)."""

    ok: bool
    detail: str
    fatal: bool = True


@dataclass(slots=True)
class _Probe:
    """The shell callbacks the adapter talks to, plus every URL the session requested."""

    stop: asyncio.Event
    urls: list[str] = field(default_factory=list)
    payloads: int = 0
    events: int = 0
    dead_letters: list[str] = field(default_factory=list)

    def record(self, _source: str, _raw: bytes, _t_recv_ns: int) -> None:
        # one answer is all the check needs: later fetches of this round see ``stop`` and
        # return without sending
        self.payloads += 1
        self.stop.set()

    def emit(self, _event: MatchEvent) -> None:
        self.events += 1

    def dead_letter(self, _source: str, _raw: bytes, reason: str, detail: str) -> None:
        self.dead_letters.append(f"{reason}: {detail}"[:300])

    def io(self) -> AdapterIO:
        return AdapterIO(self.emit, self.record, self.dead_letter)

    @property
    def last_url(self) -> str:
        return self.urls[-1] if self.urls else "(no request sent)"


class _Refused(Exception):
    """The provider answered, but not as the check needs (closed, refused)."""


def public_url(url: str) -> str:
    """``url`` without query and fragment (a token may be in the query)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def build_adapter(name: str, config: Config) -> AdapterBase | None:
    """The gateway's adapter for provider ``name`` (as ``gateway.esports.build_adapters``
    builds it), or None when the gateway has no adapter of that name."""
    provider = config.providers[name]
    clock = SystemClock()
    if name == SPORTS_WS:
        return PolymarketSportsAdapter(
            provider, config.markets, clock, None,
            fallback_url=provider.url or config.polymarket.sports_ws_url,
        )
    factory = ADAPTERS.get(name)
    if factory is None:
        return None
    adapter = factory(provider, config.markets, clock, lambda _event: None)
    return adapter if isinstance(adapter, AdapterBase) else None


async def check_feed(name: str, config: Config, timeout_s: float) -> FeedCheck:
    """Ask provider ``name`` once through its adapter; never raises."""
    adapter = build_adapter(name, config)
    if adapter is None:
        return FeedCheck(False, f"no esports adapter named {name!r}: the gateway ignores it",
                         fatal=False)
    probe = _Probe(asyncio.Event())
    trace = aiohttp.TraceConfig()

    async def on_request_start(
        _session: aiohttp.ClientSession,
        _context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        probe.urls.append(public_url(str(params.url)))

    trace.on_request_start.append(on_request_start)
    listen_s = min(2.0, timeout_s / 2)
    started = time.monotonic()
    try:
        async with aiohttp.ClientSession(trace_configs=[trace]) as session:
            said = await asyncio.wait_for(
                _ask(adapter, session, probe, listen_s), timeout_s
            )
    except TimeoutError:
        return FeedCheck(False, f"{name}: no answer within {timeout_s:g}s from {probe.last_url}")
    except HttpStatusError as exc:
        return FeedCheck(False, f"{name}: HTTP {exc.status} from {probe.last_url}")
    except aiohttp.WSServerHandshakeError as exc:
        return FeedCheck(False, f"{name}: WebSocket handshake refused with HTTP {exc.status} "
                                f"by {probe.last_url}")
    except _Refused as exc:
        return FeedCheck(False, f"{name}: {exc} ({probe.last_url})")
    except (aiohttp.ClientError, OSError) as exc:
        return FeedCheck(False, f"{name}: {type(exc).__name__}: {exc} ({probe.last_url})")
    if said is None:
        return FeedCheck(False, f"{name}: nothing to ask: no configured market has "
                                f"provider_ids.{name}", fatal=False)
    if probe.dead_letters:
        return FeedCheck(False, f"{name}: the answer of {probe.last_url} does not parse: "
                                f"{probe.dead_letters[0]}")
    elapsed_ms = (time.monotonic() - started) * 1000
    return FeedCheck(True, f"{probe.last_url}: {said} ({elapsed_ms:.0f} ms)")


async def _ask(
    adapter: AdapterBase, session: aiohttp.ClientSession, probe: _Probe, listen_s: float
) -> str | None:
    """Send the one request; return what the answer was, or None when nothing was sent."""
    io = probe.io()
    if isinstance(adapter, PollingAdapter):
        await adapter.poll_once(session, io, probe.stop)
        return "answer parsed" if probe.payloads else None
    if isinstance(adapter, GridAdapter):
        series = adapter.parser.directory.ids()
        if not series:
            return None
        await adapter.poll_state(session, series[0], io)
        return "series state parsed"
    if isinstance(adapter, PandaScoreAdapter):
        matches = adapter.parser.directory.ids()
        if not matches:
            return None
        return await _listen(
            adapter, session, adapter.frames_url(matches[0]), adapter.parser.parse_frame,
            io, listen_s,
        )
    if isinstance(adapter, PolymarketSportsAdapter):
        return await _listen(adapter, session, adapter.url, adapter.parser.parse_frame, io,
                             listen_s)
    raise _Refused(f"the check does not know how to ask {type(adapter).__name__}")


async def _listen(
    adapter: AdapterBase,
    session: aiohttp.ClientSession,
    url: str,
    parse: ParseFn,
    io: AdapterIO,
    listen_s: float,
    final_close_codes: Sequence[int] = (WS_CLOSED_NORMALLY,),
) -> str:
    """Open the socket, answer pings, parse the first data frame (waiting up to
    ``listen_s``: a provider with nothing live sends none)."""
    pings = 0
    loop = asyncio.get_running_loop()
    async with session.ws_connect(url, autoping=True, compress=0, heartbeat=None) as ws:
        deadline = loop.time() + listen_s
        while (remaining := deadline - loop.time()) > 0:
            try:
                message = await ws.receive(timeout=remaining)
            except TimeoutError:
                break
            if message.type == aiohttp.WSMsgType.TEXT:
                text = str(message.data)
                if text.strip().lower() == "ping":  # the sports socket's keep-alive
                    await ws.send_str("PONG" if text.strip() == "PING" else "pong")
                    pings += 1
                    continue
                adapter.handle(text.encode(), parse, io)
                return "connected, first frame parsed"
            if message.type == aiohttp.WSMsgType.BINARY:
                adapter.handle(bytes(message.data), parse, io)
                return "connected, first frame parsed"
            code = ws.close_code
            if code in final_close_codes:
                return f"connected; the server closed the socket normally ({code})"
            raise _Refused(f"the server closed the socket with code {code}"
                           + (f" ({ws.exception()!r})" if ws.exception() else ""))
    waited = f"connected; no frame within {listen_s:g}s"
    return waited + (f" ({pings} ping(s) answered)" if pings else "")
