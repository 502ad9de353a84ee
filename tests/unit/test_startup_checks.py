"""Startup checks without a network: NTP status parsing (captured chronyc/timedatectl outputs),
the clock rule per mode, every config error at once, the live requirements, the report, and
`polyloly doctor`/`polyloly config check` on a bad file (specs/07_EXECUTION_SPEC.md, Startup)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.commands import doctor_main
from ops.config_cli import main as config_main
from ops.config_errors import all_errors, check_config_file
from ops.ntp_status import (
    CommandOutput,
    NtpStatus,
    parse_chronyc_tracking,
    parse_timedatectl_show,
    read_ntp_status,
)
from ops.startup_checks import (
    CheckResult,
    StartupReport,
    live_requirement_errors,
    ntp_check,
)
from polyloly.config import validate

CHRONY_SYNCED = """\
Reference ID    : A29FC87B (time.cloudflare.com)
Stratum         : 4
Ref time (UTC)  : Tue May 14 10:20:12 2024
System time     : 0.000123456 seconds fast of NTP time
Last offset     : -0.000045678 seconds
RMS offset      : 0.000234567 seconds
Frequency       : 12.345 ppm slow
Residual freq   : -0.001 ppm
Skew            : 0.045 ppm
Root delay      : 0.012345678 seconds
Root dispersion : 0.001234567 seconds
Update interval : 64.2 seconds
Leap status     : Normal
"""

CHRONY_SLOW = CHRONY_SYNCED.replace(
    "0.000123456 seconds fast of NTP time", "3.500000000 seconds slow of NTP time"
)

CHRONY_UNSYNCED = """\
Reference ID    : 00000000 ()
Stratum         : 0
Ref time (UTC)  : Thu Jan 01 00:00:00 1970
System time     : 0.000000000 seconds fast of NTP time
Last offset     : +0.000000000 seconds
RMS offset      : 0.000000000 seconds
Frequency       : 0.000 ppm slow
Residual freq   : +0.000 ppm
Skew            : 0.000 ppm
Root delay      : 1.000000000 seconds
Root dispersion : 1.000000000 seconds
Update interval : 0.0 seconds
Leap status     : Not synchronised
"""

TIMEDATECTL_SYNCED = """\
Timezone=Etc/UTC
LocalRTC=no
CanNTP=yes
NTP=yes
NTPSynchronized=yes
TimeUSec=Tue 2024-05-14 10:21:33 UTC
RTCTimeUSec=Tue 2024-05-14 10:21:33 UTC
"""

TIMEDATECTL_UNSYNCED = TIMEDATECTL_SYNCED.replace("NTPSynchronized=yes", "NTPSynchronized=no")


def runner_of(answers: dict[str, CommandOutput | None]) -> Any:
    """A command runner answering by program name; programs not listed are not installed."""
    calls: list[tuple[str, ...]] = []

    def run(argv: Sequence[str]) -> CommandOutput | None:
        calls.append(tuple(argv))
        return answers.get(argv[0])

    run.calls = calls  # type: ignore[attr-defined]
    return run


# --- parsing -----------------------------------------------------------------------------------


def test_chronyc_tracking_synchronised_with_a_signed_offset() -> None:
    status = parse_chronyc_tracking(CHRONY_SYNCED)
    assert status is not None and status.synchronized is True
    assert status.offset_s == pytest.approx(0.000123456)
    slow = parse_chronyc_tracking(CHRONY_SLOW)
    assert slow is not None and slow.offset_s == pytest.approx(-3.5)


def test_chronyc_tracking_not_synchronised() -> None:
    status = parse_chronyc_tracking(CHRONY_UNSYNCED)
    assert status is not None and status.synchronized is False
    assert "Not synchronised" in status.detail


def test_chronyc_without_a_daemon_reports_nothing() -> None:
    assert parse_chronyc_tracking("506 Cannot talk to daemon\n") is None


def test_timedatectl_show_yes_no_and_missing() -> None:
    synced = parse_timedatectl_show(TIMEDATECTL_SYNCED)
    assert synced is not None and synced.synchronized is True and synced.offset_s is None
    unsynced = parse_timedatectl_show(TIMEDATECTL_UNSYNCED)
    assert unsynced is not None and unsynced.synchronized is False
    assert parse_timedatectl_show("Timezone=Etc/UTC\nNTP=yes\n") is None


def test_read_ntp_status_prefers_chrony_then_timedatectl_then_unknown() -> None:
    both = runner_of({"chronyc": CommandOutput(0, CHRONY_SYNCED, ""),
                      "timedatectl": CommandOutput(0, TIMEDATECTL_UNSYNCED, "")})
    assert read_ntp_status(both).source == "chronyc"
    no_daemon = runner_of({"chronyc": CommandOutput(1, "", "506 Cannot talk to daemon"),
                           "timedatectl": CommandOutput(0, TIMEDATECTL_UNSYNCED, "")})
    status = read_ntp_status(no_daemon)
    assert status.source == "timedatectl" and status.synchronized is False
    neither = runner_of({"timedatectl": CommandOutput(
        1, "", "System has not been booted with systemd as init system (PID 1).")})
    unknown = read_ntp_status(neither)
    assert unknown.synchronized is None
    assert "chronyc not installed" in unknown.detail and "timedatectl exit 1" in unknown.detail
    assert neither.calls == [("chronyc", "tracking"), ("timedatectl", "show")]


# --- the clock rule ----------------------------------------------------------------------------


@pytest.mark.parametrize("live", [True, False])
def test_ntp_unsynchronised_fails_live_and_warns_paper(live: bool) -> None:
    status = parse_timedatectl_show(TIMEDATECTL_UNSYNCED)
    assert status is not None
    check = ntp_check(status, 2.0, live)
    assert not check.ok and check.fatal is live and "not synchronised" in check.detail


@pytest.mark.parametrize("live", [True, False])
def test_ntp_offset_above_the_limit_fails_live_and_warns_paper(live: bool) -> None:
    status = parse_chronyc_tracking(CHRONY_SLOW)
    assert status is not None
    check = ntp_check(status, 2.0, live)
    assert not check.ok and check.fatal is live and "-3.500s above the limit ±2s" in check.detail
    assert ntp_check(status, 5.0, live).ok


def test_ntp_unknown_is_a_warning_even_live() -> None:
    check = ntp_check(NtpStatus("", None, None, "unknown (no tool)"), 2.0, live=True)
    assert not check.ok and not check.fatal
    assert StartupReport((check,)).passed


def test_ntp_synchronised_within_the_limit_is_ok() -> None:
    status = parse_chronyc_tracking(CHRONY_SYNCED)
    assert status is not None and ntp_check(status, 2.0, live=True).ok


# --- report ------------------------------------------------------------------------------------


def test_report_passes_with_warnings_and_fails_naming_the_failed_checks() -> None:
    warn = CheckResult("clock_ntp", False, "unknown", fatal=False)
    fail = CheckResult("config", False, "a: bad\nb: bad")
    assert StartupReport((warn,)).passed
    report = StartupReport((warn, fail))
    assert not report.passed
    text = report.render()
    assert "[warn] clock_ntp" in text and "[FAIL] config" in text
    assert "\n" + " " * 36 + "b: bad" in text  # every line of a detail is shown
    assert text.endswith("startup checks FAILED: config")


# --- config ------------------------------------------------------------------------------------

BAD_CONFIG = {
    "run": {"mode": "sideways"},
    "risk": {"max_daily_loss_usdc": -3, "bogus": 1},
    "shards": {"count": 2},
    "markets": [
        {"market_id": "m1", "token_ids": ["1", "2"], "match_id": "x", "game": "lol", "shard": 5},
        {"market_id": "m1", "token_ids": ["3", "abc"], "match_id": "y", "game": "lol",
         "best_of": 9},
    ],
}


def test_every_config_error_is_reported_at_once() -> None:
    errors = all_errors(BAD_CONFIG)
    assert set(errors) == {
        "run.mode: expected one of 'paper', 'live', was 'sideways'",
        "risk.max_daily_loss_usdc: expected a positive number, was -3",
        "risk.bogus: unknown key",
        "markets[1].best_of: expected an integer <= 7, was 9",
        "markets[0].shard: expected 0..1, was 5",
        "markets[1].market_id: duplicate market 'm1'",
        "markets[1].token_ids: expected decimal token ids, was 'abc'",
    }


def test_a_missing_required_key_is_reported_and_stops_the_search() -> None:
    errors = all_errors({"markets": [{"market_id": "m", "token_ids": ["1", "2"], "game": "lol"}]})
    assert errors == ["markets[0].match_id: required key missing"]


def test_check_config_file_uses_the_environment_like_the_processes(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"shards": {"count": 3}}))
    config, errors = check_config_file(path, {"POLYLOLY__RISK__MAX_DAILY_LOSS_USDC": "-3"})
    assert config is None
    # the environment's value is blamed on its variable, not on the file
    assert errors == ["POLYLOLY__RISK__MAX_DAILY_LOSS_USDC (risk.max_daily_loss_usdc): "
                      "expected a positive number, was -3"]
    config, errors = check_config_file(path, {})
    assert errors == [] and config is not None and config.shards.count == 3
    missing, errors = check_config_file(tmp_path / "nope.yaml", {})
    assert missing is None and len(errors) == 1 and "cannot read" in errors[0]


MARKET = {"market_id": "m1", "token_ids": ["1", "2"], "match_id": "x", "game": "lol"}


def test_live_requirements_need_live_trading_a_key_and_markets() -> None:
    key = "0x" + secrets.token_hex(32)
    paper = validate({"markets": [MARKET]})
    assert live_requirement_errors(paper, {}) == []
    real = validate({"markets": [MARKET], "execution": {"executor": "real"}})
    (no_flag,) = live_requirement_errors(real, {"POLYMARKET_PRIVATE_KEY": key})
    assert "LIVE_TRADING=1" in no_flag
    (no_key,) = live_requirement_errors(real, {"LIVE_TRADING": "1"})
    assert "POLYMARKET_PRIVATE_KEY" in no_key
    assert live_requirement_errors(real, {"LIVE_TRADING": "1", "POLYMARKET_PRIVATE_KEY": key}) \
        == []
    live = validate({"run": {"mode": "live"}, "execution": {"executor": "real"}})
    assert live_requirement_errors(live, {"LIVE_TRADING": "1", "POLYMARKET_PRIVATE_KEY": key}) \
        == ["markets: live trading needs at least one market, none configured"]


def _bad_file(tmp_path: Path) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(BAD_CONFIG))
    return str(path)


def test_doctor_reports_every_config_error_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _bad_file(tmp_path)
    assert doctor_main(["--config", path]) == 1  # a failed check fails the command
    out = capsys.readouterr().out
    assert "[FAIL] config" in out and "7 error(s)" in out
    assert "risk.max_daily_loss_usdc: expected a positive number, was -3" in out
    assert "markets[1].token_ids: expected decimal token ids, was 'abc'" in out
    assert "[warn] other_checks" in out and "startup checks FAILED: config" in out
    assert doctor_main(["--config", path, "--strict"]) == 1


def test_doctor_refuses_a_non_positive_timeout_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert doctor_main(["--config", _bad_file(tmp_path), "--timeout", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--timeout: expected a positive number" in err


def test_config_check_prints_every_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert config_main(["check", _bad_file(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "7 error(s)" in err and ":run.mode: expected one of 'paper', 'live'" in err
    assert f"  {tmp_path / 'bad.yaml'}:risk.bogus: unknown key" in err  # file:key


def test_polyloly_run_lists_every_config_error_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ops.supervisor import main as run_main

    assert run_main(["--config", _bad_file(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "7 error(s)" in err and "bad.yaml:risk.bogus: unknown key" in err
