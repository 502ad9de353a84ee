"""One resilient Polymarket WebSocket session: connect, subscribe, keep alive, reconnect.

Used for every market-channel connection and for the user channel. Keep-alive is the venue's
text ``PING`` every ``ping_interval_s``; when no text ``PONG`` has come for ``pong_timeout_s``
the connection is dropped and re-made. Reconnects back off exponentially with jitter
(``reconnect_base_s`` → ``reconnect_max_s``) behind a :class:`~polyloly.resilience.CircuitBreaker`,
and every reconnect is counted in ``polyloly_ws_reconnects_total{feed}``. A streak of failed
reconnects raises a WARNING alert through ``on_alert`` (SPEC §14, :mod:`gateway.alerting`).
Frames are handed over as raw bytes with their CLOCK_MONOTONIC receive time, before any
parsing; permessage-deflate is off (ARCHITECTURE §9).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import websockets
from websockets.asyncio.client import ClientConnection, connect

from gateway.alerting import AlertFn, ReconnectAlarm, no_alert
from polyloly import metrics
from polyloly.alerts import Alert
from polyloly.logs import get_logger
from polyloly.resilience import CircuitBreaker, RetryPolicy

_log = get_logger("gateway.ws")

FrameHandler = Callable[[bytes, int], None]
"""``on_frame(raw, t_recv_ns)``; must not raise (the session logs and drops it if it does)."""


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """Timing of one session, in seconds."""

    ping_interval_s: float = 10.0
    pong_timeout_s: float = 30.0
    reconnect_base_s: float = 1.0
    reconnect_max_s: float = 60.0
    open_timeout_s: float = 5.0
    jitter: float = 0.2


class WsSession:
    """Run one subscription forever (until ``stop``), reconnecting as needed."""

    def __init__(
        self,
        name: str,
        feed: str,
        url: str,
        subscribe_message: bytes,
        on_frame: FrameHandler,
        settings: SessionSettings,
        breaker: CircuitBreaker,
        *,
        on_up: Callable[[], None] = lambda: None,
        on_down: Callable[[], None] = lambda: None,
        rng: random.Random | None = None,
        on_alert: AlertFn = no_alert,
        failures_before_alert: int = 3,
    ) -> None:
        """``name`` identifies the connection in logs (``market-0``); ``feed`` labels metrics;
        ``failures_before_alert`` failed reconnects in a row raise one alert to ``on_alert``."""
        self.name = name
        self.feed = feed
        self.url = url
        self._subscribe = subscribe_message
        self._on_frame = on_frame
        self._settings = settings
        self._breaker = breaker
        self._on_up = on_up
        self._on_down = on_down
        self._rng = rng or random.Random()
        self._on_alert = on_alert
        self.alarm = ReconnectAlarm(name, feed, failures_before_alert)
        self._policy = RetryPolicy(max_attempts=1 << 30, base_delay_s=settings.reconnect_base_s,
                                   max_delay_s=settings.reconnect_max_s, jitter=settings.jitter)
        self._ws: ClientConnection | None = None
        self.connected = False
        self.connects = 0
        self.frames = 0
        self.last_pong_ns = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Connect and pump frames until ``stop`` is set; returns promptly after it."""
        attempt = 0
        while not stop.is_set():
            if not self._breaker.allow():
                await _sleep_or_stop(stop, 0.5)
                continue
            connects_before = self.connects
            error = "closed"
            try:
                await self._session(stop)
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                error = f"{type(exc).__name__}: {exc}"
                _log.warning("ws_disconnected", f"{self.name}: {error}",
                             feed=self.feed, connection=self.name)
            finally:
                if self.connected:
                    self.connected = False
                    self._on_down()
            if stop.is_set():
                break
            if self.connects > connects_before:  # it was up: a drop, not a failed connect
                self._breaker.record_success()
                attempt = 0
            else:
                self._breaker.record_failure()
                self._alert(self.alarm.on_failed_connect(error))
            metrics.ws_reconnects.labels(feed=self.feed).inc()
            delay = self._policy.delay_s(attempt, self._rng)
            attempt += 1
            await _sleep_or_stop(stop, delay)

    async def _session(self, stop: asyncio.Event) -> None:
        """One connection's life: connect, subscribe, pump until closed or stopped."""
        settings = self._settings
        async with connect(self.url, compression=None, ping_interval=None, max_size=None,
                           proxy=None,
                           open_timeout=settings.open_timeout_s, close_timeout=1.0) as ws:
            self._ws = ws
            await ws.send(self._subscribe.decode())
            self.connects += 1
            self.connected = True
            self.last_pong_ns = time.monotonic_ns()
            self._alert(self.alarm.on_connected())
            self._on_up()
            _log.info("ws_connected", f"{self.name} connected to {self.url}", feed=self.feed,
                      connection=self.name)
            keepalive = asyncio.create_task(self._keepalive(ws))
            stopper = asyncio.create_task(_close_on_stop(ws, stop))
            try:
                await self._pump(ws)
            except websockets.ConnectionClosedOK:
                pass
            finally:
                for task in (keepalive, stopper):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                self._ws = None

    def _alert(self, alert: Alert | None) -> None:
        if alert is None:
            return
        try:
            self._on_alert(alert)
        except Exception as exc:  # alerting must never take the connection down
            _log.error("alert_failed", f"{type(exc).__name__}: {exc}", connection=self.name)

    async def _pump(self, ws: ClientConnection) -> None:
        on_frame = self._on_frame
        while True:
            raw = await ws.recv(decode=False)  # raises ConnectionClosed when closed
            t_recv_ns = time.monotonic_ns()
            data = raw if isinstance(raw, bytes) else raw.encode()
            self.frames += 1
            if data == b"PONG":
                self.last_pong_ns = t_recv_ns
            try:
                on_frame(data, t_recv_ns)
            except Exception as exc:  # a handler bug must not kill the connection
                _log.error("frame_handler_failed", f"{self.name}: {type(exc).__name__}: {exc}",
                           feed=self.feed, connection=self.name)

    async def _keepalive(self, ws: ClientConnection) -> None:
        settings = self._settings
        while True:
            await asyncio.sleep(settings.ping_interval_s)
            silent_s = (time.monotonic_ns() - self.last_pong_ns) / 1e9
            if silent_s > settings.pong_timeout_s:
                _log.warning("ws_pong_timeout",
                             f"{self.name}: no PONG for {silent_s:.1f} s, reconnecting",
                             feed=self.feed, connection=self.name)
                await ws.close(code=4000, reason="pong timeout")
                return
            await ws.send("PING")

    async def send_text(self, text: str) -> bool:
        """Send a text frame on the live connection; False when not connected."""
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(text)
        except websockets.WebSocketException:
            return False
        return True


async def _sleep_or_stop(stop: asyncio.Event, delay_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=delay_s)


async def _close_on_stop(ws: ClientConnection, stop: asyncio.Event) -> None:
    await stop.wait()
    await ws.close(code=1001, reason="gateway shutting down")
