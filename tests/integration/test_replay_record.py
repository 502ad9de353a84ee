"""``polyloly record`` against the simulator: raw JSONL + config.yaml, replayable."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyloly.config import load_config
from replay.recording import IssueLog, find_config, read_recording
from replay.session import ReplaySession
from replay.simrun import record_simulator
from sim.scenario import load_scenario

pytestmark = pytest.mark.timeout(120)


def test_record_writes_the_inbound_stream_and_its_config_and_replays(tmp_path: Path) -> None:
    recording = record_simulator("demo_short", tmp_path / "rec", seconds=3.0, speed=10.0)
    config_path = find_config(recording)
    assert config_path == recording / "config.yaml"
    config = load_config(config_path, {})
    assert len(config.markets) == len(load_scenario("demo_short").markets)
    issues = IssueLog()
    messages = list(read_recording(recording, issues))
    kinds = {m.event_type for m in messages}
    assert "polymarket.market_ws" in kinds
    assert any(kind.startswith("esports.") for kind in kinds)
    assert all(b.t_recv_ns >= a.t_recv_ns for a, b in zip(messages, messages[1:], strict=False))
    result = ReplaySession(config).run(messages)
    assert result.produced["BookTick"] > 0
    assert not result.dead_letters
    assert issues.complete
