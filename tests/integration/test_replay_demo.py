"""A live demo session recorded, then replayed: the replayed intents equal the live ones up to
each market's first difference, and every difference has its structural cause (specs/11)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)


def test_a_recorded_demo_session_replays_to_the_live_intents(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    demo = subprocess.run(
        # speed 2 as in test_demo_end_to_end: on the real venue's rules the demo's only trades
        # are temporal ones on the slow maker's stale quotes, which a 10x clock squeezes out
        [sys.executable, "-m", "ops.cli", "demo", "--no-ui", "--speed", "2",
         "--scenario", "demo_short", "--runs-dir", str(runs)],
        capture_output=True, text=True, timeout=180, check=False)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    (run,) = runs.iterdir()
    recording = run / "recording"
    lines = sum(len(p.read_bytes().splitlines()) for p in recording.glob("raw-*.jsonl"))
    done = subprocess.run(
        [sys.executable, "-m", "ops.cli", "replay", str(recording), "--out",
         str(tmp_path / "out")], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["events_replayed"] == lines
    assert summary["inputs"].get("polymarket.market_ws", 0) > 0
    assert any(kind.startswith("esports.") for kind in summary["inputs"])
    live = summary["live_comparison"]
    assert sum(m["live"] for m in live["markets"]) > 0, "the live shards traded"
    assert live["holds"], json.dumps(live, indent=1)
    for market in live["markets"]:
        if market["identical"]:
            assert market["live"] == market["replayed"] == market["equal_prefix"]
