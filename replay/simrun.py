"""Record a simulator session: ``polyloly sim`` + ``polyloly record``, for benchmarks, tests and
``scripts/pnl_simulation.py``.

The simulator and its config overlay are the demo's own (:func:`ops.demo.start_simulator`,
:func:`ops.demo.demo_config`), so a simulated recording looks exactly like a demo one.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from ops.demo import demo_config, start_simulator

RECORD_GRACE_S = 30.0


def record_simulator(scenario: str, out_dir: str | Path, *, seconds: float, speed: float = 1.0,
                     seed: int | None = None) -> Path:
    """Run the scenario's simulator and record ``seconds`` of it into ``out_dir``.

    Returns the recording directory (``raw-*.jsonl`` and ``config.yaml``); raises
    ``RuntimeError`` when the simulator or the recorder fails.
    """
    from sim.scenario import load_scenario

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec = load_scenario(scenario)
    process, endpoints = start_simulator(scenario, speed, seed, out / "sim.log")
    try:
        overlay = demo_config(spec, endpoints, out.name or "sim", out, shards=2,
                              executor="paper")
        overlay["metrics"] = {"enabled": False}
        overlay["logging"] = {"level": "WARNING", "file": str(out / "record.log")}
        config_path = out / "record-config.yaml"
        config_path.write_text(yaml.safe_dump(overlay, sort_keys=False))
        done = subprocess.run(
            [sys.executable, "-m", "ops.cli", "record", "--config", str(config_path),
             "--out", str(out), "--duration", str(seconds)],
            capture_output=True, text=True, timeout=seconds + RECORD_GRACE_S, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"polyloly record exited {done.returncode}: {done.stderr[-2000:]}")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
    return out
