"""docker/: the live profile's guard refuses without LIVE_TRADING=1, markets and a key; the
default compose stack is paper trading that a fresh clone can start."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KEY = "0x" + "5c" * 32  # registered as a secret when loaded: not a value other tests use as an id
MARKETS = """\
markets:
  - market_id: "0x{mid}"
    token_ids: ["111", "222"]
    match_id: m1
    game: lol
""".format(mid="1" * 64)


def _guard() -> ModuleType:
    spec = importlib.util.spec_from_file_location("live_check", ROOT / "docker" / "live_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config(tmp_path: Path, markets: bool = True, executor: str = "real") -> str:
    path = tmp_path / "live.yaml"
    mode = "live" if executor == "real" else "paper"  # config validation ties the two
    body = f"run: {{mode: {mode}}}\nexecution: {{executor: {executor}}}\n"
    path.write_text(body + (MARKETS if markets else ""))
    return str(path)


def test_everything_present_passes(tmp_path: Path) -> None:
    env = {"LIVE_TRADING": "1", "POLYMARKET_PRIVATE_KEY": KEY}
    assert _guard().problems(_config(tmp_path), env) == []


def test_each_missing_piece_is_one_line(tmp_path: Path) -> None:
    lines = _guard().problems(_config(tmp_path, markets=False), {})
    assert len(lines) == 3, lines
    assert lines[0].startswith("LIVE_TRADING is not 1")
    assert "no markets" in lines[1]
    assert lines[2].startswith("signing key: no private key: environment variable "
                               "POLYMARKET_PRIVATE_KEY is empty or unset")


def test_paper_executor_is_refused(tmp_path: Path) -> None:
    env = {"LIVE_TRADING": "1", "POLYMARKET_PRIVATE_KEY": KEY}
    (line,) = _guard().problems(_config(tmp_path, executor="paper"), env)
    assert "execution.executor is 'paper'" in line


def test_main_refuses_with_exit_2_and_never_execs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    guard = _guard()
    execs: list[Any] = []
    monkeypatch.setattr(guard.os, "execvp", lambda *args: execs.append(args))
    monkeypatch.delenv("LIVE_TRADING", raising=False)
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY", KEY)
    assert guard.main([_config(tmp_path)]) == 2
    assert execs == []
    assert capsys.readouterr().err.startswith("live profile refused: LIVE_TRADING is not 1")


def test_main_execs_polyloly_run_when_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = _guard()
    execs: list[Any] = []
    monkeypatch.setattr(guard.os, "execvp", lambda *args: execs.append(args))
    monkeypatch.setenv("LIVE_TRADING", "1")
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY", KEY)
    path = _config(tmp_path)
    assert guard.main([path, "--shards", "3"]) == 0
    assert execs == [("polyloly", ["polyloly", "run", "--config", path, "--shards", "3"])]


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    lines = _guard().problems(str(tmp_path / "absent.yaml"), {"LIVE_TRADING": "1"})
    assert lines == [f"config {tmp_path / 'absent.yaml'}: {tmp_path / 'absent.yaml'}: "
                     "cannot read: No such file or directory"]


def test_compose_default_is_paper_and_needs_no_local_file() -> None:
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    services = compose["services"]
    default = [name for name, svc in services.items() if "profiles" not in svc]
    assert "polyloly-live" not in default
    paper = services["polyloly"]
    assert paper["command"][:2] == ["demo", "--no-ui"]
    assert all(entry.get("required") is False for entry in paper["env_file"])
    # Every host file a default service mounts is in the repository.
    for name in default:
        for volume in services[name].get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if source.startswith("."):
                assert (ROOT / "docker" / source).resolve().is_file(), (name, source)
    live = services["polyloly-live"]
    assert live["profiles"] == ["live"]
    assert live["entrypoint"][1] == "/usr/local/lib/polyloly/live_check.py"
    assert "COPY docker/live_check.py /usr/local/lib/polyloly/live_check.py" in (
        ROOT / "docker" / "Dockerfile").read_text()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
