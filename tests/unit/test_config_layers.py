"""Config errors name their layer (file:key or the environment variable), cross-field
deployment rules, and ``polyloly config show`` with each value's source (issue 19)."""

from __future__ import annotations

import secrets
from pathlib import Path

import orjson
import pytest
import yaml

from ops.config_cli import main as config_main
from ops.config_errors import check_config_file, deployment_errors, telegram_errors
from ops.startup_checks import config_check
from polyloly.config import BASE_SOURCE, DEFAULT_SOURCE, validate, value_sources

MARKET = {"market_id": "m1", "token_ids": ["1", "2"], "match_id": "x", "game": "lol"}


def _file(tmp_path: Path, data: object) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_each_error_names_its_layer(tmp_path: Path) -> None:
    path = _file(tmp_path, {"risk": {"bogus": 1}, "markets": [{**MARKET, "best_of": 9}]})
    env = {"POLYLOLY__SHARDS__COUNT": "zero", "POLYLOLY__RUN__MODE": "sideways"}
    config, errors = check_config_file(path, env)
    assert config is None
    assert set(errors) == {
        f"{path}:risk.bogus: unknown key",
        f"{path}:markets[0].best_of: expected an integer <= 7, was 9",
        "POLYLOLY__SHARDS__COUNT (shards.count): expected an integer, was 'zero'",
        "POLYLOLY__RUN__MODE (run.mode): expected one of 'paper', 'live', was 'sideways'",
    }


def test_an_env_value_overriding_a_file_value_is_blamed_on_the_variable(tmp_path: Path) -> None:
    path = _file(tmp_path, {"risk": {"max_daily_loss_usdc": 100}})
    _, errors = check_config_file(path, {"POLYLOLY__RISK__MAX_DAILY_LOSS_USDC": "-3"})
    assert errors == ["POLYLOLY__RISK__MAX_DAILY_LOSS_USDC (risk.max_daily_loss_usdc): "
                      "expected a positive number, was -3"]


def test_value_sources_track_every_layer(tmp_path: Path) -> None:
    path = _file(tmp_path, {"shards": {"count": 3}, "markets": [MARKET]})
    sources = value_sources(path, {"POLYLOLY__RISK__MAX_DAILY_LOSS_USDC": "7"})
    assert sources["shards.count"] == path
    assert sources["markets"] == path  # a list replaces base.yaml's whole
    assert sources["risk.max_daily_loss_usdc"] == "env POLYLOLY__RISK__MAX_DAILY_LOSS_USDC"
    assert sources["shm.levels"] == BASE_SOURCE
    assert "run.run_id" not in sources  # a code default


def test_telegram_enabled_needs_a_chat_id_and_its_token() -> None:
    config = validate({"alerts": {"telegram": {"enabled": True}}})
    chat, token = telegram_errors(config, {})
    assert chat.startswith("alerts.telegram.chat_id: required")
    assert token.startswith("TELEGRAM_BOT_TOKEN: the bot token is not set")
    ready = validate({"alerts": {"telegram": {"enabled": True, "chat_id": "42"}}})
    assert telegram_errors(ready, {"TELEGRAM_BOT_TOKEN": "123:abc"}) == []
    assert telegram_errors(validate({}), {}) == []  # disabled: nothing needed


def test_deployment_rules_live_markets_and_live_trading() -> None:
    live = validate({"run": {"mode": "live"}, "execution": {"executor": "real"}})
    errors = deployment_errors(live, {})
    assert any("LIVE_TRADING=1" in e for e in errors)
    assert "markets: live trading needs at least one market, none configured" in errors
    key = "0x" + secrets.token_hex(32)
    real = validate({"markets": [MARKET], "execution": {"executor": "real"}})
    assert deployment_errors(real, {"LIVE_TRADING": "1", "POLYMARKET_PRIVATE_KEY": key}) == []


def test_config_check_fails_the_packaged_prod_template_with_every_gap(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert config_main(["check", "prod"], environ={}) == 2
    err = capsys.readouterr().err
    assert "prod: 4 error(s)" in err
    assert "markets: live trading needs at least one market" in err
    assert "alerts.telegram.chat_id: required" in err and "TELEGRAM_BOT_TOKEN" in err
    assert "LIVE_TRADING=1" in err


def test_doctor_config_check_fails_telegram_without_chat_id() -> None:
    config = validate({"alerts": {"telegram": {"enabled": True}}})
    result = config_check(config, {"TELEGRAM_BOT_TOKEN": "123:abc"})
    assert not result.ok and "alerts.telegram.chat_id" in result.detail


def test_config_show_prints_each_value_with_its_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, {"shards": {"count": 3},
                            "polymarket": {"funder": "0xabc"}})
    env = {"POLYLOLY__RISK__MAX_DAILY_LOSS_USDC": "7"}
    assert config_main(["show", path, "--json"], environ=env) == 0
    rows = {row["key"]: row for row in orjson.loads(capsys.readouterr().out)}
    assert rows["shards.count"] == {"key": "shards.count", "value": 3, "source": path}
    assert rows["risk.max_daily_loss_usdc"]["source"] == \
        "env POLYLOLY__RISK__MAX_DAILY_LOSS_USDC"
    assert rows["risk.max_daily_loss_usdc"]["value"] == 7
    assert rows["shm.levels"]["source"] == BASE_SOURCE
    assert rows["run.run_id"]["source"] == DEFAULT_SOURCE
    assert rows["alerts.telegram.token_env"]["value"] == "TELEGRAM_BOT_TOKEN"  # a name, shown
    assert config_main(["show", path], environ=env) == 0
    table = capsys.readouterr().out
    line = next(x for x in table.splitlines() if x.startswith("shards.count"))
    assert line.split() == ["shards.count", "3", path]


def test_config_show_of_a_bad_file_lists_the_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, {"risk": {"bogus": 1}})
    assert config_main(["show", path], environ={}) == 2
    assert f"{path}:risk.bogus: unknown key" in capsys.readouterr().err
