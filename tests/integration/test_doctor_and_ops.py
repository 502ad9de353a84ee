"""`polyloly doctor` runs the startup checks against the simulator: every esports feed answers
one real request that parses, the clock rule follows the mode, the live requirements are
checked; a failed check is reported, and `--strict` exits non-zero on it; `health` and `status`
report processes that are down."""

from __future__ import annotations

import secrets
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.commands import doctor_main, health_main, status_main
from ops.demo import demo_config, start_simulator
from ops.ntp_status import CommandOutput
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


FEEDS = ("grid", "lolesports", "pandascore", "opendota", "liquipedia", "polymarket_sports")


def ntp(synchronized: str) -> Any:
    """A runner where only timedatectl is installed and says ``NTPSynchronized=...``."""
    def run(argv: Any) -> CommandOutput | None:
        if argv[0] != "timedatectl":
            return None
        return CommandOutput(0, f"NTP=yes\nNTPSynchronized={synchronized}\n", "")
    return run


def _config(root: Path, endpoints: dict[str, Any], executor: str = "paper", mode: str = "paper",
            **polymarket: Any) -> str:
    overlay = demo_config(load_scenario("demo_short"), endpoints, "doctor", root, 2, executor)
    overlay["polymarket"].update(polymarket)
    overlay["run"]["mode"] = mode
    path = root / f"config-{executor}-{mode}-{len(polymarket)}.yaml"
    path.write_text(yaml.safe_dump(overlay))
    return str(path)


def test_doctor_passes_against_the_simulator_in_paper_mode(
    simulator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    root, endpoints = simulator
    path = _config(root, endpoints)
    assert doctor_main(["--config", path, "--strict"], ntp_runner=ntp("yes")) == 0
    out = capsys.readouterr().out
    for name in ("config", "clock_skew", "clock_ntp", "polymarket_rest", "polymarket_market_ws",
                 "market_mappings", "balance_allowance"):
        assert f"[ok  ] {name}" in out, (name, out)
    for feed in FEEDS:  # one real request each, through the gateway's adapter, that parsed
        line = next(line for line in out.splitlines() if f"] feed_{feed} " in line)
        assert line.startswith("[ok  ]") and endpoints[feed].split("//")[1].split("/")[0] in line
        assert "parsed" in line or "connected" in line, line
    assert "synchronised (timedatectl: NTPSynchronized=yes" in out
    assert "PAPER TRADING" in out and "all checks passed" in out


def test_doctor_paper_warns_on_an_unsynchronised_clock_and_strict_refuses_the_warning(
    simulator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    root, endpoints = simulator
    path = _config(root, endpoints)
    assert doctor_main(["--config", path], ntp_runner=ntp("no")) == 0  # a warning passes
    out = capsys.readouterr().out
    assert "[warn] clock_ntp" in out and "not synchronised" in out
    assert "all checks passed" in out
    assert doctor_main(["--config", path, "--strict"], ntp_runner=ntp("no")) == 1
    assert "--strict: warnings count as failures: clock_ntp" in capsys.readouterr().out


def test_doctor_live_fails_strict_on_an_unsynchronised_clock(
    simulator: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, endpoints = simulator
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY", "0x" + secrets.token_hex(32))
    monkeypatch.setenv("LIVE_TRADING", "1")
    path = _config(root, endpoints, "real", "live")
    assert doctor_main(["--config", path, "--strict"], ntp_runner=ntp("yes")) == 0
    assert "LIVE TRADING" in capsys.readouterr().out
    assert doctor_main(["--config", path, "--strict"], ntp_runner=ntp("no")) == 1
    out = capsys.readouterr().out
    assert "[FAIL] clock_ntp" in out and "startup checks FAILED: clock_ntp" in out


def test_doctor_checks_balance_and_allowance_with_a_key(
    simulator: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, endpoints = simulator
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY", "0x" + secrets.token_hex(32))
    monkeypatch.setenv("LIVE_TRADING", "1")
    assert doctor_main(["--config", _config(root, endpoints, "real"), "--strict"],
                       ntp_runner=ntp("yes")) == 0
    out = capsys.readouterr().out
    assert "[ok  ] balance_allowance" in out and "pUSD" in out


def test_doctor_fails_the_real_executor_without_live_trading(
    simulator: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, endpoints = simulator
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY", "0x" + secrets.token_hex(32))
    monkeypatch.delenv("LIVE_TRADING", raising=False)
    path = _config(root, endpoints, "real")
    assert doctor_main(["--config", path, "--strict"], ntp_runner=ntp("yes")) == 1
    out = capsys.readouterr().out
    assert "[FAIL] config" in out and "set LIVE_TRADING=1" in out


def test_doctor_reports_an_unreachable_venue_and_fails_when_strict(
    simulator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    root, endpoints = simulator
    path = _config(root, endpoints, clob_rest_url="http://127.0.0.1:9")
    assert doctor_main(["--config", path, "--timeout", "2", "--strict"],
                       ntp_runner=ntp("yes")) == 1
    out = capsys.readouterr().out
    assert "[FAIL] polymarket_rest" in out and "startup checks FAILED" in out
    # without --strict a failed check fails the command too
    assert doctor_main(["--config", path, "--timeout", "2"], ntp_runner=ntp("yes")) == 1
    assert "[FAIL] polymarket_rest" in capsys.readouterr().out


def test_health_and_status_report_processes_that_are_down(
    simulator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    root, endpoints = simulator
    path = _config(root, endpoints)
    assert health_main(["--config", path]) == 1
    assert "down" in capsys.readouterr().out
    assert status_main(["--config", path]) == 1  # a table of dashes is not a healthy system
    captured = capsys.readouterr()
    assert "unreachable: gateway, engine, shard-0, shard-1" in captured.out
    assert "not answering: gateway, engine, shard-0, shard-1" in captured.err
