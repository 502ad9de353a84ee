"""``polyloly calibrate``: fit the win-probability models and write their report (docs/MODELS.md).

A development tool: it reads the backtest datasets shipped in the checkout
(``tests/fixtures/esports/backtest_datasets/``, provenance in tests/fixtures/SOURCES.md), not
package data, and writes two things:

* the fitted gold-lead table of ``shards/win_probability.py`` (the block between its ``BEGIN``/
  ``END fitted gold models`` lines) — the one place the coefficients live;
* the generated part of ``docs/MODELS.md``: per game, k-fold by-match held-out Brier and
  log-loss of the fitted model, of the model without its side intercept and of a constant, a
  reliability table, the CS2 half-time check, and the agreement of the shards' market-anchored
  implied probability with the simulator's fair value at every event of the shipped scenarios.

``--check`` changes nothing and exits 1 if either would change (a test runs it).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson
from numpy.typing import NDArray

from polyloly.config import TemporalArbConfig
from polyloly.domain import Game, TruthStatus
from shards import win_probability
from shards.fair_value import MarketPrior, anchored_implied_yes
from shards.truth import GameScore
from shards.win_probability import MIN_MODEL_MINUTES, cs2_map_probability

DATA_DIR: Final = Path("tests/fixtures/esports/backtest_datasets")
MODELS_MD: Final = Path("docs/MODELS.md")
GOLD_FILES: Final = {Game.LOL: "lol_gold_timeseries.jsonl",
                     Game.DOTA2: "dota2_gold_timeseries.jsonl"}
CS2_FILE: Final = "raw_matches.jsonl"
FOLDS: Final = 5
EXPONENTS: Final = tuple(round(0.30 + 0.05 * i, 2) for i in range(19))  # 0.30 … 1.20
BINS: Final = 10
SCENARIOS: Final = ("lol_bo3_comeback", "dota2_bo1_stomp", "cs2_bo3_outage_disagreement",
                    "demo_short")
AGREEMENT_PP: Final = 0.03
BEGIN_DOC: Final = "<!-- BEGIN polyloly calibrate -->"
END_DOC: Final = "<!-- END polyloly calibrate -->"
BEGIN_TABLE: Final = "# BEGIN fitted gold models"
END_TABLE: Final = "# END fitted gold models"
_NEWTON_STEPS: Final = 30
_EPS: Final = 1e-12

FloatArray = NDArray[np.float64]


class CalibrateError(Exception):
    """Bad input: one line naming what was wrong and the fix."""


@dataclass(frozen=True, slots=True)
class GoldMatch:
    """One map of the gold datasets: team A = blue (LoL) / radiant (Dota 2)."""

    match_id: str
    a_won: bool
    gold_by_minute: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class GoldFit:
    """``logit P = intercept + coefficient · (G/1000) / (t_min/10)^exponent``."""

    intercept: float
    coefficient: float
    exponent: float

    def predict(self, minutes: FloatArray, gold: FloatArray, intercept: bool = True
                ) -> FloatArray:
        """P(team A wins) per sample; ``intercept=False`` drops the side intercept."""
        x = (gold / 1000.0) / (minutes / 10.0) ** self.exponent
        z = (self.intercept if intercept else 0.0) + self.coefficient * x
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Scores:
    """Held-out Brier and log-loss of one predictor."""

    brier: float
    log_loss: float


@dataclass(frozen=True, slots=True)
class GameReport:
    """Everything the report says about one gold game."""

    game: Game
    matches: int
    samples: int
    fit: GoldFit  # on all the data (the table)
    fitted: Scores  # held out by match
    no_intercept: Scores
    constant: Scores
    reliability: list[tuple[str, int, float, float]]  # bin, n, mean predicted, observed
    dataset_sha256: str


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def load_gold(path: Path, game: Game) -> list[GoldMatch]:
    """Read one gold dataset; CalibrateError naming the file and line on bad content."""
    if not path.is_file():
        raise CalibrateError(f"dataset {path} not found: run from the repository root or pass "
                             f"--data DIR (the folder holding {path.name})")
    out: list[GoldMatch] = []
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
            if game is Game.LOL:
                out.append(GoldMatch(str(row["match_id"]), bool(row["blue_win"]),
                                     tuple(float(g) for g in row["gold_diff"])))
            else:
                out.append(GoldMatch(str(row["match_id"]), bool(row["radiant_win"]),
                                     tuple(float(g) for g in row["gold_adv"])))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise CalibrateError(f"{path}:{number}: not a {game.value} gold row ({exc}); "
                                 "restore the file from tests/fixtures/SOURCES.md") from None
    return out


def samples(matches: Sequence[GoldMatch]) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(minute, gold lead, A won) for every minute ≥ MIN_MODEL_MINUTES of every map."""
    minutes: list[float] = []
    gold: list[float] = []
    won: list[float] = []
    for match in matches:
        for minute, lead in enumerate(match.gold_by_minute):
            if minute < MIN_MODEL_MINUTES:
                continue
            minutes.append(float(minute))
            gold.append(lead)
            won.append(1.0 if match.a_won else 0.0)
    return (np.array(minutes, dtype=np.float64), np.array(gold, dtype=np.float64),
            np.array(won, dtype=np.float64))


def _logistic_fit(x: FloatArray, y: FloatArray) -> tuple[float, float, float]:
    # Newton–Raphson on (intercept, slope); returns them and the mean log-loss.
    design = np.column_stack([np.ones_like(x), x])
    w = np.zeros(2)
    for _ in range(_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(design @ w)))
        hessian = design.T @ (design * (p * (1.0 - p))[:, None])
        step = np.linalg.solve(hessian + 1e-9 * np.eye(2), design.T @ (y - p))
        w = w + step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    p = np.clip(1.0 / (1.0 + np.exp(-(design @ w))), _EPS, 1.0 - _EPS)
    loss = float(-np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)))
    return float(w[0]), float(w[1]), loss


def fit_gold(minutes: FloatArray, gold: FloatArray, won: FloatArray) -> GoldFit:
    """Best (intercept, coefficient) per exponent of the grid; the exponent by log-loss."""
    best: tuple[float, GoldFit] | None = None
    for exponent in EXPONENTS:
        x = (gold / 1000.0) / (minutes / 10.0) ** exponent
        intercept, coefficient, loss = _logistic_fit(x, won)
        if best is None or loss < best[0] - 1e-12:
            best = (loss, GoldFit(intercept, coefficient, exponent))
    assert best is not None
    return best[1]


def fold_of(match_id: str, folds: int) -> int:
    """The match's fold: a hash of its id, so a match never spans two folds."""
    return int(hashlib.sha256(match_id.encode()).hexdigest()[:8], 16) % folds


def scores(predicted: FloatArray, won: FloatArray) -> Scores:
    """Brier and log-loss."""
    p = np.clip(predicted, _EPS, 1.0 - _EPS)
    brier = float(np.mean((predicted - won) ** 2))
    loss = float(-np.mean(won * np.log(p) + (1.0 - won) * np.log(1.0 - p)))
    return Scores(brier, loss)


def reliability(predicted: FloatArray, won: FloatArray, bins: int = BINS
                ) -> list[tuple[str, int, float, float]]:
    """Per probability bin: count, mean prediction, observed frequency (empty bins left out)."""
    rows: list[tuple[str, int, float, float]] = []
    index = np.minimum((predicted * bins).astype(int), bins - 1)
    for b in range(bins):
        mask = index == b
        n = int(mask.sum())
        if n:
            rows.append((f"{b / bins:.1f}–{(b + 1) / bins:.1f}", n,
                         float(predicted[mask].mean()), float(won[mask].mean())))
    return rows


def calibrate_game(game: Game, path: Path, folds: int = FOLDS) -> GameReport:
    """Fit on all the data and score k-fold held out by match."""
    matches = load_gold(path, game)
    if len(matches) < folds:
        raise CalibrateError(f"{path}: {len(matches)} maps, fewer than --folds {folds}")
    per_fold = [[m for m in matches if fold_of(m.match_id, folds) == k] for k in range(folds)]
    held: list[FloatArray] = []
    held_raw: list[FloatArray] = []
    held_const: list[FloatArray] = []
    truth: list[FloatArray] = []
    for k in range(folds):
        train = [m for j, part in enumerate(per_fold) if j != k for m in part]
        test_minutes, test_gold, test_won = samples(per_fold[k])
        if not len(test_won):
            continue
        fit = fit_gold(*samples(train))
        base_rate = float(samples(train)[2].mean())
        held.append(fit.predict(test_minutes, test_gold))
        held_raw.append(fit.predict(test_minutes, test_gold, intercept=False))
        held_const.append(np.full_like(test_won, base_rate))
        truth.append(test_won)
    won = np.concatenate(truth)
    predicted = np.concatenate(held)
    all_minutes, all_gold, all_won = samples(matches)
    return GameReport(
        game=game, matches=len(matches), samples=len(all_won),
        fit=fit_gold(all_minutes, all_gold, all_won), fitted=scores(predicted, won),
        no_intercept=scores(np.concatenate(held_raw), won),
        constant=scores(np.concatenate(held_const), won),
        reliability=reliability(predicted, won), dataset_sha256=_sha(path))


def cs2_halftime(path: Path) -> list[tuple[str, str, str, float, bool]]:
    """Each CS2 map of the dataset: (match, map, half-time score, model P(team 1), team 1 won).

    The round Markov chain (economy-free, p = 0.5) from the half-time score; four maps are a
    check that the parser and the model agree on direction, not a calibration.
    """
    if not path.is_file():
        raise CalibrateError(f"dataset {path} not found: pass --data DIR")
    rows: list[tuple[str, str, str, float, bool]] = []
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            match = orjson.loads(line)
            for game in match["maps"]:
                half = re.match(r"\((\d+):(\d+);", str(game["halves"]))
                if half is None:
                    raise ValueError(f"halves {game['halves']!r}")
                a, b = int(half.group(1)), int(half.group(2))
                rows.append((f"{match['t1']} vs {match['t2']}", str(game["map"]), f"{a}-{b}",
                             cs2_map_probability(a, b, 0.5), int(game["s1"]) > int(game["s2"])))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise CalibrateError(f"{path}:{number}: not an HLTV series row ({exc})") from None
    return rows


# ---- agreement with the simulator's fair value --------------------------------------------


@dataclass(frozen=True, slots=True)
class Agreement:
    """One scenario × match: how often the implied probability is within 3 pp of the sim's."""

    scenario: str
    match_id: str
    game: str
    events: int
    compared: int  # events with an implied probability (PAUSED has none)
    within: int
    within_no_prior: int  # the same model without the market prior (0.5 per map)
    max_error: float

    @property
    def share(self) -> float:
        """Share of compared events within 3 pp."""
        return self.within / self.compared if self.compared else 0.0


def _state_score(state: Any, game: Game, clock_scale: float, t_s: float
                 ) -> tuple[TruthStatus, GameScore, str | None]:
    from sim.feeds.truth import FINISHED, LIVE, NOT_STARTED

    if state.phase == FINISHED:
        return TruthStatus.FINAL, GameScore(state.wins_a, state.wins_b), state.series_winner
    if state.phase == NOT_STARTED:
        return TruthStatus.PRE_MATCH, GameScore(), None
    if state.paused:
        return TruthStatus.PAUSED, GameScore(state.wins_a, state.wins_b), None
    score = GameScore(maps_a=state.wins_a, maps_b=state.wins_b, game_number=state.map_number)
    if state.phase == LIVE:
        if game in (Game.LOL, Game.DOTA2):
            score = GameScore(state.wins_a, state.wins_b, state.map_number,
                              gold_diff_a=float(state.gold_diff),
                              game_time_s=state.game_seconds(t_s, clock_scale))
        else:
            score = GameScore(state.wins_a, state.wins_b, state.map_number,
                              rounds_a=state.rounds_a, rounds_b=state.rounds_b)
    return TruthStatus.LIVE, score, None


def _token_mid(plan: Any, token_id: str) -> float | None:
    mine = [q for q in plan.quotes if q.token_id == token_id]
    bids = [float(q.price) for q in mine if q.side.upper() == "BUY"]
    asks = [float(q.price) for q in mine if q.side.upper() == "SELL"]
    if not bids or not asks:
        return None
    return (max(bids) + min(asks)) / 2.0


def scenario_agreement(name: str, params: TemporalArbConfig | None = None) -> list[Agreement]:
    """Replay a shipped scenario's world (sim.world.WorldCore, deterministic) and compare, at
    every match event, the shards' implied probability with the simulator's fair value.

    The shard side sees the market maker's YES mid at each quote plan and each event at its
    world time plus the fastest enabled provider's delay, with the state the event produced
    (all sources agreeing: the source merge and confirmation rules have their own tests).
    """
    from sim.scenario import load_scenario
    from sim.world import QuotePlan, WorldCore, fair_value

    params = params or TemporalArbConfig()
    scenario = load_scenario(name)
    world = WorldCore(scenario, seed=scenario.seed, speed=1.0, epoch_ms=0)
    actions = world.run_all()
    delays = [p.delay_s for p in scenario.providers.values() if p.enabled]
    known_after = min(delays) if delays else 0.0
    out: list[Agreement] = []
    for match in scenario.matches:
        market = next(m for m in scenario.markets if m.match_id == match.match_id)
        game = Game(match.game)
        timeline = world.context.truth[match.match_id]
        items: list[tuple[float, int, Any]] = []
        for action in actions:
            if isinstance(action, QuotePlan) and action.condition_id == market.condition_id:
                items.append((action.t_s, 0, action))
        for index, event in enumerate(timeline.events):
            items.append((match.start_s + event.t_s + known_after, 1, index))
        items.sort(key=lambda item: (item[0], item[1]))
        prior = MarketPrior(game, match.best_of, params.prior_stable_s)
        status, score, winner = TruthStatus.PRE_MATCH, GameScore(), None
        compared = within = within_raw = 0
        worst = 0.0
        for t_s, kind, item in items:
            now_ns = int(t_s * 1e9)
            if kind == 0:
                mid = _token_mid(item, market.token_ids[0])
                if mid is None or status not in (TruthStatus.PRE_MATCH, TruthStatus.LIVE):
                    prior.reset_window(now_ns)
                else:
                    prior.on_mid(now_ns, mid, score)
                continue
            event = timeline.events[item]
            state = timeline.state_after(item)
            prior.on_fact(int((match.start_s + event.t_s) * 1e9))
            status, score, winner = _state_score(state, game, match.game_clock_scale,
                                                 event.t_s)
            sim_fair = fair_value(match, state, event.t_s)
            ours = anchored_implied_yes(status, 1.0, winner, score, game, match.best_of,
                                        params, prior.strength)
            raw = anchored_implied_yes(status, 1.0, winner, score, game, match.best_of,
                                       params, None)
            if ours is None or raw is None:
                continue
            compared += 1
            error = abs(ours - sim_fair)
            worst = max(worst, error)
            within += error <= AGREEMENT_PP + 1e-12
            within_raw += abs(raw - sim_fair) <= AGREEMENT_PP + 1e-12
        out.append(Agreement(name, match.match_id, game.value, len(timeline.events), compared,
                             within, within_raw, worst))
    return out


# ---- rendering ----------------------------------------------------------------------------


def render_table_block(reports: Sequence[GameReport]) -> str:
    """The GOLD_MODELS block of shards/win_probability.py."""
    lines = [BEGIN_TABLE + ": written by `polyloly calibrate` (ops/calibrate.py), do not edit",
             "GOLD_MODELS: Final[Mapping[Game, GoldModel]] = {"]
    for r in reports:
        lines.append(f"    Game.{r.game.name}: GoldModel(")
        lines.append(f"        {r.fit.intercept:.4f}, {r.fit.coefficient:.4f}, "
                     f'{r.fit.exponent:.2f}, "{GOLD_FILES[r.game]}",')
        lines.append(f'        "{r.dataset_sha256}", {r.matches}, {r.samples}),')
    lines += ["}", END_TABLE]
    return "\n".join(lines)


def _f(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


def render_doc_block(reports: Sequence[GameReport], cs2: Sequence[tuple[str, str, str, float,
                     bool]], agreement: Sequence[Agreement], folds: int) -> str:
    """The generated part of docs/MODELS.md."""
    out = [BEGIN_DOC, "",
           f"Generated by `polyloly calibrate` from `{DATA_DIR}/` "
           f"(upstream commit `{win_probability.DATASET_COMMIT[:12]}`); do not edit by hand.", "",
           "### Gold-lead models (LoL, Dota 2)", "",
           f"Held out by match, {folds}-fold (a map's minutes stay in one fold); every minute "
           f"≥ {MIN_MODEL_MINUTES:.0f} of every map is one sample.", "",
           "| game | maps | samples | intercept | coefficient | exponent | Brier | log-loss "
           "| Brier, no intercept | Brier, constant | log-loss, constant | dataset sha256 |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in reports:
        out.append(f"| {r.game.value} | {r.matches} | {r.samples} | {_f(r.fit.intercept, 4)} | "
                   f"{_f(r.fit.coefficient, 4)} | {_f(r.fit.exponent, 2)} | "
                   f"{_f(r.fitted.brier)} | {_f(r.fitted.log_loss)} | "
                   f"{_f(r.no_intercept.brier)} | {_f(r.constant.brier)} | "
                   f"{_f(r.constant.log_loss)} | `{r.dataset_sha256}` |")
    for r in reports:
        out += ["", f"Reliability, {r.game.value} (held out):", "",
                "| predicted | samples | mean predicted | observed |", "|---|---:|---:|---:|"]
        out += [f"| {b} | {n} | {_f(mean)} | {_f(obs)} |" for b, n, mean, obs in r.reliability]
    out += ["", "### CS2 round model: half-time check (not a calibration)", "",
            "| series | map | half-time | P(team 1) | team 1 won |", "|---|---|---|---:|---|"]
    out += [f"| {s} | {m} | {h} | {_f(p)} | {'yes' if w else 'no'} |" for s, m, h, p, w in cs2]
    out += ["", "### Agreement with the simulator's fair value", "",
            "Events within 3 pp of `sim.world.fair_value` (the simulator's models at its own "
            "prior), with the market prior and without it (0.5 per map):", "",
            "| scenario | match | game | events | compared | within 3 pp | share "
            "| without prior | max error |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for a in agreement:
        out.append(f"| {a.scenario} | {a.match_id} | {a.game} | {a.events} | {a.compared} | "
                   f"{a.within} | {a.share:.0%} | {a.within_no_prior} | {_f(a.max_error)} |")
    total = sum(a.compared for a in agreement)
    hits = sum(a.within for a in agreement)
    raw_hits = sum(a.within_no_prior for a in agreement)
    share = hits / total if total else 0.0
    raw_share = raw_hits / total if total else 0.0
    out += ["", f"All events: {hits} of {total} within 3 pp ({share:.0%}); without the "
            f"market prior {raw_hits} ({raw_share:.0%}).", "", END_DOC]
    return "\n".join(out)


def replace_block(text: str, begin: str, end: str, block: str, where: str) -> str:
    """``text`` with the lines from ``begin`` to ``end`` (inclusive) replaced by ``block``."""
    start = text.find(begin)
    stop = text.find(end, start + 1 if start >= 0 else 0)
    if start < 0 or stop < 0:
        raise CalibrateError(f"{where}: no '{begin}' … '{end}' block; restore it from git")
    return text[:start] + block + text[stop + len(end):]


@dataclass(frozen=True, slots=True)
class Outputs:
    """The two files' new contents."""

    table_path: Path
    table_text: str
    doc_path: Path
    doc_text: str


def build(data_dir: Path, doc_path: Path, folds: int) -> Outputs:
    """Fit, score and render both files (writes nothing)."""
    reports = [calibrate_game(game, data_dir / name, folds) for game, name in GOLD_FILES.items()]
    cs2 = cs2_halftime(data_dir / CS2_FILE)
    agreement = [row for name in SCENARIOS for row in scenario_agreement(name)]
    table_path = Path(win_probability.__file__)
    if not doc_path.is_file():
        raise CalibrateError(f"{doc_path} not found: run from the repository root or pass --doc")
    table = replace_block(table_path.read_text(encoding="utf-8"), BEGIN_TABLE, END_TABLE,
                          render_table_block(reports), str(table_path))
    doc = replace_block(doc_path.read_text(encoding="utf-8"), BEGIN_DOC, END_DOC,
                        render_doc_block(reports, cs2, agreement, folds), str(doc_path))
    return Outputs(table_path, table, doc_path, doc)


def main(argv: list[str] | None = None) -> int:
    """Entry of ``polyloly calibrate``."""
    parser = argparse.ArgumentParser(
        prog="polyloly calibrate",
        description="fit the win-probability models on the shipped backtest datasets and "
                    "write the fitted table (shards/win_probability.py) and docs/MODELS.md")
    parser.add_argument("--data", type=Path, default=DATA_DIR,
                        help=f"folder of the backtest datasets (default {DATA_DIR})")
    parser.add_argument("--doc", type=Path, default=MODELS_MD,
                        help=f"the models document to update (default {MODELS_MD})")
    parser.add_argument("--folds", type=int, default=FOLDS, help="k of the k-fold by match")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the table or the document is out of date")
    args = parser.parse_args(argv)
    if args.folds < 2:
        print(f"polyloly calibrate: --folds must be >= 2, was {args.folds}", file=sys.stderr)
        return 2
    try:
        outputs = build(args.data, args.doc, args.folds)
    except CalibrateError as exc:
        print(f"polyloly calibrate: {exc}", file=sys.stderr)
        return 2
    stale = [path for path, text in ((outputs.table_path, outputs.table_text),
                                     (outputs.doc_path, outputs.doc_text))
             if path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path}: out of date; run `polyloly calibrate`", file=sys.stderr)
        return 1 if stale else 0
    outputs.table_path.write_text(outputs.table_text, encoding="utf-8")
    outputs.doc_path.write_text(outputs.doc_text, encoding="utf-8")
    for path in stale:
        print(f"updated {path}")
    if not stale:
        print("up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
