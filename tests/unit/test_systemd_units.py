"""The systemd units are well formed; `systemd-analyze verify` checks them where available."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "config" / "systemd"
SERVICES = ("polyloly-engine.service", "polyloly-gateway.service", "polyloly-shard@.service")


def _parse(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name)
    return parser


@pytest.mark.parametrize("name", SERVICES)
def test_service_restarts_on_failure_with_private_runtime_dir(name: str) -> None:
    service = _parse(name)["Service"]
    assert service["Restart"] == "on-failure"
    assert service["RuntimeDirectoryMode"] == "0700"
    assert service["EnvironmentFile"] == "/etc/polyloly/polyloly.env"
    assert service["NoNewPrivileges"] == "yes"
    assert _parse(name)["Unit"]["PartOf"] == "polyloly.target"


def test_only_the_engine_may_see_the_signing_key() -> None:
    for name in ("polyloly-gateway.service", "polyloly-shard@.service"):
        assert "POLYMARKET_PRIVATE_KEY" in _parse(name)["Service"]["UnsetEnvironment"]


def test_shard_template_passes_instance_as_shard_index() -> None:
    assert _parse("polyloly-shard@.service")["Service"]["ExecStart"].endswith("--shard %i")


def test_systemd_analyze_verify() -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    result = subprocess.run(
        [tool, "verify", *(str(UNITS / n) for n in (*SERVICES, "polyloly.target"))],
        capture_output=True, text=True, timeout=60,
    )
    problems = [
        line for line in result.stderr.splitlines()
        if "polyloly" in line and "Command" not in line and "not executable" not in line
        and "does not exist" not in line and "Failed to resolve" not in line
    ]
    assert not problems, result.stderr
