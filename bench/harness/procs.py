"""Launching benchmarked processes: spawn, wait for /health, read CPU time, stop (bounded).

Every process is started with the interpreter running the bench (``sys.executable -m MODULE``),
its stdout/stderr to a log file in the run directory, in its own process group so a stop reaches
only it. :func:`cpu_seconds` reads ``utime + stime`` of ``/proc/<pid>/stat``.

Ports come from :class:`RunPorts`: every port of a run chosen by the OS and held (see
:mod:`polyloly.ports`) until the run's processes are gone, the shard block included.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from polyloly.ports import PortReservation, reserve_ports
from shm.writer import reclaim_stale_store

CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")


class RunPorts:
    """Every TCP port of one run, chosen by the OS and held until :meth:`release`.

    ``gateway`` and ``engine`` are single ports; shard K serves on ``shard_base + K`` (the
    config's ``metrics.shard_base_port``), so the shards get one contiguous block in which every
    port was verified free. :meth:`extra` holds one more (a floor or baseline health port).
    """

    def __init__(self, shards: int) -> None:
        self._held: list[PortReservation] = [reserve_ports(2)]
        try:
            self._held.append(reserve_ports(max(1, shards), contiguous=True))
        except BaseException:
            self.release()
            raise
        self.gateway, self.engine = self._held[0].ports
        self.shard_base = self._held[1].port

    def shard(self, k: int) -> int:
        """The metrics port of shard ``k``."""
        return self.shard_base + k

    def extra(self) -> int:
        """One more held port."""
        reservation = reserve_ports(1)
        self._held.append(reservation)
        return reservation.port

    def as_dict(self) -> dict[str, int]:
        """``gateway``, ``engine``, ``shard_base`` (as written into the config)."""
        return {"gateway": self.gateway, "engine": self.engine, "shard_base": self.shard_base}

    def release(self) -> None:
        """Free every held port (idempotent); call once the run's processes are stopped."""
        for reservation in self._held:
            reservation.release()
        self._held = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


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


def cleanup(started: list[Proc], segments: list[str]) -> list[str]:
    """After a run, successful or not: SIGKILL and reap every process still alive, then remove
    the run's shm book stores whose writer is gone (a killed gateway cannot unlink its own).
    Returns the names removed. A store of a live writer is left alone (never another run's)."""
    for proc in started:
        if proc.alive:
            kill_hard(proc)
        elif proc.popen.returncode is None:
            proc.popen.wait(5.0)
    return [name for name in segments if reclaim_stale_store(name)]
