"""The venue's dead-man switch: keep POST /v1/heartbeats going while we trade live.

Once a heartbeat has been sent, Polymarket cancels all our open orders when the next one does
not arrive in time (≈10 s; VENUE §3.2). So if the engine dies or hangs, our orders die
with it. Each heartbeat carries the ``heartbeat_id`` the previous answer returned.

:meth:`VenueHeartbeat.healthy` is False before the first success, after
``max_failures`` consecutive failures, and when the last success is older than
``stale_after_s``: the engine then stops submitting (fails closed with
``RejectReason.HEARTBEAT_UNHEALTHY``), since the venue may be cancelling our orders.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from polyloly import metrics
from polyloly.clock import Clock
from polyloly.logs import get_logger

SendHeartbeat = Callable[[str], Awaitable[Any]]
"""Send one heartbeat with the previous id; return the venue's JSON answer or raise."""

_log = get_logger("venue_heartbeat")

VENUE_WINDOW_S = 10.0
"""The venue cancels every open order when no heartbeat arrives within this (VENUE §3.2)."""


def default_stale_after_s(interval_s: float) -> float:
    """How long after the last success we stop trusting the venue keeps our orders: two
    intervals, but never past ``VENUE_WINDOW_S - interval_s`` (the venue may already be
    cancelling by then), and at least one interval (a slow test cadence stays usable)."""
    return max(interval_s, min(2 * interval_s, VENUE_WINDOW_S - interval_s))


class VenueHeartbeat:
    """Send a heartbeat every ``interval_s`` seconds through ``send``.

    ``stale_after_s`` defaults to :func:`default_stale_after_s`; the venue's own window is ≈10 s, so
    ``interval_s`` must stay ≤ 10/3 s (one failed beat then still fits): a longer one is
    logged at construction. Beats run on a fixed cadence (a slow answer does not push the
    next beat later).
    """

    def __init__(
        self,
        send: SendHeartbeat,
        interval_s: float,
        clock: Clock,
        *,
        max_failures: int = 2,
        stale_after_s: float | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"heartbeat interval_s must be positive, was {interval_s!r}")
        self._send = send
        self.interval_s = interval_s
        self._clock = clock
        self._max_failures = max(1, max_failures)
        if interval_s > VENUE_WINDOW_S / 3:
            _log.warning("heartbeat_interval_long", "a failed heartbeat would let the venue "
                         "cancel every order before the next one: use <= 3.3 s",
                         interval_s=interval_s, venue_window_s=VENUE_WINDOW_S)
        stale = stale_after_s if stale_after_s is not None else default_stale_after_s(interval_s)
        self._stale_after_ns = int(stale * 1e9)
        self._heartbeat_id = ""
        self._last_ok_ns: int | None = None
        self._failures = 0
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self.sent = 0
        self.last_error = ""

    def healthy(self) -> bool:
        """Whether the venue has our heartbeat recently enough to keep orders alive."""
        if self._stopped or self._last_ok_ns is None or self._failures >= self._max_failures:
            return False
        return self._clock.monotonic_ns() - self._last_ok_ns <= self._stale_after_ns

    async def beat(self) -> bool:
        """Send one heartbeat now; return whether the venue took it (never raises)."""
        try:
            answer = await self._send(self._heartbeat_id)
        except Exception as exc:  # every failure counts; the loop must go on
            self._failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            metrics.bad_input.labels("venue_heartbeat", "heartbeat_failed").inc()
            metrics.venue_heartbeat_failures.set(self._failures)  # alerts.yml: unhealthy
            level = _log.critical if self._failures == self._max_failures else _log.warning
            level(
                "heartbeat_failed",
                "venue heartbeat failed",
                consecutive_failures=self._failures,
                error=self.last_error,
            )
            return False
        if isinstance(answer, dict) and answer.get("heartbeat_id"):
            self._heartbeat_id = str(answer["heartbeat_id"])
        if self._failures:
            _log.info("heartbeat_recovered", "venue heartbeat recovered", failures=self._failures)
        self._failures = 0
        metrics.venue_heartbeat_failures.set(0)
        self._last_ok_ns = self._clock.monotonic_ns()
        self.sent += 1
        return True

    async def run(self) -> None:
        """Beat every ``interval_s`` (fixed cadence) until :meth:`stop`."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not self._stopped:
            await self.beat()
            # the next beat is due one interval after the previous was due, not after this
            # one's answer (a 1 s answer made a 5 s interval a 6 s gap); late: go at once
            next_at = max(next_at + self.interval_s, loop.time())
            await asyncio.sleep(next_at - loop.time())

    def start(self) -> None:
        """Run the loop as a task of the current event loop."""
        if self._task is None:
            self._stopped = False
            self._task = asyncio.get_running_loop().create_task(self.run(), name="heartbeat")

    async def stop(self) -> None:
        """Stop beating (the venue will then cancel our orders after its window)."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
