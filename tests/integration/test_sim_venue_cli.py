"""`polyloly sim` as a real subprocess: endpoints line first, serves, exits 0 on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def test_sim_cli_prints_endpoints_serves_the_venue_and_exits_cleanly_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "--scenario", "demo_short", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        endpoints = json.loads(proc.stdout.readline())
        assert {"clob_rest", "market_ws", "user_ws"} <= set(endpoints)
        assert endpoints["market_ws"].endswith("/ws/market")
        rest = endpoints["clob_rest"]
        markets = httpx.get(f"{rest}/markets", timeout=5).json()["data"]
        assert markets, "the scenario's markets are listed"
        token_id = markets[0]["tokens"][0]["token_id"]
        book = httpx.get(f"{rest}/book", params={"token_id": token_id}, timeout=5).json()
        assert book["asset_id"] == token_id and book["tick_size"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
