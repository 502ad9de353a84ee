"""One shard process under test: a fake gateway PUB and fake engine ROUTER/PUB bound on ipc in
a temporary run dir, a real shm book store, ``python -m shards.main --shard 0``; stopped with
SIGTERM (exit code 0 asserted) and everything closed on the way out."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
import zmq

from polyloly import bus, messages
from polyloly.config import Config, load_config
from shm import BookWriter

MARKET = "0x" + "cd" * 32
YES, NO = "2001", "2002"
DEADLINE_S = 15.0


@pytest.fixture()
def run_dir() -> Iterator[Path]:
    """A fresh run dir under /tmp (ipc socket paths must stay short), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="polyloly-shard-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def write_config(run_dir: Path, segment: str) -> Path:
    """Write a one-shard, one-market config into ``run_dir``; return its path."""
    overlay = {
        "run": {"run_dir": str(run_dir), "data_dir": str(run_dir / "var")},
        "shm": {"segment_name": segment, "levels": 8},
        "shards": {"count": 1, "status_interval_s": 0.2, "time_interval_ms": 20},
        "metrics": {"shard_base_port": 0},  # 0: the shard binds a port the OS picks
        "logging": {"file": str(run_dir / "shard.log"), "level": "INFO"},
        "markets": [{"market_id": MARKET, "token_ids": [YES, NO], "match_id": "m9",
                     "game": "cs2", "best_of": 3}],
    }
    path = run_dir / "config.yaml"
    path.write_text(yaml.safe_dump(overlay))
    return path


def receive(router: zmq.Socket, kind: type, timeout_s: float) -> tuple[bytes, Any]:
    """The first message of type ``kind`` on ``router`` within ``timeout_s`` (others skipped)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if router.poll(100):
            identity, payload = router.recv_multipart()
            message = messages.decode(payload)
            if isinstance(message, kind):
                return identity, message
    raise AssertionError(f"no {kind.__name__} within {timeout_s} s")


def metrics_port(log_file: Path) -> int:
    """The metrics port the shard logged in ``shard_started`` (waits up to DEADLINE_S)."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if log_file.exists():
            for line in log_file.read_text().splitlines():
                record = json.loads(line)
                if record.get("event_type") == "shard_started":
                    return int(record["metrics_port"])
        time.sleep(0.05)
    raise AssertionError("the shard never logged shard_started")


def get_status(port: int) -> dict[str, Any]:
    """The shard's ``/status`` JSON (an error status raises)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as resp:
        body: dict[str, Any] = json.loads(resp.read())
    return body


def health(log_file: Path) -> dict[str, Any]:
    """The ``/health`` JSON of the shard logging to ``log_file`` (503 while not ready)."""
    port = metrics_port(log_file)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            body: dict[str, Any] = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
    return body


@dataclass(frozen=True)
class ShardUnderTest:
    """The running shard and its fake peers."""

    run_dir: Path
    config: Config
    writer: BookWriter
    gateway: zmq.Socket
    router: zmq.Socket
    engine_pub: zmq.Socket
    proc: subprocess.Popen[bytes]

    @property
    def log_file(self) -> Path:
        """The shard's JSON log."""
        return self.run_dir / "shard.log"


@contextmanager
def shard_process(run_dir: Path, segment_prefix: str) -> Iterator[ShardUnderTest]:
    """Start shard 0 against fake peers; on exit stop it (SIGTERM, 10 s) and assert exit 0."""
    segment = f"{segment_prefix}_{os.getpid()}_{int(time.time() * 1000) % 100000}"
    config_path = write_config(run_dir, segment)
    config = load_config(config_path)
    writer = BookWriter.create(segment, [YES, NO], levels=8)
    ctx = zmq.Context()
    sockets: list[zmq.Socket] = []
    proc: subprocess.Popen[bytes] | None = None
    try:  # everything made here is undone on the way out, whatever failed
        for endpoint, kind in (("gateway_pub", zmq.PUB), ("engine_router", zmq.ROUTER),
                               ("engine_pub", zmq.PUB)):
            sockets.append(bus.bind(ctx, kind, config.endpoint(endpoint)))
        gateway, router, engine_pub = sockets
        proc = subprocess.Popen(
            [sys.executable, "-m", "shards.main", "--config", str(config_path), "--shard", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        yield ShardUnderTest(run_dir, config, writer, gateway, router, engine_pub, proc)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        assert code == 0, proc.stderr.read().decode() if proc.stderr else ""
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)
        for sock in sockets:
            sock.close(0)
        ctx.term()
        writer.close()
