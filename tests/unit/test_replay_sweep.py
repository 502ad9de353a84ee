"""Parameter sweeps: grid validation, cartesian product, config checks, ranking."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyloly.config import load_config
from replay.sweep import SweepError, apply_params, combinations, load_grid, rank, run_sweep
from tests.helpers.fixtures import replay

LIVE = replay("demo_short_live")  # a recording of today's strategies, maker quotes on


def test_a_grid_file_becomes_the_cartesian_product_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("temporal_arb.min_edge_threshold: [0.03, 0.05]\n"
                    "pair_arb.safety_margin: [0.005, 0.01, 0.02]\n")
    combos = combinations(load_grid(path))
    assert len(combos) == 6
    assert combos[0] == {"temporal_arb.min_edge_threshold": 0.03, "pair_arb.safety_margin": 0.005}
    assert combos[-1] == {"temporal_arb.min_edge_threshold": 0.05, "pair_arb.safety_margin": 0.02}


@pytest.mark.parametrize(("text", "message"), [
    ("[1, 2]", "expected a mapping"),
    ("kelly: [0.1]", "expected a dotted config key"),
    ("temporal_arb.kelly_fraction: 0.1", "non-empty list"),
    ("temporal_arb.kelly_fraction: []", "non-empty list"),
])
def test_a_bad_grid_file_is_refused_naming_the_key(tmp_path: Path, text: str,
                                                   message: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(SweepError, match=message):
        load_grid(path)


def test_params_are_applied_and_validated_by_the_config_rules() -> None:
    config = load_config(None, {})
    changed = apply_params(config, {"temporal_arb.kelly_fraction": 0.1})
    assert changed.temporal_arb.kelly_fraction == 0.1
    with pytest.raises(SweepError, match="temporal_arb.nope: unknown config key"):
        apply_params(config, {"temporal_arb.nope": 1})
    with pytest.raises(SweepError, match="kelly_fraction"):
        apply_params(config, {"temporal_arb.kelly_fraction": 7})


def test_rows_rank_by_pnl_then_drawdown_then_params() -> None:
    rows = [{"params": {"a": 1}, "pnl_usdc": 1.0, "max_drawdown_usdc": 2.0},
            {"params": {"a": 2}, "pnl_usdc": 3.0, "max_drawdown_usdc": 9.0},
            {"params": {"a": 3}, "pnl_usdc": 1.0, "max_drawdown_usdc": 1.0}]
    assert [r["params"]["a"] for r in rank(rows)] == [2, 3, 1]


def test_a_sweep_replays_each_combination_and_a_wider_quote_cooldown_trades_less() -> None:
    config = load_config(LIVE / "config.yaml", {})
    rows = run_sweep(LIVE, config, {"maker.cooldown_ms": [250, 60_000]}, workers=1)
    by_cooldown = {r["params"]["maker.cooldown_ms"]: r for r in rows}
    assert by_cooldown[250]["intents"] > 0
    assert by_cooldown[60_000]["intents"] < by_cooldown[250]["intents"]
