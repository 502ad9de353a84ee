"""The Telegram sink speaks the Bot API to a local server; alerts are deduped and rate-limited."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

from polyloly.alerts import Alert, Alerter, Severity, TelegramSink

TOKEN = "123456:ABC-test-token-xyz"


@pytest.fixture()
def bot_api() -> Any:
    received: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.path, body))
            ok = body.get("chat_id") == "42"
            answer = {"ok": ok, "result": {"message_id": len(received)}} if ok else {
                "ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
            data = orjson.dumps(answer)
            self.send_response(200 if ok else 400)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_telegram_sink_posts_send_message(bot_api: Any) -> None:
    url, received = bot_api
    sink = TelegramSink(url, TOKEN, "42", timeout_s=5)
    assert sink.deliver(Alert(Severity.CRITICAL, "k", "daily loss exceeded"))
    path, body = received[0]
    assert path == f"/bot{TOKEN}/sendMessage"
    assert body["chat_id"] == "42" and "daily loss exceeded" in body["text"]
    assert "CRITICAL" in body["text"]


def test_telegram_refusal_and_unreachable_return_false(bot_api: Any) -> None:
    url, _ = bot_api
    assert not TelegramSink(url, TOKEN, "wrong-chat").deliver(Alert(Severity.INFO, "k", "x"))
    assert not TelegramSink("http://127.0.0.1:9", TOKEN, "42", timeout_s=1).deliver(
        Alert(Severity.INFO, "k", "x")
    )


def test_alerter_dedupes_within_window_and_rate_limits(bot_api: Any) -> None:
    url, received = bot_api
    now = [0.0]
    alerter = Alerter(
        [TelegramSink(url, TOKEN, "42")], dedupe_window_s=60, max_per_minute=3,
        clock=lambda: now[0], background=False,
    )
    assert alerter.send(Alert(Severity.WARNING, "ws", "disconnected"))
    assert not alerter.send(Alert(Severity.WARNING, "ws", "disconnected"))
    now[0] = 61.0
    assert alerter.send(Alert(Severity.WARNING, "ws", "disconnected again"))
    assert alerter.send(Alert(Severity.WARNING, "a", "a"))
    assert alerter.send(Alert(Severity.WARNING, "b", "b"))
    assert not alerter.send(Alert(Severity.WARNING, "c", "c"))  # 4th within the minute
    assert len(received) == 4 and alerter.suppressed == 2
