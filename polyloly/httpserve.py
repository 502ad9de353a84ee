"""One tiny HTTP server per process on 127.0.0.1: ``/metrics``, ``/health``, ``/status``."""

from __future__ import annotations

import hmac
import os
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from polyloly.ports import PortInUseError, is_addr_in_use

HealthFn = Callable[[], dict[str, Any]]


STATUS_TOKEN_ENV: Final = "POLYLOLY_STATUS_TOKEN"
"""When set, ``/status`` (positions, orders, books) answers only requests carrying
``Authorization: Bearer <token>``; ``/health`` and ``/metrics`` stay open (loopback only).
Set it in production's environment file: every process and ``polyloly status`` read it."""


def status_token(environ: Mapping[str, str] | None = None) -> str | None:
    """The ``/status`` token from the environment; None when unset or empty."""
    return (os.environ if environ is None else environ).get(STATUS_TOKEN_ENV) or None


def status_headers(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Headers a client sends to read ``/status`` (empty without a token)."""
    token = status_token(environ)
    return {"Authorization": f"Bearer {token}"} if token else {}


MAX_LOOP_LAG_S: Final = 5.0
"""A process whose loop has not turned for this long is not healthy (issue 20: a stuck loop
kept answering /health OK from the server thread)."""


class LoopWatch:
    """When the process's own loop last turned: :meth:`beat` is called from that loop
    (:class:`polyloly.sdnotify.Readiness` does, every poll); ``/health`` — answered from the
    server's thread, so it works while the loop is stuck — adds ``loop_lag_s`` and turns
    unhealthy beyond ``max_lag_s``. Before the first beat nothing is checked."""

    def __init__(self, max_lag_s: float = MAX_LOOP_LAG_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_lag_s = max_lag_s
        self._clock = clock
        self._last: float | None = None

    def beat(self) -> None:
        self._last = self._clock()

    def lag_s(self) -> float | None:
        """Seconds since the last beat; None before the first."""
        return None if self._last is None else self._clock() - self._last

    def check(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` with ``loop_lag_s``, and ``healthy`` false when the loop is stuck."""
        lag = self.lag_s()
        if lag is None:
            return body
        checked = {**body, "loop_lag_s": round(lag, 3)}
        if lag > self.max_lag_s:
            checked["healthy"] = False
            checked["loop_stuck"] = True
        return checked


LOOP_WATCH: Final = LoopWatch()
"""The process's one watch (each process has one loop that polls its readiness)."""


def is_healthy(body: Mapping[str, Any]) -> bool:
    """The one health predicate: /health answers 200 for it, ``polyloly run`` waits for it
    and systemd readiness (polyloly/sdnotify.py) sends READY=1 on it."""
    return bool(body.get("healthy"))


class ObservabilityServer:
    """Serve metrics, health (200 when ``healthy`` is true, else 503) and status JSON.

    ``registry``: what ``/metrics`` serves; the processes pass their own
    (:func:`polyloly.metrics.registry_for`). ``/health`` goes through ``loop_watch``: a stuck
    event loop is a failed health. ``setting`` names where the port came from
    (``metrics.gateway_port``...): an occupied port
    raises :class:`~polyloly.ports.PortInUseError` naming it, for the process's one-line exit.
    """

    def __init__(
        self,
        host: str,
        port: int,
        health: HealthFn,
        status: HealthFn | None = None,
        *,
        setting: str = "metrics port",
        registry: CollectorRegistry = REGISTRY,
        loop_watch: LoopWatch = LOOP_WATCH,
        token: str | None = None,
    ) -> None:
        """``token``: required on ``/status`` (default: :data:`STATUS_TOKEN_ENV`)."""
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"observability server must bind to loopback, not {host!r}")
        health_fn, status_fn = health, status or health
        required = token if token is not None else status_token()
        expected = f"Bearer {required}".encode() if required else None

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    # the process's own metrics (polyloly.metrics.registry_for), nothing else
                    self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif path == "/health":
                    body = loop_watch.check(health_fn())
                    code = 200 if is_healthy(body) else 503
                    self._send(code, orjson.dumps(body, default=str), "application/json")
                elif path == "/status":
                    given = self.headers.get("Authorization", "").encode()
                    if expected is not None and not hmac.compare_digest(given, expected):
                        self._send(401, b'{"error":"/status needs Authorization: Bearer '
                                        b'$POLYLOLY_STATUS_TOKEN"}', "application/json")
                        return
                    self._send(200, orjson.dumps(status_fn(), default=str), "application/json")
                else:
                    self._send(404, b'{"error":"not found"}', "application/json")

            def _send(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            if is_addr_in_use(exc):
                raise PortInUseError(port, setting, host) from None
            raise
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="observability", daemon=True
        )

    @property
    def port(self) -> int:
        """The bound port (the OS's choice when constructed with port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> ObservabilityServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
