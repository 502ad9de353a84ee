"""Launching benchmarked processes: spawn, wait for /health, read CPU time, stop (bounded).

Every process is started with the interpreter running the bench (``sys.executable -m MODULE``),
its stdout/stderr to a log file in the run directory, in its own process group so a stop reaches
only it. :func:`cpu_seconds` reads ``utime + stime`` of ``/proc/<pid>/stat``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        text = handle.read()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15)


@dataclass
class Proc:
    """One launched process."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    health_port: int | None = None
    module_args: tuple[str, ...] = ()
    """The arguments after ``python -m module`` (to relaunch the same process)."""

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the process's log file (for error messages)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def launch(name: str, module: str, args: list[str], run_dir: Path,
           health_port: int | None = None, env: dict[str, str] | None = None) -> Proc:
    """Start ``python -m module args`` with output to ``run_dir/name.log``."""
    log_path = run_dir / f"{name}.log"
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
    try:
        popen = subprocess.Popen([sys.executable, "-m", module, *args], stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True,
                                 env={**os.environ, **(env or {})})
    finally:
        log.close()
    return Proc(name, popen, log_path, health_port, tuple(args))


def fetch_json(url: str, timeout_s: float = 1.0) -> dict[str, Any] | None:
    """GET ``url`` and decode its JSON body; None on any failure."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body
    except (OSError, urllib.error.URLError, ValueError):
        return None


async def wait_healthy(proc: Proc, timeout_s: float) -> None:
    """Wait until ``/health`` says healthy; raise RuntimeError (with the log tail) otherwise."""
    deadline = time.monotonic() + timeout_s
    url = f"http://127.0.0.1:{proc.health_port}/health"
    while time.monotonic() < deadline:
        if not proc.alive:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n"
                               f"{proc.log_tail()}")
        body = await asyncio.to_thread(fetch_json, url, 0.5)
        if body is not None and body.get("healthy"):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{proc.name} not healthy within {timeout_s} s:\n{proc.log_tail()}")


async def stop(proc: Proc, timeout_s: float = 10.0) -> int | None:
    """SIGTERM, wait up to ``timeout_s``, then SIGKILL; return the exit status."""
    if proc.alive:
        proc.popen.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        await asyncio.to_thread(proc.popen.wait, timeout_s)
    if proc.alive:
        proc.popen.kill()
        await asyncio.to_thread(proc.popen.wait, 5.0)
    return proc.popen.returncode


def kill_hard(proc: Proc) -> None:
    """SIGKILL now (a crash, for the isolation bench) and reap."""
    if proc.alive:
        proc.popen.kill()
    proc.popen.wait(5.0)
