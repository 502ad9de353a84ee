"""systemd readiness for ``Type=notify`` units: READY=1 only once the process is healthy.

:class:`SdNotify` is the wire: one datagram to ``$NOTIFY_SOCKET`` per message (a path, or
``@name`` for the abstract namespace), a no-op when the variable is unset (tests, ``polyloly
run``, a shell). :class:`Readiness` ties it to the process's own ``/health`` function — the body
the observability server answers 200 for and ``polyloly run``'s supervisor waits for — so
systemd starts the next unit exactly when the supervisor would. It is polled from the process's
event loop (never from a thread): ``WATCHDOG=1`` then stops when the loop hangs, and systemd
restarts the unit after ``WatchdogSec``. Gateway and engine run :meth:`Readiness.run` as a task;
the shard calls :meth:`Readiness.poll` in its loop. Graceful stop sends ``STOPPING=1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from polyloly.httpserve import LOOP_WATCH, HealthFn, LoopWatch, is_healthy
from polyloly.logs import get_logger

log = get_logger("sdnotify")

CHECK_BEFORE_READY_S = 0.1
"""How often health is read while waiting to become ready (start-up latency vs. cost)."""
CHECK_AFTER_READY_S = 1.0
"""How often health is read once ready, only to keep systemd's STATUS= line current."""
STATUS_MAX = 200
"""STATUS= is shown by ``systemctl status``: one short line."""


class SdNotify:
    """A datagram socket to systemd's notify socket; every method is a no-op when unset."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address
        # systemd expects a ping every WATCHDOG_USEC/2 (sd_watchdog_enabled(3)).
        self.watchdog_interval_s = watchdog_usec / 2e6 if watchdog_usec else None
        self._sock: socket.socket | None = None
        if address is not None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)  # never stall the event loop on a full queue

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SdNotify:
        """From ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` (ours or unset)."""
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        address: str | None = None
        if raw.startswith("@"):
            address = "\0" + raw[1:]  # abstract namespace: leading NUL instead of '@'
        elif raw.startswith("/"):
            address = raw
        elif raw:
            log.warning("notify_socket_unsupported",
                        f"NOTIFY_SOCKET={raw!r}: expected an absolute path or @name; "
                        "systemd notifications disabled")
        watchdog_usec: int | None = None
        pid = env.get("WATCHDOG_PID", "")
        if env.get("WATCHDOG_USEC") and (not pid or pid == str(os.getpid())):
            try:
                watchdog_usec = int(env["WATCHDOG_USEC"])
            except ValueError:
                log.warning("watchdog_usec_invalid",
                            f"WATCHDOG_USEC={env['WATCHDOG_USEC']!r}: expected microseconds; "
                            "watchdog pings disabled")
            if watchdog_usec is not None and watchdog_usec <= 0:
                watchdog_usec = None
        return cls(address, watchdog_usec)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` fields as one datagram; False when disabled or refused."""
        if self._sock is None or self.address is None:
            return False
        try:
            self._sock.sendto("\n".join(fields).encode(), self.address)
        except OSError as exc:  # systemd gone or queue full: the process itself must go on
            log.warning("sd_notify_failed", str(exc), fields=[f.split("=", 1)[0] for f in fields])
            return False
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def status_line(name: str, body: Mapping[str, Any]) -> str:
    """A one-line summary of a /health body for STATUS=: state, then its scalar fields."""
    state = "healthy" if is_healthy(body) else "not healthy"
    details = " ".join(f"{key}={value}" for key, value in body.items()
                       if key != "healthy" and isinstance(value, bool | int | float | str))
    line = f"{name} {state}: {details}" if details else f"{name} {state}"
    return line[:STATUS_MAX].replace("\n", " ")


class Readiness:
    """READY=1 once ``health()`` is healthy, STATUS= on every change, WATCHDOG=1 on time."""

    def __init__(self, name: str, health: HealthFn, notify: SdNotify | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 loop_watch: LoopWatch = LOOP_WATCH) -> None:
        self.name = name
        self.loop_watch = loop_watch
        self.health = health
        self.notify = notify if notify is not None else SdNotify.from_env()
        self.clock = clock
        self.ready = False
        self._status = ""
        self._next_check = 0.0
        self._next_ping = 0.0

    def poll(self) -> None:
        """Do what is due; a single comparison when nothing is (call it every loop turn)."""
        self.loop_watch.beat()  # the loop turned: /health's loop-lag check sees it
        if not self.notify.enabled:
            return
        now = self.clock()
        interval = self.notify.watchdog_interval_s
        if interval is not None and now >= self._next_ping:
            self._next_ping = now + interval
            self.notify.send("WATCHDOG=1")
        if now < self._next_check:
            return
        self._next_check = now + (CHECK_AFTER_READY_S if self.ready else CHECK_BEFORE_READY_S)
        try:
            body = self.health()
        except Exception as exc:  # a broken health function means "not healthy", not a crash
            log.error("health_failed", repr(exc))
            body = {"healthy": False, "error": repr(exc)}
        status = status_line(self.name, body)
        if not self.ready and is_healthy(body):
            if self.notify.send("READY=1", f"STATUS={status}"):
                self.ready = True
                self._status = status
                log.info("sd_ready", "told systemd the process is ready", status=status)
        elif status != self._status:
            self._status = status
            self.notify.send(f"STATUS={status}")

    def stopping(self) -> None:
        """Tell systemd a graceful stop has begun."""
        self.notify.send("STOPPING=1", f"STATUS={self.name} stopping")

    async def run(self, stop: asyncio.Event, period_s: float = 0.05) -> None:
        """Poll every ``period_s`` on this event loop until ``stop`` (beating the loop watch
        with or without systemd); then STOPPING=1."""
        while not stop.is_set():
            self.poll()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period_s)
        if self.notify.enabled:
            self.stopping()
        self.notify.close()


HARD_STOP_S: Final = 20.0
"""After SIGTERM/SIGINT a process still running this long exits at once (above the processes'
own bounded shutdowns of ≤ 10–15 s)."""
EXIT_HARD_STOP: Final = 3
_hard_stop_lock = threading.Lock()
_hard_stop_armed = False


def arm_hard_stop(bound_s: float = HARD_STOP_S, reason: str = "stop requested") -> None:
    """Make sure this process ends: if it is still alive ``bound_s`` from now, a daemon timer
    thread writes one line to stderr and calls ``os._exit(EXIT_HARD_STOP)`` (issue 20: a stuck
    loop made SIGTERM a no-op). Idempotent; the graceful path normally exits long before."""
    global _hard_stop_armed
    with _hard_stop_lock:
        if _hard_stop_armed:
            return
        _hard_stop_armed = True

    def force() -> None:
        sys.stderr.write(f"{os.path.basename(sys.argv[0])}: {reason}, not stopped within "
                         f"{bound_s:g} s: exiting now\n")
        sys.stderr.flush()
        os._exit(EXIT_HARD_STOP)

    timer = threading.Timer(bound_s, force)
    timer.daemon = True
    timer.start()


def guard_stop_signals(loop: asyncio.AbstractEventLoop, on_stop: Callable[[], None], *,
                       bound_s: float = HARD_STOP_S) -> None:
    """SIGINT/SIGTERM: ``on_stop`` on ``loop`` (the graceful stop), and — from a Python-level
    handler that runs even while the loop is stuck in Python code — :func:`arm_hard_stop`, so
    the signal always ends the process within ``bound_s``."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_stop)

    def hard(signum: int, _frame: object) -> None:
        # The loop's own wake-up (set_wakeup_fd) still delivers on_stop when it is free.
        arm_hard_stop(bound_s, f"signal {signal.Signals(signum).name}")

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, hard)
