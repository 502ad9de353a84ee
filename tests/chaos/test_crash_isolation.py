"""Crash isolation: SIGKILL one shard mid-run; the other shard's markets keep flowing, the
killed shard is restarted by the supervisor and resumes its markets, no order is duplicated.
Then SIGTERM stops everything within the bound, with nothing lost from the database."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.commands import fetch_json
from ops.demo import demo_config, start_simulator
from ops.supervisor import Supervisor, SupervisorPolicy, build_children
from polyloly.config import load_config
from polyloly.eventlog import parse_envelope
from sim.scenario import load_scenario

BASELINE_S = 8.0
RESTART_BOUND_S = 12.0
STOP_BOUND_S = 25.0


def _status(port: int) -> dict[str, Any]:
    return fetch_json(port, "/status", 1.0)[1]


def _longest_tick_gap(port: int, seconds: float, during: Any = None) -> float:
    """Watch a shard's tick counter for ``seconds``; the longest time it did not move."""
    last_ticks, last_change = _status(port).get("ticks_seen", 0), time.monotonic()
    longest = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if during is not None:
            during()
        ticks = _status(port).get("ticks_seen", last_ticks)
        now = time.monotonic()
        if ticks > last_ticks:
            longest = max(longest, now - last_change)
            last_ticks, last_change = ticks, now
        time.sleep(0.05)
    return max(longest, time.monotonic() - last_change)


def _wait(predicate: Any, timeout_s: float, step_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return False


@pytest.mark.timeout(180)
def test_killing_one_shard_leaves_the_other_untouched(tmp_path: Path) -> None:
    scenario = load_scenario("demo_short")
    sim, endpoints = start_simulator("demo_short", 1.0, None, tmp_path / "sim.log")
    supervisor: Supervisor | None = None
    run_id = f"chaos{os.getpid()}"
    try:
        overlay = demo_config(scenario, endpoints, run_id, tmp_path, 2, "paper")
        for index, market in enumerate(overlay["markets"]):
            market["shard"] = index % 2  # both shards own markets
        config_path = tmp_path / "config.yaml"
        config_path.write_text(yaml.safe_dump(overlay))
        config = load_config(config_path)
        env = dict(os.environ)
        supervisor = Supervisor(
            config, build_children(config, str(config_path), 2, None, new_state=True), env,
            SupervisorPolicy(health_timeout_s=60, backoff_base_s=0.2, stop_timeout_s=10),
            log_dir=tmp_path / "logs",
        )
        supervisor.start()
        ports = {c.name: c.health_port for c in supervisor.children}
        assert _wait(lambda: _status(ports["shard-0"]).get("ticks_seen", 0) > 0, 20)
        assert _wait(lambda: _status(ports["shard-1"]).get("ticks_seen", 0) > 0, 20)

        # The healthy shard's natural longest gap between ticks, before anything happens.
        natural_gap = _longest_tick_gap(ports["shard-0"], BASELINE_S)
        bound = max(2.0, 2.0 * natural_gap)

        victim = next(c for c in supervisor.children if c.name == "shard-1")
        assert victim.process is not None
        victim_pid = victim.process.pid
        victim.process.send_signal(signal.SIGKILL)

        # While the supervisor notices the crash and restarts the victim, the healthy shard
        # keeps receiving ticks with no gap longer than the bound.
        gap = _longest_tick_gap(
            ports["shard-0"], RESTART_BOUND_S, lambda: supervisor.watch_once(time.monotonic())
        )
        assert gap <= bound, f"healthy shard starved {gap:.2f}s (natural gap {natural_gap:.2f}s)"
        assert victim.process is not None and victim.process.pid != victim_pid
        assert _wait(lambda: _status(ports["shard-1"]).get("ready") is True
                     and _status(ports["shard-1"]).get("ticks_seen", 0) > 0, 10), \
            "the killed shard was not restarted and resumed within the bound"
        assert victim.restarts == 1
        assert fetch_json(ports["engine"], "/health")[0] == 200
        assert fetch_json(ports["gateway"], "/health")[0] == 200

        # SIGTERM: everything exits within the bound.
        started = time.monotonic()
        supervisor.stop()
        assert time.monotonic() - started < STOP_BOUND_S
        for child in supervisor.children:
            assert child.process is not None and child.process.poll() is not None
        assert next(c for c in supervisor.children if c.name == "engine").process.returncode == 0

        # No order duplicated: one order per idempotency key, and every fill belongs to one.
        database = config.data_path(config.storage.sqlite_file)
        with sqlite3.connect(database) as db:
            orders = db.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
            keys = db.execute("SELECT COUNT(DISTINCT order_id) FROM idempotency").fetchone()[0]
            orphan_fills = db.execute(
                "SELECT COUNT(*) FROM fills WHERE order_id NOT IN (SELECT order_id FROM orders)"
            ).fetchone()[0]
            open_orders = db.execute(
                "SELECT COUNT(*) FROM orders WHERE status IN "
                "('PENDING', 'SUBMITTED', 'DELAYED', 'LIVE', 'PARTIALLY_FILLED')"
            ).fetchone()[0]
            filled = db.execute("SELECT COALESCE(SUM(size), 0) FROM fills").fetchone()[0]
        assert orders == keys
        assert orphan_fills == 0
        assert open_orders == 0, "open orders survived a graceful stop (cancel_on_shutdown)"
        # Nothing lost from the event log: its fill reports add up to the database's fills.
        journaled = 0.0
        for path in sorted(config.data_path(config.storage.events_dir).rglob("*.jsonl")):
            for line in path.read_bytes().splitlines():
                payload = parse_envelope(line).payload
                if payload.get("kind") == "execution_report":
                    journaled += payload.get("last_fill_size", 0.0)
        assert journaled == pytest.approx(filled)
    finally:
        if supervisor is not None:
            supervisor.stop()
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sim.kill()
        shutil.rmtree(f"/tmp/polyloly-{run_id}", ignore_errors=True)  # demo_config's run dir
