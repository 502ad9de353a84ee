"""polyloly calibrate: the fits, the held-out scores, and docs/MODELS.md kept up to date."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ops.calibrate import (
    DATA_DIR,
    MODELS_MD,
    calibrate_game,
    fit_gold,
    fold_of,
    main,
    reliability,
    scenario_agreement,
    scores,
)
from polyloly.domain import Game
from shards.win_probability import GOLD_MODELS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def at_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(ROOT)
    return ROOT


def test_calibrate_regenerates_the_shipped_numbers_and_models_md_matches(at_root: Path) -> None:
    # Re-fits on the shipped datasets and re-runs the scenarios: --check fails if the fitted
    # table in shards/win_probability.py or the generated part of docs/MODELS.md differs.
    assert main(["--check"]) == 0


def test_calibrate_check_fails_on_a_stale_document(at_root: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "MODELS.md"
    shutil.copy(MODELS_MD, doc)
    doc.write_text(doc.read_text().replace("| lol | 495 |", "| lol | 494 |"))
    assert main(["--check", "--doc", str(doc)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main(["--doc", str(doc)]) == 0  # writes it back
    assert doc.read_text() == MODELS_MD.read_text()


def test_calibrate_bad_input_is_one_line(at_root: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0] and "--data" in err[0]
    bad = tmp_path / "data"
    shutil.copytree(ROOT / DATA_DIR, bad)
    (bad / "lol_gold_timeseries.jsonl").write_text('{"match_id": 1}\n')
    assert main(["--data", str(bad), "--check"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lol_gold_timeseries.jsonl:1" in err[0]
    assert main(["--folds", "1"]) == 2


def test_calibrate_fit_recovers_known_coefficients() -> None:
    rng = np.random.default_rng(7)
    minutes = rng.uniform(3, 40, 40_000)
    gold = rng.normal(0, 5000, 40_000)
    z = 0.3 + 0.5 * (gold / 1000) / (minutes / 10) ** 0.6
    won = (rng.uniform(size=40_000) < 1 / (1 + np.exp(-z))).astype(np.float64)
    fit = fit_gold(minutes, gold, won)
    assert fit.exponent == pytest.approx(0.6, abs=0.1)
    assert fit.intercept == pytest.approx(0.3, abs=0.06)
    assert fit.coefficient == pytest.approx(0.5, abs=0.06)


def test_calibrate_held_out_scores_beat_a_constant_and_the_table_is_the_full_fit(
        at_root: Path) -> None:
    for game, name in (("lol", "lol_gold_timeseries.jsonl"),
                       ("dota2", "dota2_gold_timeseries.jsonl")):
        report = calibrate_game(Game(game), DATA_DIR / name)
        assert report.fitted.brier < report.constant.brier - 0.05
        assert report.fitted.log_loss < report.constant.log_loss
        table = GOLD_MODELS[Game(game)]
        assert table.coefficient == pytest.approx(report.fit.coefficient, abs=1e-4)
        assert table.intercept == pytest.approx(report.fit.intercept, abs=1e-4)
        assert table.time_exponent == report.fit.exponent
        assert sum(n for _, n, _, _ in report.reliability) == report.samples


def test_calibrate_folds_keep_a_match_together_and_scores_are_right() -> None:
    assert {fold_of("NA1_1", 5) for _ in range(3)} == {fold_of("NA1_1", 5)}
    s = scores(np.array([1.0, 0.0, 0.5]), np.array([1.0, 0.0, 1.0]))
    assert s.brier == pytest.approx(0.25 / 3)
    rows = reliability(np.array([0.05, 0.07, 0.95]), np.array([0.0, 1.0, 1.0]))
    assert rows[0][1] == 2 and rows[0][3] == pytest.approx(0.5)
    assert rows[-1][0] == "0.9–1.0"


def test_calibrate_implied_probability_within_3pp_of_the_simulator_on_80_percent() -> None:
    rows = [row for name in ("lol_bo3_comeback", "cs2_bo3_outage_disagreement")
            for row in scenario_agreement(name)]
    compared = sum(r.compared for r in rows)
    assert compared > 90
    assert sum(r.within for r in rows) >= 0.8 * compared
    # without the market prior the same models miss most events: the prior is what helps
    assert sum(r.within_no_prior for r in rows) < 0.5 * compared
