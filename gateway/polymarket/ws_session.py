"""One resilient Polymarket WebSocket session: connect, subscribe, keep alive, reconnect.

Used for every market-channel connection and for the user channel. Keep-alive is the venue's
text ``PING`` every ``ping_interval_s``; liveness is *any* frame (data or ``PONG``): when none
has come for ``pong_timeout_s`` the connection is dropped and re-made (issue 20 #3: a half-open
socket — TCP up, no bytes — went unnoticed for 24–36 s with a 10 s ping and a 30 s timeout;
the defaults are now 1 s and 3 s, checked every ``min(ping_interval_s, pong_timeout_s / 4)``).
A session never ends for good on an unexpected error: it is logged and the connection re-made.
Reconnects back off exponentially with jitter
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

    ping_interval_s: float = 1.0
    pong_timeout_s: float = 3.0  # no frame at all (data or PONG) for this long: dead
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
        self.last_rx_ns = 0  # any frame: the liveness clock
        self.liveness_drops = 0

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
            except Exception as exc:  # a bug must not end this connection's markets for good
                error = f"{type(exc).__name__}: {exc}"
                _log.error("ws_session_failed", f"{self.name}: {error}", feed=self.feed,
                           connection=self.name)
            finally:
                if self.connected:
                    self.connected = False
                    try:
                        self._on_down()
                    except Exception as exc:  # the reconnect below must still happen
                        _log.error("ws_on_down_failed", f"{self.name}: {type(exc).__name__}: "
                                   f"{exc}", feed=self.feed, connection=self.name)
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
            self.last_pong_ns = self.last_rx_ns = time.monotonic_ns()
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
            self.last_rx_ns = t_recv_ns
            if data == b"PONG":
                self.last_pong_ns = t_recv_ns
            try:
                on_frame(data, t_recv_ns)
            except Exception as exc:  # a handler bug must not kill the connection
                _log.error("frame_handler_failed", f"{self.name}: {type(exc).__name__}: {exc}",
                           feed=self.feed, connection=self.name)

    async def _keepalive(self, ws: ClientConnection) -> None:
        settings = self._settings
        step_s = min(settings.ping_interval_s, settings.pong_timeout_s / 4)
        ping_ns = int(settings.ping_interval_s * 1e9)
        last_ping_ns = time.monotonic_ns()
        while True:
            await asyncio.sleep(step_s)
            now_ns = time.monotonic_ns()
            silent_s = (now_ns - self.last_rx_ns) / 1e9
            if silent_s > settings.pong_timeout_s:
                self.liveness_drops += 1
                _log.warning("ws_silent",
                             f"{self.name}: no frame (data or PONG) for {silent_s:.1f} s, "
                             "reconnecting", feed=self.feed, connection=self.name)
                # A half-open socket may never finish a close handshake: drop it at once
                # (the pump then ends and the books are flagged STALE by on_down).
                ws.transport.abort()
                return
            if now_ns - last_ping_ns >= ping_ns:
                last_ping_ns = now_ns
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
