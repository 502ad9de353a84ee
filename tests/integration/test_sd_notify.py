"""systemd readiness of the real processes: with ``NOTIFY_SOCKET`` on a test datagram socket and
``WATCHDOG_USEC`` set, engine (paper), gateway (against the simulator's venue) and a shard each
send READY=1 only once their ``/health`` is healthy, ping WATCHDOG=1 periodically, and send
STOPPING=1 on SIGTERM before exiting 0."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from polyloly import messages
from polyloly.messages import StateQuery, StateSnapshot
from shm.writer import BookWriter
from tests.helpers.ports import held_port
from tests.helpers.shard_process import (  # run_dir: the helper's fixture, used by name
    DEADLINE_S,
    receive,
    run_dir,  # noqa: F401
    shard_process,
)

WATCHDOG_USEC = 400_000  # pings every 0.2 s
MARKET = "0x" + "e" * 64
YES, NO = "4001", "4002"


class NotifySocket:
    """A bound datagram socket standing in for systemd; remembers what arrived and when."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.received: list[tuple[float, str]] = []

    def collect(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._recv(left)

    def wait_for(self, field: str, timeout_s: float) -> float:
        """Collect until a datagram carrying ``field`` arrives; its arrival time."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            message = self._recv(min(left, 0.05))
            if message is not None and field in message.split("\n"):
                return self.received[-1][0]
        raise AssertionError(f"no {field} within {timeout_s} s; got {self.fields()}")

    def _recv(self, timeout_s: float) -> str | None:
        self.sock.settimeout(timeout_s)
        try:
            message = self.sock.recv(4096).decode()
        except TimeoutError:
            return None
        self.received.append((time.monotonic(), message))
        return message

    def fields(self) -> list[str]:
        return [field for _, message in self.received for field in message.split("\n")]

    def pings(self, after: float = 0.0) -> list[float]:
        return [t for t, message in self.received if message == "WATCHDOG=1" and t >= after]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify() -> Iterator[tuple[str, NotifySocket]]:
    """A NOTIFY_SOCKET value in the abstract namespace ('@name', as systemd may pass it)."""
    name = f"polyloly-sdtest-{uuid.uuid4().hex}"
    receiver = NotifySocket("\0" + name)
    yield "@" + name, receiver
    receiver.close()


def _health(port: int) -> int:
    """The HTTP status of /health (0 while nothing listens)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def _assert_periodic_pings(receiver: NotifySocket, since: float) -> None:
    receiver.collect(2.0)
    pings = receiver.pings(after=since)
    assert len(pings) >= 4, pings  # 10 expected at 0.2 s; a busy 2-core machine gets slack
    gaps = [b - a for a, b in zip(pings, pings[1:], strict=False)]
    assert max(gaps) < 1.0, gaps


def _env(notify_socket: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("POLYMARKET_", "POLYLOLY__", "LIVE_TRADING"))}
    return {**env, "NOTIFY_SOCKET": notify_socket, "WATCHDOG_USEC": str(WATCHDOG_USEC)}


def _stop(proc: subprocess.Popen[bytes], receiver: NotifySocket) -> None:
    proc.send_signal(signal.SIGTERM)
    receiver.wait_for("STOPPING=1", 15)
    assert proc.wait(timeout=20) == 0, proc.stderr.read().decode() if proc.stderr else ""


def test_engine_paper_ready_only_when_healthy_pings_watchdog_and_stops(
    tmp_path: Path, notify: tuple[str, NotifySocket],
) -> None:
    address, receiver = notify
    segment = f"plsd_{uuid.uuid4().hex[:10]}"
    port = held_port()
    run = Path(tempfile.mkdtemp(prefix="plsd", dir="/tmp"))  # ipc socket paths stay short
    config = tmp_path / "engine.yaml"
    config.write_text(yaml.safe_dump({
        "run": {"run_dir": str(run), "data_dir": str(tmp_path / "data")},
        "shm": {"segment_name": segment},
        "metrics": {"engine_port": port},
        "execution": {"executor": "paper"},
        "markets": [{"market_id": MARKET, "token_ids": [YES, NO], "match_id": "m",
                     "game": "lol", "tick_size": 0.01, "min_order_size": 5}],
        "logging": {"file": str(tmp_path / "engine.log")},
    }))
    writer = BookWriter.create(segment, [YES, NO], levels=8, tick_size=0.01)
    proc = subprocess.Popen([sys.executable, "-m", "engine.main", "--config", str(config),
                             "--new-state"],
                            env=_env(address), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        probes: list[tuple[float, int]] = []  # (when the /health request started, status)
        deadline = time.monotonic() + 30
        while "READY=1" not in receiver.fields():
            assert time.monotonic() < deadline, f"no READY=1; got {receiver.fields()}"
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            probes.append((time.monotonic(), _health(port)))
            receiver.collect(0.05)
        ready_at = next(t for t, m in receiver.received if "READY=1" in m.split("\n"))
        for _ in range(10):
            probes.append((time.monotonic(), _health(port)))
        # not healthy (or not yet listening) at first; from READY=1 on, healthy every time
        assert probes[0][1] != 200, probes
        assert all(status == 200 for t, status in probes if t > ready_at), probes
        assert any(f.startswith("STATUS=engine healthy") for f in receiver.fields())
        _assert_periodic_pings(receiver, since=ready_at)
        _stop(proc, receiver)
        assert receiver.fields().count("READY=1") == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        writer.close()
        shutil.rmtree(run, ignore_errors=True)


def test_shard_waits_for_the_engine_snapshot_before_ready(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    """The shard is not healthy until the engine answered: no READY=1 while /health says 503,
    watchdog pings meanwhile (the loop is alive); READY=1 right after the snapshot."""
    address = str(run_dir / "notify")  # a path this time
    receiver = NotifySocket(address)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", str(WATCHDOG_USEC))
    try:
        with shard_process(run_dir, "plsdsh") as shard:
            identity, _query = receive(shard.router, StateQuery, DEADLINE_S)
            loop_alive_at = time.monotonic()
            receiver.collect(1.5)
            port = _metrics_port(run_dir / "shard.log")
            assert _health(port) == 503
            assert "READY=1" not in receiver.fields(), receiver.fields()
            assert len(receiver.pings(after=loop_alive_at)) >= 3, receiver.received
            assert any(f.startswith("STATUS=shard 0 not healthy") for f in receiver.fields())
            snapshot = StateSnapshot(shard_id=0, positions=(), open_orders=(),
                                     halted_markets=(), kill_switch=False,
                                     t_ns=time.monotonic_ns())
            sent_at = time.monotonic()
            shard.router.send_multipart([identity, messages.encode(snapshot)])
            ready_at = receiver.wait_for("READY=1", DEADLINE_S)
            assert ready_at > sent_at
            assert _health(port) == 200
            _assert_periodic_pings(receiver, since=ready_at)
        # the helper sent SIGTERM and asserted exit 0; STOPPING=1 was the last word
        receiver.collect(0.2)
        assert receiver.fields()[-2:] == ["STOPPING=1", "STATUS=shard 0 stopping"]
        assert receiver.fields().count("READY=1") == 1
    finally:
        receiver.close()


def _metrics_port(log_file: Path) -> int:
    for line in log_file.read_text().splitlines():
        record = json.loads(line)
        if record.get("event_type") == "shard_started":
            return int(record["metrics_port"])
    raise AssertionError("the shard never logged shard_started")


def test_gateway_ready_once_books_are_healthy(
    tmp_path: Path, notify: tuple[str, NotifySocket],
) -> None:
    from sim.venue.testing import SampleMarket, ThreadedVenue

    address, receiver = notify
    markets = [SampleMarket(condition_id=f"0x{i + 7:064x}",
                            token_ids=(str(10**30 + 2 * i), str(10**30 + 2 * i + 1)),
                            match_id=f"match-{i}") for i in range(2)]
    segment = f"plsdg_{uuid.uuid4().hex[:10]}"
    port = held_port()
    run = Path(tempfile.mkdtemp(prefix="plsdg", dir="/tmp"))
    with ThreadedVenue(markets, seed=5, matching_delay_s=0.0) as sim:
        sim.call(lambda: [sim.venue.place_internal("mm", t, "BUY", 0.4, 10)
                          for m in markets for t in m.token_ids])
        config = tmp_path / "gateway.yaml"
        config.write_text(yaml.safe_dump({
            "run": {"run_dir": str(run), "data_dir": str(tmp_path / "data")},
            "shm": {"segment_name": segment},
            "polymarket": {"clob_rest_url": sim.endpoints["clob_rest"],
                           "market_ws_url": sim.endpoints["market_ws"],
                           "user_ws_url": sim.endpoints["user_ws"],
                           "reconnect_base_s": 0.05, "reconnect_max_s": 0.5},
            "metrics": {"gateway_port": port},
            "providers": {},
            "markets": [{"market_id": m.condition_id, "token_ids": list(m.token_ids),
                         "match_id": m.match_id, "game": "cs2"} for m in markets],
        }))
        proc = subprocess.Popen([sys.executable, "-m", "gateway.main", "--config", str(config)],
                                env=_env(address), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            ready_at = receiver.wait_for("READY=1", 30)
            assert _health(port) == 200  # READY=1 came with every book and connection healthy
            _assert_periodic_pings(receiver, since=ready_at)
            _stop(proc, receiver)
            assert receiver.fields().count("READY=1") == 1
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
            shutil.rmtree(run, ignore_errors=True)
    assert not Path("/dev/shm", segment).exists()
