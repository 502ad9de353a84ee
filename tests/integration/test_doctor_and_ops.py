"""`polyloly doctor` runs the startup checks against the simulator; a failed check is reported
and exits non-zero; `health` and `status` report processes that are down."""

from __future__ import annotations

import secrets
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from polyloly.demo import demo_config, start_simulator
from polyloly.ops import doctor_main, health_main, status_main
from sim.scenario import load_scenario


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("doctor")
    process, endpoints = start_simulator("demo_short", 1.0, None, root / "sim.log")
    try:
        yield root, endpoints
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _config(root: Path, endpoints: dict[str, Any], executor: str = "paper", **polymarket: Any
            ) -> str:
    overlay = demo_config(load_scenario("demo_short"), endpoints, "doctor", root, 2, executor)
    overlay["polymarket"].update(polymarket)
    path = root / f"config-{executor}-{len(polymarket)}.yaml"
    path.write_text(yaml.safe_dump(overlay))
    return str(path)


def test_doctor_passes_against_the_simulator_in_paper_mode(
    simulator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    root, endpoints = simulator
    assert doctor_main(["--config", _config(root, endpoints)]) == 0
    out = capsys.readouterr().out
    for name in ("config", "clock_skew", "polymarket_rest", "polymarket_market_ws",
                 "market_mappings", "feed_grid", "feed_opendota", "balance_allowance"):
        assert f"[ok  ] {name}" in out or f"[warn] {name}" in out, (name, out)
    assert "PAPER TRADING" in out and "all checks passed" in out


def test_doctor_checks_balance_and_allowance_with_a_key(
    simulator: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, endpoints = simulator
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY", "0x" + secrets.token_hex(32))
    assert doctor_main(["--config", _config(root, endpoints, "real")]) == 0
    out = capsys.readouterr().out
    assert "[ok  ] balance_allowance" in out and "pUSD" in out


def test_doctor_reports_an_unreachable_venue_and_fails(
    simulator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    root, endpoints = simulator
    path = _config(root, endpoints, clob_rest_url="http://127.0.0.1:9")
    assert doctor_main(["--config", path, "--timeout", "2"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] polymarket_rest" in out and "startup checks FAILED" in out


def test_health_and_status_report_processes_that_are_down(
    simulator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    root, endpoints = simulator
    path = _config(root, endpoints)
    assert health_main(["--config", path]) == 1
    assert "down" in capsys.readouterr().out
    assert status_main(["--config", path]) == 0
    assert "unreachable: gateway, engine, shard-0, shard-1" in capsys.readouterr().out
