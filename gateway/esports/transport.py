"""The I/O half shared by every esports adapter: HTTP polling, WebSockets, politeness.

* :class:`RateLimiter` spaces requests to at most ``max_requests_per_minute``.
* :func:`poll_forever` calls a poll function every interval behind a :class:`CircuitBreaker`,
  backing off with jitter on transport errors.
* :func:`stream_websocket` keeps one WebSocket open (reconnecting with backoff and jitter),
  answers text pings, and hands every data frame to a callback.
* :class:`AdapterBase` turns one raw payload into events through a pure parser: records it,
  dead-letters what cannot be parsed, counts what cannot be placed, emits the rest.
* :class:`PollingAdapter` is the run loop of the HTTP-polling adapters: one session, one
  :func:`poll_forever` over the adapter's ``poll_once``, requests spaced by a shared limiter.

Nothing here raises out of a loop for provider trouble: errors are logged, counted and retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from gateway.esports.events import EventStamp, ParseResult
from gateway.esports.ids import MatchDirectory
from gateway.esports.json_fields import ParseError
from gateway.feeds import DeadLetterFn, EmitFn, RecordFn
from polyloly import metrics
from polyloly.clock import Clock
from polyloly.config import ProviderConfig
from polyloly.domain import SourceTier
from polyloly.logs import get_logger
from polyloly.resilience import BreakerConfig, CircuitBreaker, RetryPolicy

ParseFn = Callable[[bytes, EventStamp], ParseResult]
ObserveFn = Callable[[Any], None]


class CountsIgnored(Protocol):
    """A parser that counts the well-formed entries it skips (games we do not track)."""

    ignored: int

# Errors of the network or the provider's service: retried with backoff, never fatal.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    aiohttp.ClientError,
    asyncio.TimeoutError,
    OSError,
)


class HttpStatusError(RuntimeError):
    """The provider answered with an HTTP status we treat as a failure (429, 5xx, 401...)."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"HTTP {status} from {url}")
        self.status = status


# What a poll or a socket attempt may fail with and still be retried.
_POLL_ERRORS: tuple[type[Exception], ...] = (*TRANSPORT_ERRORS, HttpStatusError)
_SOCKET_ERRORS: tuple[type[Exception], ...] = (*TRANSPORT_ERRORS, aiohttp.WSServerHandshakeError)


MAX_PAYLOAD_BYTES = 8 << 20  # a provider answer or frame above this is a dead letter, unparsed
_DEAD_RAW_BYTES = 64 << 10  # bytes of an oversized payload kept in its dead letter


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """One HTTP response: status and body bytes."""

    status: int
    body: bytes


async def http_request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    json_body: Any = None,
    timeout_s: float = 10.0,
    ok_statuses: tuple[int, ...] = (200, 204, 404),
) -> HttpAnswer:
    """Send one request; return the answer for ``ok_statuses``, raise HttpStatusError else."""
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with session.request(
        method, url, headers=headers, params=params, json=json_body, timeout=timeout
    ) as response:
        # read at most one chunk past the cap: a huge answer costs no more than the cap
        buffer = bytearray()
        async for chunk in response.content.iter_chunked(64 << 10):
            buffer += chunk
            if len(buffer) > MAX_PAYLOAD_BYTES:
                break
        body = bytes(buffer)
        if response.status not in ok_statuses:
            raise HttpStatusError(url, response.status)
        return HttpAnswer(response.status, body)


class RateLimiter:
    """Allow one request every ``60 / max_per_minute`` seconds (monotonic clock)."""

    def __init__(self, max_per_minute: int, clock: Clock) -> None:
        if max_per_minute <= 0:
            raise ValueError(f"max_per_minute: expected a positive number, was {max_per_minute}")
        self.interval_ns = 60_000_000_000 // max_per_minute
        self._clock = clock
        self._next_ns: int | None = None

    def wait_s(self) -> float:
        """Seconds until the next request is allowed (0 when it is now)."""
        if self._next_ns is None:
            return 0.0
        return max(0.0, (self._next_ns - self._clock.monotonic_ns()) / 1e9)

    def take(self) -> None:
        """Spend one request now."""
        self._next_ns = self._clock.monotonic_ns() + self.interval_ns

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait for the next slot; return False (without spending) if ``stop`` is set first."""
        while not stop.is_set():
            delay = self.wait_s()
            if delay <= 0:
                self.take()
                return True
            await wait_or_stop(stop, delay)
        return False


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; return True if ``stop`` was set meanwhile."""
    if seconds <= 0:
        return stop.is_set()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()


class Backoff:
    """Growing delays with jitter for consecutive failures; :meth:`reset` after a success."""

    def __init__(self, policy: RetryPolicy, rng: random.Random) -> None:
        self.policy = policy
        self._rng = rng
        self.failures = 0

    def next_delay_s(self) -> float:
        """Delay before the next attempt after one more failure."""
        delay = self.policy.delay_s(self.failures, self._rng)
        self.failures += 1
        return delay

    def reset(self) -> None:
        """Forget past failures."""
        self.failures = 0


def make_breaker(name: str, clock: Clock) -> CircuitBreaker:
    """A breaker for one provider: 5 failures open it for 30 s."""
    return CircuitBreaker(name, clock, BreakerConfig(failure_threshold=5, recovery_timeout_s=30.0))


def make_backoff(seed: int | None = None) -> Backoff:
    """Backoff from 1 s doubling to 60 s, ±20 % jitter."""
    policy = RetryPolicy(max_attempts=1_000_000, base_delay_s=1.0, max_delay_s=60.0, jitter=0.2)
    return Backoff(policy, random.Random(seed))


async def poll_forever(
    source: str,
    interval_s: float,
    poll_once: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    breaker: CircuitBreaker,
    backoff: Backoff,
) -> None:
    """Call ``poll_once`` every ``interval_s`` until ``stop``; back off on transport errors."""
    log = get_logger(f"gateway.esports.{source}")
    while not stop.is_set():
        if not breaker.allow():
            await wait_or_stop(stop, min(interval_s, 1.0))
            continue
        trips = breaker.trips
        try:
            await poll_once()
        except _POLL_ERRORS as exc:
            breaker.record_failure()
            if breaker.trips != trips:
                metrics.circuit_breaker_trips.labels(market=source, reason="feed_errors").inc()
            delay = backoff.next_delay_s()
            log.warning("poll_failed", f"{source} poll failed: {exc!r}", retry_in_s=delay)
            await wait_or_stop(stop, delay)
            continue
        breaker.record_success()
        backoff.reset()
        await wait_or_stop(stop, interval_s)


class WebSocketClosedForGood(Exception):
    """The provider closed the socket with a code that means "do not reconnect"."""


async def stream_websocket(
    source: str,
    session: aiohttp.ClientSession,
    url: str,
    on_frame: Callable[[bytes], object],
    stop: asyncio.Event,
    breaker: CircuitBreaker,
    backoff: Backoff,
    *,
    final_close_codes: tuple[int, ...] = (),
    idle_timeout_s: float = 60.0,
    url_for_reconnect: Callable[[], str] | None = None,
) -> None:
    """Keep a WebSocket to ``url`` open until ``stop``; pass every data frame to ``on_frame``.

    Text ``ping``/``PING`` frames are answered ``pong``/``PONG`` and not passed on. A socket
    silent for ``idle_timeout_s`` is reconnected. A close with one of ``final_close_codes``
    ends the stream (PandaScore closes with 1000 when the match is over).
    """
    log = get_logger(f"gateway.esports.{source}")
    connected_before = False
    while not stop.is_set():
        if not breaker.allow():
            await wait_or_stop(stop, 1.0)
            continue
        target = url_for_reconnect() if (connected_before and url_for_reconnect) else url
        trips = breaker.trips
        try:
            async with session.ws_connect(
                target, autoping=True, compress=0, max_msg_size=MAX_PAYLOAD_BYTES, heartbeat=None
            ) as ws:
                if connected_before:
                    metrics.ws_reconnects.labels(feed=source).inc()
                connected_before = True
                breaker.record_success()
                backoff.reset()
                code = await _receive_until_closed(ws, on_frame, stop, idle_timeout_s)
            if code in final_close_codes:
                log.info("ws_closed_final", f"{source} closed the stream", close_code=code)
                return
            if stop.is_set():
                return
            log.warning("ws_closed", f"{source} socket closed", close_code=code)
            await wait_or_stop(stop, backoff.next_delay_s())
        except _SOCKET_ERRORS as exc:
            breaker.record_failure()
            if breaker.trips != trips:
                metrics.circuit_breaker_trips.labels(market=source, reason="feed_errors").inc()
            delay = backoff.next_delay_s()
            log.warning("ws_failed", f"{source} socket failed: {exc!r}", retry_in_s=delay)
            await wait_or_stop(stop, delay)


async def _receive_until_closed(
    ws: aiohttp.ClientWebSocketResponse,
    on_frame: Callable[[bytes], object],
    stop: asyncio.Event,
    idle_timeout_s: float,
) -> int | None:
    idle_s = 0.0
    step_s = 0.25
    while not stop.is_set():
        try:
            message = await ws.receive(timeout=step_s)
        except TimeoutError:
            idle_s += step_s
            if idle_s >= idle_timeout_s:
                await ws.close()
                return None
            continue
        idle_s = 0.0
        if message.type == aiohttp.WSMsgType.TEXT:
            text = message.data
            if text.strip().lower() == "ping":
                await ws.send_str("PONG" if text.strip() == "PING" else "pong")
                continue
            on_frame(text.encode())
        elif message.type == aiohttp.WSMsgType.BINARY:
            on_frame(bytes(message.data))
        elif message.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.ERROR,
        ):
            return ws.close_code
    await ws.close()
    return ws.close_code


@dataclass(slots=True)
class AdapterIO:
    """The shell's callbacks for one running adapter."""

    emit: EmitFn
    record: RecordFn
    dead_letter: DeadLetterFn


class AdapterBase:
    """What every esports adapter shares: identity, clock, and the payload → events step."""

    def __init__(
        self,
        name: str,
        tier: SourceTier,
        provider: ProviderConfig,
        clock: Clock,
        observe: ObserveFn | None = None,
    ) -> None:
        self.name = name
        self.tier = tier
        self.provider = provider
        self.clock = clock
        self._observe = observe
        self.log = get_logger(f"gateway.esports.{name}")

    def provider_key(self) -> str:
        """The provider's key or token from the environment variable ``api_key_env``
        ("" when the variable is not configured or not set)."""
        env = self.provider.api_key_env
        return os.environ.get(env, "") if env else ""

    def stamp(self) -> EventStamp:
        """The receive stamp of a payload arriving now."""
        return EventStamp(self.name, self.tier, self.clock.monotonic_ns(), self.clock.wall_ms())

    def handle(self, raw: bytes, parse: ParseFn, io: AdapterIO) -> ParseResult:
        """Record ``raw``, parse it, report what was dropped, emit the events; never raise."""
        stamp = self.stamp()
        if len(raw) > MAX_PAYLOAD_BYTES:  # bounded work: never parsed (issue 20 #4)
            io.dead_letter(self.name, raw[:_DEAD_RAW_BYTES], "payload_too_large",
                           f"{len(raw)} bytes > {MAX_PAYLOAD_BYTES}")
            return ParseResult()
        io.record(self.name, raw, stamp.t_recv_ns)
        try:
            result = parse(raw, stamp)
        except ParseError as exc:
            io.dead_letter(self.name, raw, exc.reason, exc.detail)
            return ParseResult()
        except Exception as exc:  # a parser bug must not take the feed down
            io.dead_letter(self.name, raw, "parser_error", repr(exc))
            self.log.error("parser_error", f"{self.name} parser failed", error=repr(exc))
            return ParseResult()
        for rejection in result.rejections:
            if rejection.dead_letter:
                io.dead_letter(self.name, raw, rejection.reason, rejection.detail)
            else:
                metrics.bad_input.labels(
                    component=f"gateway.esports.{self.name}", reason=rejection.reason
                ).inc()
        for event in result.events:
            metrics.event_lag_ms.labels(source=self.name).observe(
                max(0, event.t_recv_ms - event.t_event_ms)
            )
            if self._observe is not None:
                self._observe(event)
            io.emit(event)
        return result

    def handle_counting_ignored(
        self, raw: bytes, parse: ParseFn, io: AdapterIO, parser: CountsIgnored, reason: str
    ) -> None:
        """:meth:`handle` ``raw``; count the entries ``parser`` skipped meanwhile as ignored
        (``polyloly_feed_ignored_total{feed, reason}``), not as bad input."""
        before = parser.ignored
        self.handle(raw, parse, io)
        if parser.ignored > before:
            metrics.feed_ignored.labels(feed=self.name, reason=reason).inc(
                parser.ignored - before
            )


class PollingAdapter(AdapterBase, ABC):
    """An adapter that asks its provider over HTTP every ``poll_interval_ms``.

    Requests are spaced by one :class:`RateLimiter` of ``max_requests_per_minute`` over all of
    the adapter's requests. With no configured match the adapter only waits for ``stop``.
    """

    def __init__(
        self,
        name: str,
        provider: ProviderConfig,
        directory: MatchDirectory,
        clock: Clock,
        observe: ObserveFn | None = None,
    ) -> None:
        super().__init__(name, SourceTier(provider.tier), provider, clock, observe)
        self.directory = directory
        self.limiter = RateLimiter(provider.max_requests_per_minute, clock)

    async def run(
        self, emit: EmitFn, record: RecordFn, dead_letter: DeadLetterFn, stop: asyncio.Event
    ) -> None:
        """Poll until ``stop``."""
        io = AdapterIO(emit, record, dead_letter)
        if not len(self.directory):
            await stop.wait()
            return
        async with aiohttp.ClientSession() as session:
            await poll_forever(
                self.name,
                self.provider.poll_interval_ms / 1000,
                lambda: self.poll_once(session, io, stop),
                stop,
                make_breaker(self.name, self.clock),
                make_backoff(),
            )

    @abstractmethod
    async def poll_once(
        self, session: aiohttp.ClientSession, io: AdapterIO, stop: asyncio.Event
    ) -> None:
        """Ask the provider once for what is needed now; raise transport errors (retried)."""

    async def fetch(
        self,
        session: aiohttp.ClientSession,
        url: str,
        stop: asyncio.Event,
        **request: Any,
    ) -> HttpAnswer | None:
        """Wait for a request slot, then GET ``url`` (``request``: :func:`http_request`'s
        keyword arguments); None (nothing sent) when ``stop`` is set first."""
        if not await self.limiter.acquire(stop):
            return None
        return await http_request(session, "GET", url, **request)
