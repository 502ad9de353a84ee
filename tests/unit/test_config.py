"""Config loading: overlays, environment, and one clear error per kind of bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.config_cli import main as config_main
from polyloly.config import ConfigError, load_config, masked, validate

MARKET = {
    "market_id": "0x" + "1" * 64,
    "token_ids": ["111", "222"],
    "match_id": "m1",
    "game": "lol",
}


def _errors(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate(data)
    return info.value.errors


def test_base_and_each_overlay_load() -> None:
    root = Path(__file__).resolve().parents[2] / "polyloly" / "defaults"
    for name in ("base.yaml", "dev.yaml", "prod.yaml"):
        load_config(root / name, environ={})


def test_packaged_overlay_by_name_and_local_file_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # From a directory without the files, `prod`/`prod.yaml` name the packaged overlays.
    monkeypatch.chdir(tmp_path)
    assert load_config("prod", environ={}).run.mode == "live"
    assert load_config("prod.yaml", environ={}).run.run_dir == "/run/polyloly"
    assert load_config("dev", environ={}).logging.level == "DEBUG"
    assert load_config("base.yaml", environ={}).run.mode == "paper"
    # A file of that name in the working directory is the user's and wins.
    (tmp_path / "prod.yaml").write_text("run: {run_dir: /tmp/mine}\n")
    assert load_config("prod.yaml", environ={}).run.run_dir == "/tmp/mine"


def test_unknown_overlay_name_lists_the_packaged_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config("staging.yaml", environ={})
    assert info.value.errors == [
        "staging.yaml: cannot read: No such file or directory "
        "(packaged overlays: dev.yaml, prod.yaml)"
    ]


def test_missing_packaged_file_names_it_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import polyloly.config as config_module

    monkeypatch.setattr(config_module, "BASE_FILE", "gone.yaml")
    with pytest.raises(ConfigError) as info:
        load_config(None, environ={})
    (line,) = info.value.errors
    assert line.startswith("packaged config polyloly/defaults/gone.yaml: cannot read (")
    assert line.endswith("reinstall polyloly (make install, or pip install --force-reinstall "
                         "polyloly)")


def test_environment_overrides_a_nested_key() -> None:
    config = load_config(None, environ={"POLYLOLY__RISK__CIRCUIT__MAX_CONSECUTIVE_REJECTS": "7"})
    assert config.risk.circuit.max_consecutive_rejects == 7


def test_wrong_type_names_path_value_and_expectation() -> None:
    assert _errors({"risk": {"max_daily_loss_usdc": "lots"}}) == [
        "risk.max_daily_loss_usdc: expected a number, was 'lots'"
    ]


def test_out_of_range_value_is_refused() -> None:
    assert _errors({"risk": {"max_daily_loss_usdc": -3}}) == [
        "risk.max_daily_loss_usdc: expected a positive number, was -3"
    ]
    assert _errors({"polymarket": {"assets_per_connection": 900}}) == [
        "polymarket.assets_per_connection: expected an integer <= 500, was 900"
    ]


def test_unknown_key_is_refused() -> None:
    assert _errors({"risk": {"max_daily_los_usdc": 1}}) == ["risk.max_daily_los_usdc: unknown key"]


def test_bad_enum_lists_choices() -> None:
    errors = _errors({"markets": [{**MARKET, "game": "chess"}]})
    assert errors == ["markets[0].game: expected one of 'lol', 'dota2', 'cs2', 'valorant', "
                      "was 'chess'"]


def test_missing_required_key_is_named() -> None:
    bad = {k: v for k, v in MARKET.items() if k != "match_id"}
    assert _errors({"markets": [bad]}) == ["markets[0].match_id: required key missing"]


def test_semantic_errors_are_all_reported() -> None:
    errors = _errors(
        {"markets": [MARKET, {**MARKET, "token_ids": ["222", "x"], "shard": 9}]}
    )
    assert "markets[1].market_id: duplicate market '0x" + "1" * 64 + "'" in errors
    assert "markets[1].token_ids: token '222' appears in two markets" in errors
    assert "markets[1].token_ids: expected decimal token ids, was 'x'" in errors
    assert "markets[1].shard: expected 0..1, was 9" in errors


def test_enabled_provider_needs_url() -> None:
    assert _errors({"providers": {"grid": {"enabled": True}}}) == [
        "providers.grid.url: required when the provider is enabled"
    ]


def test_env_override_with_bad_value_fails_with_path() -> None:
    with pytest.raises(ConfigError, match=r"shm\.levels"):
        load_config(None, environ={"POLYLOLY__SHM__LEVELS": "many"})


def test_masked_hides_secret_values() -> None:
    config = validate({"alerts": {"telegram": {"chat_id": "42"}}})
    assert masked(config)["alerts"]["telegram"]["token_env"] == "TELEGRAM_BOT_TOKEN"


def test_config_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("shards: {count: 3}\n")
    assert config_main(["check", str(good)]) == 0
    assert '"count": 3' in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("shards: {count: zero}\n")
    assert config_main(["check", str(bad)]) == 2
    assert "shards.count: expected an integer" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text("shards: [\n")
    assert config_main(["check", str(broken)]) == 2
    assert "not valid YAML" in capsys.readouterr().err
