"""``polyloly kill``: finds the system or exits 2 writing nothing, says what it changed, and
refuses to call a release of a market that is not halted a success (issue 19)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from engine.cli import kill_main
from engine.kill_switch import KillSwitchFile
from tests.helpers.ports import held_port

MARKET = "0x" + "ab" * 32


class FakeEngine:
    """A /status endpoint whose answer the test sets, on an OS-chosen loopback port."""

    def __init__(self) -> None:
        self.status: dict[str, Any] = {"kill_switch": {"engaged": False}, "halted_markets": {}}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                body = orjson.dumps(owner.status)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    fake = FakeEngine()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def _config(tmp_path: Path, port: int) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({
        "run": {"data_dir": str(tmp_path / "data")},
        "metrics": {"engine_port": port},
        "markets": [{"market_id": MARKET, "token_ids": ["1", "2"], "match_id": "m",
                     "game": "lol"}],
    }))
    return str(path)


def test_without_a_config_it_exits_2_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POLYLOLY_CONFIG", raising=False)
    assert kill_main(["--reason", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pass --config FILE (or set POLYLOLY_CONFIG)" in err
    assert os.listdir(tmp_path) == []  # no ./var/kill_switch.json


def test_the_config_can_come_from_polyloly_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: FakeEngine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("POLYLOLY_CONFIG", _config(tmp_path, engine.port))
    engine.status["kill_switch"] = {"engaged": True}
    assert kill_main(["--reason", "drill"]) == 0
    out = capsys.readouterr().out
    assert "kill switch PULLED: drill" in out and "engine confirms: kill switch engaged" in out
    assert KillSwitchFile.in_data_dir(tmp_path / "data").read().engaged


def test_pull_that_the_engine_does_not_show_fails(
    tmp_path: Path, engine: FakeEngine, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("engine.cli._CONFIRM_S", 0.3)
    assert kill_main(["--config", _config(tmp_path, engine.port), "--reason", "x"]) == 1
    assert "does not show the switch engaged" in capsys.readouterr().err


def test_pull_with_no_engine_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("engine.cli._CONFIRM_S", 0.3)
    assert kill_main(["--config", _config(tmp_path, held_port()), "--reason", "x"]) == 0
    assert "engine not answering: the switch is persisted" in capsys.readouterr().out


def test_release_needs_no_reason_as_the_runbook_writes_it(
    tmp_path: Path, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, engine.port)
    KillSwitchFile.in_data_dir(tmp_path / "data").engage("x", 1, "test")
    assert kill_main(["--config", path, "--release"]) == 0
    out = capsys.readouterr().out
    assert "kill switch released (was engaged" in out and "engine confirms" in out
    assert not KillSwitchFile.in_data_dir(tmp_path / "data").read().engaged


def test_pull_needs_a_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert kill_main(["--config", _config(tmp_path, held_port())]) == 2
    assert "--reason TEXT is required" in capsys.readouterr().err


def test_releasing_a_market_that_is_not_halted_is_not_success(
    tmp_path: Path, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, engine.port)
    assert kill_main(["--config", path, "--market", MARKET, "--release"]) == 1
    assert f"market {MARKET} is not halted: nothing released" in capsys.readouterr().err
    assert KillSwitchFile.in_data_dir(tmp_path / "data").read().released_markets == {}


def test_releasing_a_halted_market_reports_the_engine_releasing_it(
    tmp_path: Path, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, engine.port)
    engine.status["halted_markets"] = {MARKET: "consecutive_rejects"}

    def engine_applies_it() -> None:  # what the engine does on its next file read
        engine.status["halted_markets"] = {}

    threading.Timer(0.4, engine_applies_it).start()
    assert kill_main(["--config", path, "--market", MARKET, "--release"]) == 0
    out = capsys.readouterr().out
    assert "was halted: consecutive_rejects" in out
    assert f"engine confirms: market {MARKET} released" in out
    assert MARKET in KillSwitchFile.in_data_dir(tmp_path / "data").read().released_markets


def test_market_without_release_and_unknown_market_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, held_port())
    assert kill_main(["--config", path, "--market", MARKET]) == 2
    assert kill_main(["--config", path, "--market", "0xz", "--release"]) == 2
    assert "unknown market '0xz'" in capsys.readouterr().err


def test_status_and_health_find_the_system_or_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ops.commands import health_main, status_main

    monkeypatch.delenv("POLYLOLY_CONFIG", raising=False)
    assert status_main([]) == 2 and health_main([]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["polyloly status: which system? pass --config FILE (or set POLYLOLY_CONFIG)",
                   "polyloly health: which system? pass --config FILE (or set POLYLOLY_CONFIG)"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("risk: {bogus: 1}\n")
    assert status_main(["--config", str(bad)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"polyloly status: {bad}: risk.bogus: unknown key"


def test_status_exits_1_when_a_process_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: FakeEngine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ops.commands import status_main

    gateway, shards = held_port(), held_port()
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"shards": {"count": 1}, "metrics": {
        "engine_port": engine.port, "gateway_port": gateway, "shard_base_port": shards}}))
    monkeypatch.setenv("POLYLOLY_CONFIG", str(path))
    assert status_main([]) == 1
    assert "not answering: gateway, shard-0" in capsys.readouterr().err
