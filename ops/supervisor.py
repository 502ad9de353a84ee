"""``polyloly run``: the local supervisor of gateway, N shards and the engine.

Each component is a separate OS process. Start order: engine (binds the intake), gateway
(creates the shm books), then the shards; each must report healthy on its ``/health`` before the
next starts. A child that dies is restarted with exponential backoff; a child that keeps dying
(``give_up_after`` restarts within ``give_up_window_s``) is given up on and alerted. Every other
process keeps working meanwhile — a crashed shard harms no other market. SIGINT/SIGTERM stops
shards first, then the gateway, then the engine (which cancels open orders and flushes), each
bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from ops.commands import fetch_json
from ops.config_errors import check_config_file
from ops.startup_checks import run_checks
from polyloly.alerts import Alert, Severity, build_alerter
from polyloly.bus import private_umask
from polyloly.config import API_CREDENTIAL_ENV, PRIVATE_KEY_ENV, Config
from polyloly.logs import current_run_id, get_logger, setup_logging
from polyloly.sdnotify import Readiness, SdNotify

log = get_logger("supervisor")

_ENTRY = "import sys; from {module} import main; sys.exit(main(sys.argv[1:]))"


@dataclass
class Child:
    """One supervised process and its restart history."""

    name: str
    module: str
    args: list[str]
    health_port: int
    critical: bool = False
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    restart_times: deque[float] = field(default_factory=lambda: deque(maxlen=32))
    next_start_at: float = 0.0
    given_up: bool = False

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass(frozen=True)
class SupervisorPolicy:
    health_timeout_s: float = 30.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    give_up_after: int = 5
    give_up_window_s: float = 120.0
    stop_timeout_s: float = 10.0


def child_command(module: str, args: list[str]) -> list[str]:
    return [sys.executable, "-c", _ENTRY.format(module=module), *args]


def build_children(
    config: Config, config_path: str, shards: int, record_dir: str | None,
    new_state: bool = False,
) -> list[Child]:
    common = ["--config", config_path]
    gateway_args = [*common, *(["--record", record_dir] if record_dir else [])]
    # --new-state: the engine may create its state when none exists (a restart finds it)
    engine_args = [*common, *(["--new-state"] if new_state else [])]
    children = [
        Child(ENGINE, "engine.main", engine_args, config.metrics.engine_port, critical=True),
        Child(GATEWAY, "gateway.main", gateway_args, config.metrics.gateway_port, critical=True),
    ]
    for shard in range(shards):
        children.append(
            Child(
                f"shard-{shard}", "shards.main", [*common, "--shard", str(shard)],
                config.metrics.shard_base_port + shard,
            )
        )
    return children


def fetch_health(port: int, timeout_s: float = 1.0) -> dict[str, object] | None:
    """GET /health on loopback; None when unreachable or not healthy."""
    status, body = fetch_json(port, "/health", timeout_s)
    return body if status == 200 and body.get("healthy") else None


SYSTEMD_NOTIFY_VARS = frozenset({"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"})
ENGINE = "engine"
GATEWAY = "gateway"


def child_env(env: dict[str, str], child_name: str, private_key_env: str) -> dict[str, str]:
    """The environment one child is started with (issue 20 #12: the signing key was in the
    environment of the gateway, both shards and the simulator). Only the engine signs, so only
    it keeps the private key; the gateway keeps the L2 API credentials (its user channel) and
    everything else gets neither. ``private_key_env`` is ``execution.private_key_env``."""
    drop = {PRIVATE_KEY_ENV, private_key_env} if child_name != ENGINE else set()
    if child_name not in (ENGINE, GATEWAY):
        drop |= set(API_CREDENTIAL_ENV)
    return {key: value for key, value in env.items() if key not in drop}


class Supervisor:
    """Start, watch, restart and stop the children; write ``supervisor.json`` in the run dir."""

    def __init__(
        self, config: Config, children: list[Child], env: dict[str, str],
        policy: SupervisorPolicy | None = None, log_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.log_dir = log_dir
        self.children = children
        # systemd's notify variables are the supervisor's own: a child that inherited them would
        # notify as if it were the main process, and systemd rejects (and logs) those datagrams.
        self.env = {key: value for key, value in env.items() if key not in SYSTEMD_NOTIFY_VARS}
        self.readiness = Readiness("supervisor", self.health, SdNotify.from_env(env))
        self.policy = policy or SupervisorPolicy()
        self.alerter = build_alerter(config, component="supervisor")
        self._stopping = False
        self.state_file = Path(config.run.run_dir) / "supervisor.json"

    def _spawn(self, child: Child) -> None:
        output = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = (self.log_dir / f"{child.name}.log").open("ab")
        env = child_env(self.env, child.name, self.config.execution.private_key_env)
        child.process = subprocess.Popen(
            child_command(child.module, child.args), env=env, start_new_session=True,
            stdout=output, stderr=output,
        )
        if output is not None:
            output.close()
        log.info("child_started", name=child.name, pid=child.process.pid)
        self._write_state()

    def _wait_healthy(self, child: Child) -> bool:
        deadline = time.monotonic() + self.policy.health_timeout_s
        while time.monotonic() < deadline and not self._stopping:
            if not child.alive:
                return False
            if fetch_health(child.health_port) is not None:
                log.info("child_healthy", name=child.name)
                return True
            time.sleep(0.1)
        return False

    def start(self) -> None:
        """Start every child in order, each healthy before the next; raise if one cannot."""
        for child in self.children:
            self._spawn(child)
            if not self._wait_healthy(child):
                code = child.process.poll() if child.process else None
                self.stop()
                raise RuntimeError(
                    f"{child.name} did not become healthy within "
                    f"{self.policy.health_timeout_s:.0f}s (exit code {code})"
                )

    def health(self) -> dict[str, object]:
        """Healthy while every child runs (READY=1 for systemd once all started healthy)."""
        running = sum(1 for child in self.children if child.alive)
        return {"healthy": running == len(self.children), "children": len(self.children),
                "running": running}

    def request_stop(self, *_: object) -> None:
        self._stopping = True

    def watch_once(self, now: float) -> None:
        """Restart dead children whose backoff has elapsed; give up on crash loops."""
        for child in self.children:
            if child.alive or child.given_up or self._stopping:
                continue
            if child.next_start_at == 0.0:
                code = child.process.poll() if child.process else None
                recent = [t for t in child.restart_times if now - t < self.policy.give_up_window_s]
                if len(recent) >= self.policy.give_up_after:
                    child.given_up = True
                    self.alerter.send(Alert(
                        Severity.CRITICAL, f"giveup:{child.name}",
                        f"{child.name} crashed {len(recent)} times in "
                        f"{self.policy.give_up_window_s:.0f}s; not restarting it",
                    ))
                    self._write_state()
                    continue
                delay = min(
                    self.policy.backoff_max_s, self.policy.backoff_base_s * 2 ** len(recent)
                )
                child.next_start_at = now + delay
                log.warning("child_died", name=child.name, exit_code=code, restart_in_s=delay)
                self.alerter.send(Alert(
                    Severity.CRITICAL if child.critical else Severity.WARNING,
                    f"crash:{child.name}", f"{child.name} exited with {code}; restarting",
                ))
            elif now >= child.next_start_at:
                child.next_start_at = 0.0
                child.restarts += 1
                child.restart_times.append(now)
                self._spawn(child)

    def run_until_stopped(self, deadline: float | None = None) -> None:
        while not self._stopping and (deadline is None or time.monotonic() < deadline):
            self.watch_once(time.monotonic())
            self.readiness.poll()
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM shards, then gateway, then engine; SIGKILL what outlives the bound."""
        self._stopping = True
        self.readiness.stopping()
        order = [c for c in self.children if c.name.startswith("shard-")]
        order += [c for c in self.children if c.name == "gateway"]
        order += [c for c in self.children if c.name == "engine"]
        for group in (order[:-2], order[-2:-1], order[-1:]):
            for child in group:
                if child.alive and child.process:
                    child.process.send_signal(signal.SIGTERM)
            for child in group:
                if child.process is None:
                    continue
                try:
                    child.process.wait(timeout=self.policy.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    log.error("child_killed", name=child.name, reason="stop timeout")
                    child.process.kill()
                    child.process.wait(timeout=5)
        self._write_state()

    def _write_state(self) -> None:
        state = {
            child.name: {
                "pid": child.process.pid if child.process else None,
                "alive": child.alive,
                "restarts": child.restarts,
                "given_up": child.given_up,
                "health_port": child.health_port,
            }
            for child in self.children
        }
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            self.state_file.write_bytes(orjson.dumps(state, option=orjson.OPT_INDENT_2))
        except OSError as exc:
            log.warning("state_write_failed", error=str(exc))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="polyloly run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="config overlay file")
    parser.add_argument("--shards", type=int, default=None, help="number of shard processes")
    parser.add_argument("--record", default=None, help="gateway records raw inbound to DIR")
    parser.add_argument("--duration", type=float, default=None, help="stop after SECONDS")
    parser.add_argument("--log-dir", default=None, help="children's stdout/stderr to DIR/NAME.log")
    parser.add_argument("--skip-checks", action="store_true", help="do not run startup checks")
    parser.add_argument("--new-state", action="store_true",
                        help="first start: let the engine create its state (it adopts the "
                             "venue's positions and open orders); refused without it")
    args = parser.parse_args(argv)
    private_umask()  # every child inherits it: data, DB, logs 0600 in 0700 dirs (issue 20 #13)
    env = dict(os.environ)
    if args.shards is not None:
        env["POLYLOLY__SHARDS__COUNT"] = str(args.shards)
    # every config error at once, as `polyloly doctor` lists them
    config, errors = check_config_file(args.config, env)
    if config is None:
        print(f"{args.config}: {len(errors)} error(s)", *errors, sep="\n  ", file=sys.stderr)
        return 2
    setup_logging(config.logging.level, file=config.logging.file, run_id=config.run.run_id)
    env.setdefault("POLYLOLY__RUN__RUN_ID", current_run_id())  # children log the same run id
    if not args.skip_checks:
        report = asyncio.run(run_checks(config, environ=env))
        print(report.render(), file=sys.stderr, flush=True)
        if not report.passed:
            log.error("startup_checks_failed", report.render())
            return 1
    supervisor = Supervisor(
        config, build_children(config, args.config, config.shards.count, args.record,
                               new_state=args.new_state), env,
        log_dir=Path(args.log_dir) if args.log_dir else None,
    )
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    try:
        supervisor.start()
    except RuntimeError as exc:
        log.error("start_failed", str(exc))
        print(f"polyloly run: {exc}", file=sys.stderr)
        return 1
    deadline = time.monotonic() + args.duration if args.duration else None
    supervisor.run_until_stopped(deadline)
    supervisor.stop()
    return 0
