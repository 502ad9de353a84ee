"""Launch helpers shared by the tests that run ``polyloly-engine`` as a real process
(integration and chaos): a port from the OS and the wait for ``/health``."""

from __future__ import annotations

import subprocess
import time
import urllib.request

from tests.helpers.ports import held_port


def free_port() -> int:
    """A loopback port from the OS, held for the session: nothing else can take it."""
    return held_port()


def wait_healthy(port: int, process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """Wait until the engine's ``/health`` on ``port`` answers 200; fail at once (with its
    stderr) if the process exits, and after ``timeout_s`` seconds otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("engine never became healthy")
