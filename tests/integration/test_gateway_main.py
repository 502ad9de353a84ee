"""``polyloly-gateway`` as a real process against the simulator's venue: ready line, /health,
/status, /metrics, recording, and a graceful SIGTERM exit 0 that removes the shm segment."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import yaml

from gateway.recorder import read_recording
from sim.venue.testing import SampleMarket, ThreadedVenue

MARKETS = [SampleMarket(condition_id=f"0x{i + 1:064x}",
                        token_ids=(str(10**30 + 2 * i), str(10**30 + 2 * i + 1)),
                        match_id=f"match-{i}") for i in range(3)]


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    if url.endswith("/metrics"):
        return status, body.decode()
    return status, json.loads(body)


def _read_line(proc: subprocess.Popen[bytes], timeout_s: float) -> bytes:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    assert ready, "gateway printed no ready line in time"
    return proc.stdout.readline()


def test_gateway_process_serves_health_records_and_exits_cleanly_on_sigterm(
        tmp_path: Path) -> None:
    segment = f"plgm_{uuid.uuid4().hex[:10]}"
    with ThreadedVenue(MARKETS, seed=4, matching_delay_s=0.0) as sim:
        sim.call(lambda: [sim.venue.place_internal("mm", t, "BUY", 0.4, 10)
                          for m in MARKETS for t in m.token_ids])
        config_file = tmp_path / "gateway.yaml"
        config_file.write_text(yaml.safe_dump({
            "run": {"run_dir": tempfile.mkdtemp(prefix="plgm-"),
                    "data_dir": str(tmp_path / "data")},
            "shm": {"segment_name": segment},
            "polymarket": {"clob_rest_url": sim.endpoints["clob_rest"],
                           "market_ws_url": sim.endpoints["market_ws"],
                           "user_ws_url": sim.endpoints["user_ws"],
                           "reconnect_base_s": 0.05, "reconnect_max_s": 0.5},
            "metrics": {"gateway_port": 0},
            "providers": {},
            "markets": [{"market_id": m.condition_id, "token_ids": list(m.token_ids),
                         "match_id": m.match_id, "game": "cs2"} for m in MARKETS],
        }))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("POLYMARKET_", "POLYLOLY__"))}
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.main", "--config", str(config_file),
             "--record", str(tmp_path / "rec")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            ready = json.loads(_read_line(proc, 15))
            assert ready["event"] == "ready" and ready["shm"] == segment
            base = f"http://127.0.0.1:{ready['metrics_port']}"
            deadline = time.monotonic() + 10
            status, health = _get(f"{base}/health")
            while status != 200 and time.monotonic() < deadline:
                time.sleep(0.05)
                status, health = _get(f"{base}/health")
            assert status == 200 and health["healthy"] is True
            status, detail = _get(f"{base}/status")
            assert status == 200 and len(detail["tokens"]) == 6
            assert all(t["flags"] == [] and t["seq"] > 0 for t in detail["tokens"].values())
            assert Path("/dev/shm", segment).exists()
            status, text = _get(f"{base}/metrics")
            assert status == 200 and "polyloly_feed_messages_total" in text
            assert "polyloly_pnl_realized_usdc" not in text  # the engine's, not ours
            assert 'polyloly_build_info{process="gateway"' in text
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    assert not Path("/dev/shm", segment).exists()
    recorded = [env.event_type for env, _raw in read_recording(tmp_path / "rec")]
    assert "polymarket.market_ws" in recorded


def test_gateway_user_channel_starts_with_the_documented_variables(tmp_path: Path) -> None:
    """Issue 20 #10: the names .env.example documents start the user channel of the real
    process (the gateway used to read POLYMARKET_PASSPHRASE and never started it). Issue 20
    #13: its data dir is 0700 and its files 0600 (umask 077) even started from umask 022."""
    documented = [line.split("=", 1)[0] for line in
                  (Path(__file__).resolve().parents[2] / ".env.example").read_text().splitlines()
                  if line.startswith("POLYMARKET_API_")]
    segment = f"plgu_{uuid.uuid4().hex[:10]}"
    with ThreadedVenue(MARKETS[:1], seed=5, matching_delay_s=0.0) as sim:
        creds = sim.call(lambda: sim.server.auth.derive("0x" + "ab" * 20, 0))
        config_file = tmp_path / "gateway.yaml"
        config_file.write_text(yaml.safe_dump({
            "run": {"run_dir": tempfile.mkdtemp(prefix="plgu-"),
                    "data_dir": str(tmp_path / "data")},
            "shm": {"segment_name": segment},
            "polymarket": {"clob_rest_url": sim.endpoints["clob_rest"],
                           "market_ws_url": sim.endpoints["market_ws"],
                           "user_ws_url": sim.endpoints["user_ws"]},
            "metrics": {"gateway_port": 0},
            "providers": {},
            "markets": [{"market_id": m.condition_id, "token_ids": list(m.token_ids),
                         "match_id": m.match_id, "game": "cs2"} for m in MARKETS[:1]],
        }))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("POLYMARKET_", "POLYLOLY__"))}
        env.update(zip(documented, (creds.api_key, creds.secret, creds.passphrase),
                       strict=True))
        (tmp_path / "data").mkdir(mode=0o755)  # made before, world-readable
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.main", "--config", str(config_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            preexec_fn=lambda: os.umask(0o022))
        try:
            ready = json.loads(_read_line(proc, 15))
            base = f"http://127.0.0.1:{ready['metrics_port']}"
            deadline = time.monotonic() + 10
            sessions: dict[str, Any] = {}
            while time.monotonic() < deadline:
                sessions = _get(f"{base}/status")[1]["sessions"]
                if sessions.get("user", {}).get("connected"):
                    break
                time.sleep(0.05)
            assert sessions["user"]["connected"] is True, sessions
            # issue 20 #13: our dirs 0700 and files 0600 whatever the caller's umask
            data = tmp_path / "data"
            assert data.stat().st_mode & 0o777 == 0o700
            assert (data / "dlq.jsonl").stat().st_mode & 0o777 == 0o600
            assert Path(f"/proc/{proc.pid}/status").read_text().count("Umask:\t0077") == 1
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    assert not Path("/dev/shm", segment).exists()
