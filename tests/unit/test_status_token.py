"""Issue 20 #13: ``/status`` (positions, orders) was readable by every local user. With
``POLYLOLY_STATUS_TOKEN`` set (production's environment file), it answers only requests that
carry the token; ``/health`` and ``/metrics`` stay open; ``polyloly status`` and the kill
confirmation send the token from the same variable."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import orjson
import pytest

from ops.commands import fetch_json
from polyloly.httpserve import STATUS_TOKEN_ENV, ObservabilityServer

TOKEN = "status-token-7d1e"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ObservabilityServer]:
    monkeypatch.setenv(STATUS_TOKEN_ENV, TOKEN)  # the default comes from the environment
    running = ObservabilityServer("127.0.0.1", 0, lambda: {"healthy": True},
                                  lambda: {"positions": {"0xm": 5.0}}).start()
    yield running
    running.stop()


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=2) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_status_needs_the_token_and_health_does_not(server: ObservabilityServer) -> None:
    assert _get(server.port, "/status", {})[0] == 401
    assert _get(server.port, "/status", {"Authorization": "Bearer wrong"})[0] == 401
    code, body = _get(server.port, "/status", {"Authorization": f"Bearer {TOKEN}"})
    assert code == 200 and orjson.loads(body)["positions"] == {"0xm": 5.0}
    assert _get(server.port, "/health", {})[0] == 200
    assert _get(server.port, "/metrics", {})[0] == 200


def test_our_clients_send_the_token_from_the_environment(
        server: ObservabilityServer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert fetch_json(server.port, "/status") == (200, {"positions": {"0xm": 5.0}})
    monkeypatch.delenv(STATUS_TOKEN_ENV)
    assert fetch_json(server.port, "/status")[0] == 401


def test_without_a_token_status_stays_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STATUS_TOKEN_ENV, raising=False)
    running = ObservabilityServer("127.0.0.1", 0, lambda: {"healthy": True}).start()
    try:
        assert _get(running.port, "/status", {})[0] == 200
    finally:
        running.stop()


def test_the_kill_confirmation_reads_a_tokened_engine_status(
        server: ObservabilityServer) -> None:
    from engine.cli import engine_status
    from polyloly.config import validate

    config = validate({"metrics": {"engine_port": server.port}})
    assert engine_status(config) == {"positions": {"0xm": 5.0}}
