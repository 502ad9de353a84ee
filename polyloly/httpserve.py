"""One tiny HTTP server per process on 127.0.0.1: ``/metrics``, ``/health``, ``/status``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from polyloly.ports import PortInUseError, is_addr_in_use

HealthFn = Callable[[], dict[str, Any]]


def is_healthy(body: Mapping[str, Any]) -> bool:
    """The one health predicate: /health answers 200 for it, ``polyloly run`` waits for it
    and systemd readiness (polyloly/sdnotify.py) sends READY=1 on it."""
    return bool(body.get("healthy"))


class ObservabilityServer:
    """Serve metrics, health (200 when ``healthy`` is true, else 503) and status JSON.

    ``registry``: what ``/metrics`` serves; the processes pass their own
    (:func:`polyloly.metrics.registry_for`). ``setting`` names where the port came from
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
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"observability server must bind to loopback, not {host!r}")
        health_fn, status_fn = health, status or health

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    # the process's own metrics (polyloly.metrics.registry_for), nothing else
                    self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif path == "/health":
                    body = health_fn()
                    code = 200 if is_healthy(body) else 503
                    self._send(code, orjson.dumps(body, default=str), "application/json")
                elif path == "/status":
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
