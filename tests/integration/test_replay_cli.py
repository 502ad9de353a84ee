"""``polyloly replay`` as a process: byte-identical outputs across runs, report, refusals."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from plotly.offline import get_plotlyjs

from tests.helpers.fixtures import replay

V1 = replay("demo_short_v1")
LIVE = replay("demo_short_live")
OUTPUTS = ("intents.jsonl", "orders.jsonl", "fills.jsonl", "truth.jsonl", "summary.json",
           "events/engine-00000.jsonl")


def _replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ops.cli", "replay", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_two_replay_processes_write_byte_identical_outputs_and_a_report(tmp_path: Path) -> None:
    first = _replay(str(V1), "--out", str(tmp_path / "a"))
    second = _replay(str(V1), "--out", str(tmp_path / "b"),
                     "--report", str(tmp_path / "report.html"))
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    for name in OUTPUTS:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    line = json.loads(first.stdout.strip().splitlines()[-1])
    assert line["intents"] > 0 and line["complete"] is True
    html = (tmp_path / "report.html").read_text()
    for title in ("Equity curve", "Drawdown", "P&amp;L by market", "our quotes and fills",
                  "Latency by stage"):
        assert title in html
    # ops/report.py: plotly.js inline, nothing fetched (the report opens offline)
    assert "Plotly.newPlot(" in html and "src=" not in html.replace(get_plotlyjs(), "")


def test_a_sweep_ranks_its_parameter_sets_in_the_report(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("temporal_arb.min_edge_threshold: [0.03, 0.2]\n")
    done = _replay(str(V1), "--out", str(tmp_path / "out"), "--params", str(params))
    assert done.returncode == 0, done.stderr
    ranked = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert len(ranked) == 2
    assert "Parameter sweep" in (tmp_path / "out" / "report.html").read_text()


def test_a_corrupt_recording_is_refused_with_exit_2_naming_the_line(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    shutil.copytree(V1, recording)
    lines = (recording / "raw-00000.jsonl").read_text().splitlines()
    lines[10] = lines[10][:50]
    (recording / "raw-00000.jsonl").write_text("\n".join(lines) + "\n")
    done = _replay(str(recording), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "raw-00000.jsonl:11" in done.stderr


def test_a_truncated_tail_is_replayed_and_reported_on_stderr(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    shutil.copytree(V1, recording)
    data = (recording / "raw-00000.jsonl").read_bytes()
    (recording / "raw-00000.jsonl").write_bytes(data[:-40])
    done = _replay(str(recording), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "truncated_line" in done.stderr and "raw-00000.jsonl:420" in done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["complete"] is False


def test_a_recording_without_its_config_is_refused_unless_one_is_given(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    recording.mkdir()
    shutil.copy(V1 / "raw-00000.jsonl", recording / "raw-00000.jsonl")
    refused = _replay(str(recording), "--out", str(tmp_path / "out"))
    assert refused.returncode == 2 and "no config.yaml" in refused.stderr
    given = _replay(str(recording), "--out", str(tmp_path / "out"),
                    "--config", str(V1 / "config.yaml"))
    assert given.returncode == 0, given.stderr


def test_a_replay_stopped_by_sigterm_leaves_no_segment_or_run_dir(tmp_path: Path) -> None:
    """A timeout or an operator's SIGTERM mid-replay: the session's shm segment and its temp
    run dir are removed as on a finished run (finally blocks run through SystemExit)."""
    params = tmp_path / "params.yaml"
    params.write_text("maker.cooldown_ms: [100, 200, 300, 400, 500, 600, 700, 800]\n")
    before = set(Path(tempfile.gettempdir()).glob("polyloly-replay-*"))
    process = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", "replay", str(LIVE), "--no-live", "--workers", "1",
         "--out", str(tmp_path / "out"), "--params", str(params)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        mine = f"polyloly_replay_{process.pid}_"
        deadline = time.monotonic() + 30
        while not any(p.name.startswith(mine) for p in Path("/dev/shm").iterdir()):
            assert process.poll() is None and time.monotonic() < deadline, "no replay segment"
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 128 + signal.SIGTERM
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not [p for p in Path("/dev/shm").iterdir() if p.name.startswith(mine)]
    assert set(Path(tempfile.gettempdir()).glob("polyloly-replay-*")) <= before
