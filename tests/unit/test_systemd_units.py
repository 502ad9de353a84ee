"""The systemd units: ``polyloly systemd render`` writes them, ``config/systemd/`` is its rendering
for the default install, ``systemd-analyze verify`` accepts them and ``systemd-analyze security``
scores each service at most 3.0."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ops.systemd_render import main as render_main
from ops.systemd_render import render_units

UNITS = Path(__file__).resolve().parents[2] / "config" / "systemd"
SERVICES = ("polyloly-engine.service", "polyloly-gateway.service", "polyloly-shard@.service")
BIN_DIR = str(Path(sys.executable).parent)  # this venv: verify then finds every command
MAX_EXPOSURE = 3.0


def _parse(directory: Path, name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(directory / name)
    return parser


def _keys(directory: Path, name: str, section: str) -> list[tuple[str, str]]:
    """Every ``key=value`` of a section in order, repeated keys included."""
    lines, current = [], None
    for line in (directory / name).read_text().splitlines():
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            lines.append((key, value))
    return lines


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    out = tmp_path / "units"
    assert render_main(["render", "--config", "prod", "--out", str(out),
                        "--bin-dir", BIN_DIR]) == 0
    return out


def test_config_systemd_is_the_rendering_for_the_default_install() -> None:
    units = render_units(2, "/etc/polyloly/prod.yaml", "/opt/polyloly/.venv/bin", "polyloly")
    assert sorted(p.name for p in UNITS.iterdir()) == sorted(units)
    for name, text in units.items():
        assert (UNITS / name).read_text() == text, f"{name}: re-render config/systemd"


@pytest.mark.parametrize("name", SERVICES)
def test_service_is_notify_with_watchdog_restart_and_private_dirs(rendered: Path,
                                                                  name: str) -> None:
    parsed = _parse(rendered, name)
    service = parsed["Service"]
    assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
    assert int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "on-failure"
    assert service["RuntimeDirectoryMode"] == "0700"
    assert service["EnvironmentFile"] == "/etc/polyloly/polyloly.env"
    assert service["NoNewPrivileges"] == "yes"
    assert "/dev/shm" in service["ReadWritePaths"].split()  # the books
    assert parsed["Unit"]["PartOf"] == "polyloly.target"


def test_start_order_engine_then_gateway_then_shards(rendered: Path) -> None:
    gateway = _parse(rendered, "polyloly-gateway.service")["Unit"]["After"].split()
    shard = _parse(rendered, "polyloly-shard@.service")["Unit"]["After"].split()
    assert "polyloly-engine.service" in gateway
    assert {"polyloly-engine.service", "polyloly-gateway.service"} <= set(shard)


def test_engine_runs_the_strict_doctor_before_it_starts(rendered: Path) -> None:
    keys = [k for k, _ in _keys(rendered, "polyloly-engine.service", "Service")]
    service = dict(_keys(rendered, "polyloly-engine.service", "Service"))
    assert keys.index("ExecStartPre") < keys.index("ExecStart")
    assert service["ExecStartPre"] == f"{BIN_DIR}/polyloly doctor --strict --config prod"
    assert service["ExecStart"] == f"{BIN_DIR}/polyloly-engine --config prod"


def test_only_the_engine_may_see_the_signing_key(rendered: Path) -> None:
    for name in ("polyloly-gateway.service", "polyloly-shard@.service"):
        assert "POLYMARKET_PRIVATE_KEY" in _parse(rendered, name)["Service"]["UnsetEnvironment"]
    assert "UnsetEnvironment" not in _parse(rendered, "polyloly-engine.service")["Service"]


def test_shard_template_passes_instance_as_shard_index(rendered: Path) -> None:
    assert _parse(rendered, "polyloly-shard@.service")["Service"]["ExecStart"].endswith(
        "--shard %i")


def test_target_wants_one_instance_per_configured_shard(tmp_path: Path) -> None:
    config = tmp_path / "three.yaml"
    config.write_text(yaml.safe_dump({"shards": {"count": 3}}))
    out = tmp_path / "units"
    assert render_main(["render", "--config", str(config), "--out", str(out)]) == 0
    wants = " ".join(v for k, v in _keys(out, "polyloly.target", "Unit") if k == "Wants").split()
    shards = sorted(w for w in wants if w.startswith("polyloly-shard@"))
    assert shards == [f"polyloly-shard@{k}.service" for k in range(3)]
    assert {"polyloly-engine.service", "polyloly-gateway.service"} <= set(wants)
    # the default bin dir is the running venv's, so the units run this installation
    assert _parse(out, "polyloly-engine.service")["Service"]["ExecStart"].startswith(
        f"{BIN_DIR}/polyloly-engine ")


@pytest.mark.parametrize(("args", "message"), [
    (["--config", "relative.yaml"], "--config relative.yaml: expected an absolute path"),
    (["--config", "/nonexistent/prod.yaml"], "not found on this host; pass --shards N"),
    (["--config", "prod", "--shards", "5"], "--shards 5 disagrees with shards.count=2"),
    (["--config", "prod", "--bin-dir", "bin"], "--bin-dir bin: expected an absolute path"),
    (["--config", "/nonexistent/prod.yaml", "--shards", "0"], "--shards: expected at least 1"),
])
def test_bad_render_options_give_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str,
) -> None:
    assert render_main(["render", *args, "--out", str(tmp_path / "units")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "units").exists()


def test_shards_given_for_a_config_absent_here(tmp_path: Path) -> None:
    out = tmp_path / "units"
    assert render_main(["render", "--config", "/etc/polyloly/prod.yaml", "--shards", "4",
                        "--out", str(out)]) == 0
    assert "polyloly-shard@3.service" in (out / "polyloly.target").read_text()
    assert "polyloly-shard@4.service" not in (out / "polyloly.target").read_text()


def _tool() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed on this machine (apt install systemd)")
    return tool


def test_systemd_analyze_verify_accepts_the_rendered_units(rendered: Path) -> None:
    result = subprocess.run(
        [_tool(), "verify", *(str(rendered / n) for n in (*SERVICES, "polyloly.target"))],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_systemd_analyze_verify_catches_a_broken_unit(rendered: Path) -> None:
    """The check above can fail: an unknown key or a missing command is reported."""
    broken = rendered / "polyloly-gateway.service"
    broken.write_text(broken.read_text().replace("Type=notify", "Tpye=notify")
                      .replace(f"{BIN_DIR}/polyloly-gateway", "/nonexistent/polyloly-gateway"))
    result = subprocess.run([_tool(), "verify", str(broken)], capture_output=True, text=True,
                            timeout=60)
    assert "Tpye" in result.stderr and "/nonexistent/polyloly-gateway" in result.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_systemd_analyze_security_exposure_at_most_3(rendered: Path, name: str) -> None:
    result = subprocess.run(
        [_tool(), "security", "--offline=yes", "--no-pager", str(rendered / name)],
        capture_output=True, text=True, timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match is not None, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout
