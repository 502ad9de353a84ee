"""The Makefile's Python gate, stale-venv rebuild and which pins each target installs.

Each test copies the Makefile and the files its rules depend on into a temporary directory and
runs ``make -n`` there, so nothing is installed and the real ``.venv`` is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")

pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def _project(tmp_path: Path) -> Path:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")
    return tmp_path


def _make(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert MAKE is not None
    return subprocess.run([MAKE, "-n", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)


def _fake_python(path: Path, version: tuple[int, int, int]) -> Path:
    """A real interpreter that reports another version, so the Makefile's own check runs."""
    dotted = ".".join(map(str, version))
    path.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.version_info = {(*version, 'final', 0)!r}\n"
        f"sys.version = '{dotted} (fake)'\n"
        "if sys.argv[1:2] != ['-c']:\n"
        "    sys.exit('fake python only runs -c CODE')\n"
        "exec(sys.argv[2])\n"
    )
    path.chmod(0o755)
    return path


def test_python_older_than_3_11_is_refused_with_one_line(tmp_path: Path) -> None:
    project = _project(tmp_path)
    old = _fake_python(tmp_path / "python3.10", (3, 10, 12))
    result = _make(project, "test", f"PYTHON={old}")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"Python 3.11+ required, {old} is 3.10.12" in lines[0]
    assert "make PYTHON=python3.11" in lines[0]
    assert "venv" not in result.stdout  # refused before planning anything


def test_python_that_does_not_run_is_named(tmp_path: Path) -> None:
    result = _make(_project(tmp_path), "run", f"PYTHON={tmp_path / 'missing-python'}")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "missing-python does not run: install Python 3.11+" in result.stderr


def test_clean_needs_no_python(tmp_path: Path) -> None:
    result = _make(_project(tmp_path), "clean", f"PYTHON={tmp_path / 'missing-python'}")
    assert result.returncode == 0, result.stderr
    assert "rm -rf .venv" in result.stdout


def test_venv_whose_python_no_longer_runs_is_rebuilt(tmp_path: Path) -> None:
    project = _project(tmp_path)
    broken = project / ".venv" / "bin" / "python"
    broken.parent.mkdir(parents=True)
    broken.write_text("#!/bin/sh\nexit 127\n")
    broken.chmod(0o755)
    result = _make(project, "install", f"PYTHON={sys.executable}")
    assert result.returncode == 0, result.stderr
    assert "rm -rf .venv" in result.stdout
    assert f"{sys.executable} -m venv .venv" in result.stdout


def test_venv_made_by_another_python_is_rebuilt(tmp_path: Path) -> None:
    project = _project(tmp_path)
    other = project / ".venv" / "bin" / "python"
    other.parent.mkdir(parents=True)
    _fake_python(other, (3, 12, 1))  # runs, but is not the interpreter make was given
    result = _make(project, "install", f"PYTHON={sys.executable}")
    assert result.returncode == 0, result.stderr
    assert "rm -rf .venv" in result.stdout


def test_venv_of_the_same_python_is_reused(tmp_path: Path) -> None:
    project = _project(tmp_path)
    same = project / ".venv" / "bin" / "python"
    same.parent.mkdir(parents=True)
    same.symlink_to(Path(sys.executable).resolve())
    result = _make(project, "install", f"PYTHON={sys.executable}")
    assert result.returncode == 0, result.stderr
    assert "rm -rf .venv" not in result.stdout
    assert "-c requirements/dev.txt -e '.[dev]'" in result.stdout


def test_run_installs_runtime_pins_only_and_test_adds_dev(tmp_path: Path) -> None:
    project = _project(tmp_path)
    run = _make(project, "run", f"PYTHON={sys.executable}")
    assert run.returncode == 0, run.stderr
    assert "-c requirements/runtime.txt -e ." in run.stdout
    assert "[dev]" not in run.stdout and "dev.txt" not in run.stdout
    assert ".venv/bin/polyloly demo" in run.stdout
    test = _make(project, "test", f"PYTHON={sys.executable}")
    assert "-c requirements/dev.txt -e '.[dev]'" in test.stdout
    assert "-m pytest tests" in test.stdout
    lint = _make(project, "lint", f"PYTHON={sys.executable}")
    assert ".venv/bin/ruff check ." in lint.stdout and ".venv/bin/mypy" in lint.stdout


def test_stamps_depend_on_pyproject_and_the_locks(tmp_path: Path) -> None:
    project = _project(tmp_path)
    venv_bin = project / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(Path(sys.executable).resolve())
    for stamp in (".installed-runtime", ".installed-dev"):
        (project / ".venv" / stamp).touch()
    up_to_date = _make(project, "install", f"PYTHON={sys.executable}")
    assert "pip install" not in up_to_date.stdout, up_to_date.stdout
    # A newer lock file makes the stamp stale: `make install` reinstalls from the pins.
    lock = project / "requirements" / "dev.txt"
    stamp_time = (project / ".venv" / ".installed-dev").stat().st_mtime
    os.utime(lock, (stamp_time + 10, stamp_time + 10))
    stale = _make(project, "install", f"PYTHON={sys.executable}")
    assert "-c requirements/dev.txt -e '.[dev]'" in stale.stdout


def test_ci_runs_lint_then_test() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert script.index("make lint") < script.index("make test")


def test_lock_files_pin_every_package_and_the_linters_exactly() -> None:
    for name in ("runtime.txt", "dev.txt"):
        pins = [line.split("#")[0].strip()
                for line in (ROOT / "requirements" / name).read_text().splitlines()
                if line.strip() and not line.startswith("#")]
        assert pins and all("==" in pin for pin in pins), name
    dev = (ROOT / "requirements" / "dev.txt").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    for tool in ("ruff", "mypy"):
        (pin,) = [line.split()[0] for line in dev.splitlines() if line.startswith(f"{tool}==")]
        assert f'"{pin}"' in pyproject, f"pyproject pins {tool} differently from the lock"
    assert '"py-clob-client-v2>=1.2,<1.3"' in pyproject
