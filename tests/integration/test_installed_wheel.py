"""The wheel works outside the source tree: built from a copy of the sources, installed with the
runtime pins into a fresh virtualenv in a temporary directory, and run from a directory that is
not the checkout: ``config check`` on the packaged overlay, ``sim --help`` and a short paper demo
that writes its summary. Everything it creates (venv, wheel, runs, processes) is removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]
# The packages the wheel holds, as pyproject names them (one list, not a copy of it).
_FIND = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
PACKAGES = tuple(pattern.rstrip("*") for pattern in _FIND["find"]["include"])
INSTALL_TIMEOUT_S = 600  # a cold pip cache downloads ~60 pinned wheels
DEMO_SECONDS = 20

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float,
         ) -> subprocess.CompletedProcess[str]:
    """Run in its own process group; on timeout the whole group (demo children too) dies."""
    process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"{' '.join(args[:3])} did not finish in {timeout} s:\n{out[-2000:]}\n"
                    f"{err[-2000:]}")
    finally:
        with contextlib.suppress(ProcessLookupError):  # children that outlived their parent
            os.killpg(process.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(args, process.returncode, out, err)


def _clean_env() -> dict[str, str]:
    """No PYTHONPATH or POLYLOLY__ overrides leaking the checkout or this run's settings in."""
    return {key: value for key, value in os.environ.items()
            if key != "PYTHONPATH" and not key.startswith(("POLYLOLY__", "VIRTUAL_ENV"))}


@pytest.fixture(scope="module")
def installed() -> Iterator[tuple[Path, Path]]:
    """(venv bin dir, an empty work dir), both outside the checkout; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="polyloly-wheel-") as tmp:
        base = Path(tmp)
        src = base / "src"
        src.mkdir()
        # Build from a copy: an in-tree setuptools build would write build/ into the checkout.
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(ROOT / name, src / name)
        for package in PACKAGES:
            shutil.copytree(ROOT / package, src / package,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "results"))
        env = _clean_env()
        built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                      "--wheel-dir", str(base / "wheels"), str(src)], base, env, 300)
        assert built.returncode == 0, built.stderr[-3000:]
        (wheel,) = (base / "wheels").glob("polyloly-*.whl")
        venv = base / "venv"
        made = _run([sys.executable, "-m", "venv", str(venv)], base, env, 120)
        assert made.returncode == 0, made.stderr
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
               "--disable-pip-version-check"]
        done = _run([*pip, "-c", str(ROOT / "requirements" / "runtime.txt"), str(wheel)],
                    base, env, INSTALL_TIMEOUT_S)
        assert done.returncode == 0, done.stderr[-3000:]
        work = base / "work"
        work.mkdir()
        yield venv / "bin", work


def test_wheel_ships_the_package_data(installed: tuple[Path, Path]) -> None:
    bin_dir, work = installed
    code = ("import polyloly, sim.scenario as s; from importlib import resources; "
            "print(polyloly.__file__); print(','.join(s.list_scenarios())); "
            "print(resources.files('polyloly.defaults').joinpath('base.yaml').is_file())")
    result = _run([str(bin_dir / "python"), "-c", code], work, _clean_env(), 60)
    assert result.returncode == 0, result.stderr
    location, scenarios, has_base = result.stdout.split()
    assert not Path(location).is_relative_to(ROOT), "imported the checkout, not the wheel"
    assert "demo_short" in scenarios.split(",") and has_base == "True"


def test_config_check_uses_the_packaged_overlay(installed: tuple[Path, Path]) -> None:
    bin_dir, work = installed
    # the packaged prod.yaml is a template: check names what it still lacks (exit 2) ...
    result = _run([str(bin_dir / "polyloly"), "config", "check", "prod"], work, _clean_env(), 60)
    assert result.returncode == 2 and "markets: live trading needs" in result.stderr
    # ... and show reads the packaged overlay, not a file of the working directory
    result = _run([str(bin_dir / "polyloly"), "config", "show", "prod", "--json"], work,
                  _clean_env(), 60)
    assert result.returncode == 0, result.stderr
    rows = {row["key"]: row for row in orjson.loads(result.stdout)}
    assert rows["run.mode"]["value"] == "live" and rows["execution.executor"]["value"] == "real"
    assert rows["run.mode"]["source"] == "polyloly/defaults/prod.yaml"


def test_sim_help_runs(installed: tuple[Path, Path]) -> None:
    bin_dir, work = installed
    result = _run([str(bin_dir / "polyloly"), "sim", "--help"], work, _clean_env(), 60)
    assert result.returncode == 0, result.stderr
    assert "--scenario" in result.stdout


def test_paper_demo_completes_and_writes_its_summary(installed: tuple[Path, Path]) -> None:
    bin_dir, work = installed
    runs = work / "runs"
    env = {**_clean_env(), "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = _run([str(bin_dir / "polyloly"), "demo", "--no-ui", "--speed", "4",
                   "--duration", str(DEMO_SECONDS), "--runs-dir", str(runs)],
                  work, env, DEMO_SECONDS + 120)
    assert result.returncode == 0, result.stderr[-3000:]
    (summary_path,) = runs.glob("*/summary.json")
    summary = orjson.loads(summary_path.read_bytes())
    assert summary, "empty summary"
    assert (summary_path.parent / "report.html").is_file()
