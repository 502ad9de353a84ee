"""CLI truthfulness (issue 19): every option has help text, and a user error (an unknown
scenario) is one line and exit 2, never a traceback."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI_DIRS = ("ops", "sim", "replay", "engine", "gateway", "shards", "bench")


def _options_without_help(paths: list[Path]) -> list[str]:
    missing: list[str] = []
    for path in paths:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("add_argument", "add_parser")
                    and not any(k.arg in ("help", None) for k in node.keywords)):
                missing.append(f"{path.name}:{node.lineno}")
    return missing


def test_every_option_and_subcommand_has_help_text() -> None:
    paths = [p for folder in CLI_DIRS for p in sorted((ROOT / folder).rglob("*.py"))]
    assert len(paths) > 50 and _options_without_help(paths) == []


def test_the_scan_sees_an_option_without_help(tmp_path: Path) -> None:
    path = tmp_path / "cli.py"
    path.write_text("p.add_argument('--x')\np.add_argument('--y', help='y')\n"
                    "s.add_parser('go')\n")
    assert _options_without_help([path]) == ["cli.py:1", "cli.py:3"]


def test_sim_unknown_scenario_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from sim.cli import main

    assert main(["--scenario", "no_such_scenario"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "scenario 'no_such_scenario': not found; known scenarios:" in err


def test_demo_unknown_scenario_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ops.demo import main

    assert main(["--scenario", "no_such_scenario", "--no-ui",
                 "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "scenario 'no_such_scenario': not found" in err


def test_bench_unknown_scenario_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.cli import main

    assert main(["replay", "--scenario", "no_such_scenario", "--seconds", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "scenario 'no_such_scenario': not found" in err


def test_the_readme_commands_section_names_every_command_and_only_those() -> None:
    import re

    from ops.cli import COMMANDS

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Commands"):readme.index("## Configuration")]
    named = set(re.findall(r"`polyloly ([a-z]+)", section))
    assert sorted(set(COMMANDS) - named) == [] and sorted(named - set(COMMANDS)) == []
