"""Real processes refuse an occupied port or a live writer's shm books with one clear line
(exit 2, no traceback), and leave nothing behind (specs/10 §6)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from shm import BookWriter
from shm.writer import store_owner

pytestmark = pytest.mark.timeout(60)
MARKET = "0x" + "ab" * 32
YES, NO = "3001", "3002"
_HOLD = ("import sys\nfrom shm import BookWriter\n"
         "w = BookWriter.create(sys.argv[1], ['3001', '3002'])\nprint('ready', flush=True)\n"
         "sys.stdin.read()\nw.close()\n")


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="polyloly-inuse-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _config(workdir: Path, segment: str, metrics: dict[str, int]) -> Path:
    overlay = {
        "run": {"run_dir": str(workdir / "run"), "data_dir": str(workdir / "data")},
        "shm": {"segment_name": segment, "levels": 8},
        "shards": {"count": 1},
        "metrics": metrics,
        "logging": {"file": str(workdir / "log.jsonl")},
        "markets": [{"market_id": MARKET, "token_ids": [YES, NO], "match_id": "m1",
                     "game": "cs2", "best_of": 3}],
    }
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(overlay))
    return path


def _run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          timeout=40, stdin=subprocess.DEVNULL)


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_shard_on_an_occupied_metrics_port_exits_2_with_one_line(
        workdir: Path, listening_port: int) -> None:
    segment = f"plin_{uuid.uuid4().hex[:8]}"
    config = _config(workdir, segment, {"shard_base_port": listening_port})
    done = _run("shards.main", "--config", str(config), "--shard", "0")
    assert done.returncode == 2
    line = _one_line(done.stderr)
    assert line.startswith("polyloly-shard: ")
    assert f"port {listening_port} on 127.0.0.1 (metrics.shard_base_port + 0)" in line
    assert "set metrics.shard_base_port + 0 to a free port" in line


def test_gateway_on_an_occupied_metrics_port_exits_2_and_removes_its_books(
        workdir: Path, listening_port: int) -> None:
    segment = f"plin_{uuid.uuid4().hex[:8]}"
    config = _config(workdir, segment, {"gateway_port": listening_port})
    done = _run("gateway.main", "--config", str(config))
    assert done.returncode == 2
    line = _one_line(done.stderr)
    assert line.startswith("polyloly-gateway: ")
    assert f"port {listening_port} on 127.0.0.1 (metrics.gateway_port)" in line
    assert not os.path.exists(f"/dev/shm/{segment}")  # the store it made was closed


def test_gateway_refuses_the_books_of_a_live_writer_naming_segment_and_pid(
        workdir: Path) -> None:
    segment = f"plin_{uuid.uuid4().hex[:8]}"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, segment], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        config = _config(workdir, segment, {"gateway_port": 0})
        done = _run("gateway.main", "--config", str(config))
        assert done.returncode == 2
        line = _one_line(done.stderr)
        assert line.startswith("polyloly-gateway: ")
        assert f"shm segment {segment!r}" in line and f"pid {holder.pid}" in line
        owner = store_owner(segment)  # untouched: still the live writer's
        assert owner is not None and owner.pid == holder.pid
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        try:
            holder.wait(10)
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait(5)
    assert not os.path.exists(f"/dev/shm/{segment}")
    with BookWriter.create(segment, [YES]):  # and the name is free again
        pass
