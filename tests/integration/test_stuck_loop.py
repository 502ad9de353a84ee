"""Issue 20: a stuck event loop kept ``/health`` OK (answered from the server thread) and
made SIGTERM a no-op (the loop never ran the handler). Now ``/health`` carries ``loop_lag_s``
and fails beyond the limit, and SIGTERM ends the process within a bound even with the loop
stuck (``polyloly.sdnotify.guard_stop_signals``: the gateway's signal handling)."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from polyloly.sdnotify import EXIT_HARD_STOP

BLOCK_AFTER_S = 1.0
HARD_STOP_S = 1.0
MAX_LAG_S = 0.5


def _health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _start(block_after_s: float) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.stuck_loop", str(block_after_s), str(HARD_STOP_S),
         str(MAX_LAG_S)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 15)
    assert ready, "no ready line"
    return proc, json.loads(proc.stdout.readline())["port"]


def test_a_stuck_loop_fails_health_and_sigterm_still_ends_the_process() -> None:
    proc, port = _start(BLOCK_AFTER_S)
    try:
        code, body = _health(port)
        assert code == 200 and body["loop_lag_s"] < MAX_LAG_S
        time.sleep(BLOCK_AFTER_S + MAX_LAG_S + 0.5)
        code, body = _health(port)
        assert code == 503 and body["loop_stuck"] is True and body["healthy"] is False
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=HARD_STOP_S + 5) == EXIT_HARD_STOP
        assert time.monotonic() - sent < HARD_STOP_S + 3
        assert proc.stderr is not None
        assert b"not stopped within" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_a_free_loop_stops_gracefully_on_sigterm() -> None:
    proc, port = _start(60.0)
    try:
        assert _health(port)[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0  # the graceful path, long before the hard stop
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
