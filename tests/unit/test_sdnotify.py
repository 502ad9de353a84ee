"""polyloly/sdnotify.py: datagrams to a path or an abstract socket, nothing without NOTIFY_SOCKET,
READY=1 only on a healthy body, watchdog pings on time, STOPPING=1 on a graceful stop."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from polyloly.httpserve import LoopWatch
from polyloly.sdnotify import Readiness, SdNotify, status_line


def _receiver(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(0)
    return sock


def _drain(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


@pytest.fixture
def path_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    address = str(tmp_path / "notify")
    sock = _receiver(address)
    yield address, sock
    sock.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_unset_notify_socket_is_a_no_op() -> None:
    notify = SdNotify.from_env({})
    assert not notify.enabled and notify.send("READY=1") is False
    calls: list[int] = []

    def health() -> dict[str, Any]:
        calls.append(1)
        return {"healthy": True}

    watch = LoopWatch()
    readiness = Readiness("engine", health, notify, loop_watch=watch)
    readiness.poll()
    readiness.stopping()

    async def run_briefly() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.2, stop.set)
        await readiness.run(stop, period_s=0.02)  # without systemd it still beats the watch

    asyncio.run(run_briefly())
    assert not readiness.ready and calls == []  # not even the health function was called
    lag = watch.lag_s()
    assert lag is not None and lag < 0.5


def test_path_socket_receives_fields_as_one_datagram(
    path_socket: tuple[str, socket.socket],
) -> None:
    address, sock = path_socket
    notify = SdNotify.from_env({"NOTIFY_SOCKET": address})
    assert notify.send("READY=1", "STATUS=up")
    assert _drain(sock) == ["READY=1\nSTATUS=up"]
    notify.close()


def test_abstract_namespace_socket() -> None:
    name = f"polyloly-test-{uuid.uuid4().hex}"
    sock = _receiver("\0" + name)
    try:
        notify = SdNotify.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notify.send("WATCHDOG=1")
        assert _drain(sock) == ["WATCHDOG=1"]
    finally:
        sock.close()


def test_watchdog_settings(path_socket: tuple[str, socket.socket]) -> None:
    address, _ = path_socket
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "4000000"}
    assert SdNotify.from_env(env).watchdog_interval_s == 2.0  # half of WatchdogSec
    mine = SdNotify.from_env({**env, "WATCHDOG_PID": str(os.getpid())})
    assert mine.watchdog_interval_s == 2.0
    # the pings are meant for another process (e.g. a supervisor's parent)
    assert SdNotify.from_env({**env, "WATCHDOG_PID": "1"}).watchdog_interval_s is None
    assert SdNotify.from_env({**env, "WATCHDOG_USEC": "soon"}).watchdog_interval_s is None
    assert SdNotify.from_env({"NOTIFY_SOCKET": address}).watchdog_interval_s is None


def test_unsupported_address_disables_notifications() -> None:
    assert not SdNotify.from_env({"NOTIFY_SOCKET": "vsock:2:1234"}).enabled


def test_send_to_a_gone_socket_reports_false_without_raising(tmp_path: Path) -> None:
    notify = SdNotify.from_env({"NOTIFY_SOCKET": str(tmp_path / "absent")})
    assert notify.enabled and notify.send("READY=1") is False


def test_ready_only_once_healthy_then_status_changes_and_watchdog(
    path_socket: tuple[str, socket.socket],
) -> None:
    address, sock = path_socket
    body: dict[str, Any] = {"healthy": False, "ready": False, "executor": "paper"}
    clock = FakeClock()
    notify = SdNotify.from_env({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"})
    readiness = Readiness("engine", lambda: dict(body), notify, clock)
    readiness.poll()
    assert _drain(sock) == ["WATCHDOG=1",
                            "STATUS=engine not healthy: ready=False executor=paper"]
    clock.now += 0.05
    readiness.poll()  # neither the health check (0.1 s) nor the ping (0.5 s) is due
    assert _drain(sock) == []
    clock.now += 0.1
    readiness.poll()  # checked again, unchanged: no datagram
    assert _drain(sock) == [] and not readiness.ready
    body.update(healthy=True, ready=True)
    clock.now += 0.1
    readiness.poll()
    assert _drain(sock) == ["READY=1\nSTATUS=engine healthy: ready=True executor=paper"]
    assert readiness.ready
    clock.now += 0.3
    readiness.poll()
    assert _drain(sock) == ["WATCHDOG=1"]
    body.update(healthy=False)
    clock.now += 1.0
    readiness.poll()  # once ready: no second READY, the STATUS line follows health
    assert _drain(sock) == ["WATCHDOG=1",
                            "STATUS=engine not healthy: ready=True executor=paper"]
    readiness.stopping()
    assert _drain(sock) == ["STOPPING=1\nSTATUS=engine stopping"]


def test_health_function_error_counts_as_not_healthy(
    path_socket: tuple[str, socket.socket],
) -> None:
    address, sock = path_socket

    def broken() -> dict[str, Any]:
        raise RuntimeError("boom")

    readiness = Readiness("gateway", broken, SdNotify.from_env({"NOTIFY_SOCKET": address}))
    readiness.poll()
    assert not readiness.ready
    assert _drain(sock) == ["STATUS=gateway not healthy: error=RuntimeError('boom')"]


def test_run_polls_until_stop_then_sends_stopping(path_socket: tuple[str, socket.socket]) -> None:
    address, sock = path_socket
    readiness = Readiness("shard 0", lambda: {"healthy": True},
                          SdNotify.from_env({"NOTIFY_SOCKET": address}))

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(readiness.run(stop, period_s=0.01))
        await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 1.0)

    asyncio.run(scenario())
    assert _drain(sock) == ["READY=1\nSTATUS=shard 0 healthy",
                            "STOPPING=1\nSTATUS=shard 0 stopping"]


def test_status_line_is_one_short_line() -> None:
    line = status_line("gateway", {"healthy": True, "note": "a\nb" * 200, "nested": {"x": 1}})
    assert "\n" not in line and len(line) <= 200 and "nested" not in line
