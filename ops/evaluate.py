"""``polyloly evaluate``: does a strategy earn? Scenarios × seeds, scored against the truth.

``polyloly evaluate [--scenario NAME|PATH]… [--seeds N] [--out DIR] [--speed X]
[--params FILE] [--workers N] [--timeout S] [--keep-recordings]``

For every scenario (default: every shipped one) and seed 1..N (default 5), one job:

1. record the simulator once (:func:`replay.simrun.record_simulator`: the demo's simulator
   and config, ``polyloly record``) for the scenario's duration at ``--speed``;
2. replay the recording headless through the cores (:class:`replay.session.ReplaySession`)
   once per parameter combination of ``--params`` (the ``polyloly replay --params`` grid
   format; none: the config as recorded) — the sweep costs replays, not recordings;
3. score every strategy against the ground truth its simulator wrote on stopping
   (``polyloly sim --ground-truth``, specs/12; :mod:`ops.evaluation_truth`,
   :mod:`ops.evaluation_metrics`).

Each job is its own process (``--workers`` at a time) with its log in
``DIR/runs/<scenario>/seed-<n>/job.log``; one that crashes or outlives ``--timeout`` is
reported as failed with that path, and every figure over seeds of its scenario is withheld
(:func:`ops.evaluation_stats.summarize`). Writes ``DIR/evaluation.json`` and
``DIR/evaluation.html``. Exit status: 0 every job ran, 1 some job failed, 2 refused input.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ops.evaluation_stats import INTERVAL_METHOD, summarize

EXIT_FAILED = 1
EXIT_REFUSED = 2
RESULT_FILE = "result.json"
GROUND_TRUTH_FILE = "ground_truth.json"
DEFAULT_SPEED = 4.0
DEFAULT_SEEDS = 5
MAX_WORKERS = 4
RECORD_MARGIN_S = 2.0  # recorded beyond the scenario's end (real seconds)
# Figures summarized over seeds, per scenario × variant × strategy (dotted paths in a row).
SUMMARY_FIGURES = ("net_pnl_usdc", "ev_usdc", "ev_per_share", "capture_pct", "fills",
                   "volume_usdc", "adverse_selection.1s.total_usdc",
                   "adverse_selection.10s.total_usdc", "unhedged_at_resolution_usdc",
                   "truth_audit.stale_truth", "truth_audit.false_truth",
                   "truth_audit.against_truth")


class EvaluateError(ValueError):
    """Input the evaluation refuses; the message names it and the fix."""


@dataclass(frozen=True, slots=True)
class Job:
    """One scenario × seed."""

    scenario: str  # name or path, as given
    name: str  # the scenario's own name
    seed: int
    directory: Path

    @property
    def log_path(self) -> Path:
        return self.directory / "job.log"


# ---- input ----------------------------------------------------------------------------------

def resolve_scenarios(requested: Sequence[str]) -> list[tuple[str, str]]:
    """``(as given, scenario name)`` for each requested scenario (default: every shipped one);
    an unknown name or an invalid file raises :class:`EvaluateError` in one line."""
    from sim.scenario import ScenarioError, list_scenarios, load_scenario

    known = list_scenarios()
    out: list[tuple[str, str]] = []
    for item in requested or known:
        is_path = item.endswith((".yaml", ".yml")) or os.sep in item
        if not is_path and item not in known:
            raise EvaluateError(f"--scenario {item!r}: unknown scenario; known: "
                                f"{', '.join(known)} (or a path to a scenario YAML)")
        try:
            scenario = load_scenario(item)
        except (ScenarioError, OSError) as exc:
            raise EvaluateError(f"--scenario {item!r}: {exc}") from None
        out.append((str(Path(item).resolve()) if is_path else item, scenario.name))
    return out


def load_variants(params_path: str | None) -> list[dict[str, Any]]:
    """The parameter combinations to replay (``[{}]``: the recorded config only)."""
    if params_path is None:
        return [{}]
    from replay.sweep import SweepError, combinations, load_grid

    try:
        return combinations(load_grid(params_path))
    except SweepError as exc:
        raise EvaluateError(f"--params: {exc}") from None


def variant_name(params: dict[str, Any]) -> str:
    """A short stable label: ``recorded`` or ``key=value,…``."""
    return ",".join(f"{k}={v}" for k, v in params.items()) or "recorded"


# ---- one job (its own process) --------------------------------------------------------------

def run_job(scenario: str, seed: int, speed: float, directory: Path,
            variants: list[dict[str, Any]], keep_recording: bool) -> dict[str, Any]:
    """Record, replay every variant, score; return the job's result (also written to
    ``directory/result.json``)."""
    from ops.evaluation_metrics import score_run
    from ops.evaluation_truth import from_scenario, load
    from polyloly.logs import setup_logging
    from replay.cli import load_replay_config
    from replay.outputs import build_summary
    from replay.recording import IssueLog, read_recording
    from replay.session import ReplaySession
    from replay.sweep import apply_params
    from sim.scenario import load_scenario

    setup_logging("WARNING")
    spec = load_scenario(scenario)
    started = time.monotonic()
    recording = directory / "recording"
    record(scenario, recording, spec.duration_s / speed + RECORD_MARGIN_S, speed, seed)
    recorded_s = time.monotonic() - started
    issues = IssueLog()
    messages = list(read_recording(recording, issues))
    truth_file = directory / GROUND_TRUTH_FILE
    # the run's own truth as its simulator wrote it; the pure re-run only if it wrote none
    truth = (load(truth_file, speed) if truth_file.exists()
             else from_scenario(spec, seed, speed))
    anchors = truth.anchor(messages)
    config = load_replay_config(recording, None)
    rows = []
    replay_s = 0.0
    for params in variants:
        variant_config = apply_params(config, params) if params else config
        t0 = time.monotonic()
        result = ReplaySession(variant_config).run(messages)
        replay_s += time.monotonic() - t0
        summary = build_summary(result, issues, recording=str(recording), params=params)
        rows.append({
            "variant": variant_name(params), "params": params,
            "strategies": score_run(result.intents, result.reports, truth),
            "replay": {"events": summary["events_replayed"], "intents": summary["intents"],
                       "fills": summary["fills"],
                       "ledger_settled_pnl_usdc": summary["pnl"]["settled_total_usdc"],
                       "intents_sha256": summary["intents_sha256"]},
        })
    out = {"scenario": spec.name, "seed": seed, "speed": speed, "status": "ok",
           "ground_truth": {**truth.as_dict(), "anchored_on_resolutions": anchors},
           "variants": rows, "record_s": round(recorded_s, 2), "replay_s": round(replay_s, 2),
           "events": len(messages), "log": str(directory / "job.log")}
    (directory / RESULT_FILE).write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
    if not keep_recording:
        shutil.rmtree(recording, ignore_errors=True)
    return out


_CHILDREN: list[subprocess.Popen[Any]] = []  # the job's simulator and recorder
_RECORDERS: list[int] = []


def _stop_children() -> None:
    """SIGTERM each child (the recorder removes its run dir and shm segment itself), wait,
    SIGKILL what is left."""
    for child in _CHILDREN:
        with contextlib.suppress(ProcessLookupError):
            child.terminate()
    for child in _CHILDREN:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=5)
    from replay.cli import recorder_private_names
    from shm.writer import reclaim_stale_store

    for pid in _RECORDERS:  # a recorder stopped before its handlers were set leaves these
        run_dir, segment = recorder_private_names(pid)
        shutil.rmtree(run_dir, ignore_errors=True)
        reclaim_stale_store(segment)
    _CHILDREN.clear()
    _RECORDERS.clear()


def record(scenario: str, out: Path, seconds: float, speed: float, seed: int) -> None:
    """Record ``seconds`` of the scenario's simulator (as :func:`replay.simrun.
    record_simulator`, the demo's simulator and config) with children a SIGTERM can stop."""
    import yaml

    from ops.demo import demo_config
    from ops.supervisor import child_command
    from sim.scenario import load_scenario

    out.mkdir(parents=True, exist_ok=True)
    with (out / "sim.log").open("wb") as sim_log:  # the demo's simulator + its ground truth
        sim = subprocess.Popen(
            child_command("sim.cli", ["--scenario", scenario, "--port", "0", "--speed",
                                      str(speed), "--seed", str(seed), "--ground-truth",
                                      str(out.parent / GROUND_TRUTH_FILE)]),
            stdout=subprocess.PIPE, stderr=sim_log)
    _CHILDREN.append(sim)
    try:
        assert sim.stdout is not None
        first = sim.stdout.readline()  # the endpoints line (the sim exits on a bad start)
        if not first:
            raise RuntimeError(f"the simulator exited before serving (see {out / 'sim.log'})")
        endpoints = orjson.loads(first)
        overlay = demo_config(load_scenario(scenario), endpoints, out.name, out, shards=2,
                              executor="paper")
        overlay["metrics"] = {"enabled": False}
        overlay["logging"] = {"level": "WARNING", "file": str(out / "record.log")}
        config_path = out / "record-config.yaml"
        config_path.write_text(yaml.safe_dump(overlay, sort_keys=False))
        with (out / "record.stderr").open("wb") as stderr:
            recorder = subprocess.Popen(
                [sys.executable, "-m", "ops.cli", "record", "--config", str(config_path),
                 "--out", str(out), "--duration", str(seconds)],
                stdout=subprocess.DEVNULL, stderr=stderr)
        _CHILDREN.append(recorder)
        _RECORDERS.append(recorder.pid)
        code = recorder.wait()
        if code != 0:
            raise RuntimeError(f"polyloly record exited {code} (see {out / 'record.stderr'})")
    finally:
        _stop_children()


def _job_main(argv: Sequence[str]) -> int:
    spec = orjson.loads(argv[0])

    def stop(signum: int, _frame: object) -> None:
        _stop_children()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    run_job(spec["scenario"], int(spec["seed"]), float(spec["speed"]), Path(spec["dir"]),
            spec["variants"], bool(spec["keep"]))
    return 0


# ---- orchestration --------------------------------------------------------------------------

def _start(job: Job, speed: float, variants: list[dict[str, Any]], keep: bool
           ) -> subprocess.Popen[bytes]:
    job.directory.mkdir(parents=True, exist_ok=True)
    (job.directory / RESULT_FILE).unlink(missing_ok=True)
    spec = {"scenario": job.scenario, "seed": job.seed, "speed": speed,
            "dir": str(job.directory), "variants": variants, "keep": keep}
    log = job.log_path.open("wb")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "ops.evaluate", "--job", orjson.dumps(spec).decode()],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the job stops its simulator), then SIGKILL of its process group."""
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _outcome(job: Job, returncode: int | None, timed_out: bool, timeout_s: float
             ) -> dict[str, Any]:
    result_path = job.directory / RESULT_FILE
    if not timed_out and returncode == 0 and result_path.exists():
        data: dict[str, Any] = orjson.loads(result_path.read_bytes())
        return data
    reason = (f"timed out after {timeout_s:.0f} s" if timed_out
              else f"exited {returncode}" + ("" if returncode else " without a result"))
    return {"scenario": job.name, "seed": job.seed, "status": "failed", "reason": reason,
            "log": str(job.log_path)}


def run_jobs(jobs: Sequence[Job], speed: float, variants: list[dict[str, Any]], workers: int,
             timeout_s: float, keep: bool) -> list[dict[str, Any]]:
    """Run every job, ``workers`` at a time; return their results in job order."""
    pending = list(jobs)
    running: dict[Job, tuple[subprocess.Popen[bytes], float]] = {}
    results: dict[Job, dict[str, Any]] = {}
    try:
        while pending or running:
            while pending and len(running) < workers:
                job = pending.pop(0)
                running[job] = (_start(job, speed, variants, keep), time.monotonic())
            time.sleep(0.2)
            now = time.monotonic()  # one instant for every job: stopping one takes time
            done = [(job, process, process.poll(), now - started > timeout_s)
                    for job, (process, started) in running.items()]
            for _, process, returncode, late in done:
                if returncode is None and late:
                    process.terminate()  # all late jobs stop together, then are waited for
            for job, process, returncode, late in done:
                timed_out = returncode is None and late
                if returncode is None and not timed_out:
                    continue
                if timed_out:
                    _stop(process)
                del running[job]
                results[job] = _outcome(job, returncode, timed_out, timeout_s)
                row = results[job]
                print(f"  {job.name} seed {job.seed}: {row['status']}"
                      + (f" ({row['reason']}; log {row['log']})" if row["status"] != "ok"
                         else f" ({row['events']} events, record {row['record_s']} s, "
                              f"replay {row['replay_s']} s)"), flush=True)
    finally:
        for process, _ in running.values():
            _stop(process)
    return [results[job] for job in jobs]


# ---- aggregation ----------------------------------------------------------------------------

def _figure(row: dict[str, Any], dotted: str) -> float | None:
    node: Any = row
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return None if node is None else float(node)


def aggregate(results: Sequence[dict[str, Any]], seeds: Sequence[int],
              variants: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per scenario × variant × strategy: the figures of each seed and their statistics;
    ``all_scenarios``: per seed, the sum over scenarios, then the statistics."""
    scenarios = list(dict.fromkeys(r["scenario"] for r in results))
    names = [variant_name(v) for v in variants]
    table: dict[str, Any] = {}
    totals: dict[str, dict[str, dict[int, float | None]]] = {}  # variant → strategy → seed
    failed_any: set[int] = set()
    for scenario in scenarios:
        rows = [r for r in results if r["scenario"] == scenario]
        failed = [r["seed"] for r in rows if r["status"] != "ok"]
        failed_any.update(failed)
        table[scenario] = {"failed_seeds": sorted(failed), "variants": {}}
        for name in names:
            per_strategy: dict[str, dict[int, dict[str, Any]]] = {}
            for row in rows:
                if row["status"] != "ok":
                    continue
                variant = next(v for v in row["variants"] if v["variant"] == name)
                for strategy, figures in variant["strategies"].items():
                    per_strategy.setdefault(strategy, {})[row["seed"]] = figures
            table[scenario]["variants"][name] = {}
            for strategy, by_seed in sorted(per_strategy.items()):
                table[scenario]["variants"][name][strategy] = {
                    "per_seed": {str(s): by_seed[s] for s in sorted(by_seed)},
                    **{f: summarize({s: _figure(by_seed[s], f) for s in by_seed}, failed)
                       for f in SUMMARY_FIGURES},
                }
                seed_totals = totals.setdefault(name, {}).setdefault(strategy, {})
                for seed in seeds:
                    value = _figure(by_seed[seed], "net_pnl_usdc") if seed in by_seed else None
                    previous = seed_totals.get(seed, 0.0)
                    seed_totals[seed] = (None if value is None or previous is None
                                         else previous + value)
    overall = {name: {strategy: summarize(by_seed, sorted(failed_any))
                      for strategy, by_seed in sorted(strategies.items())}
               for name, strategies in totals.items()}
    return {"by_scenario": table, "all_scenarios_net_pnl_usdc": overall}


def write_html(path: Path, evaluation: dict[str, Any]) -> None:
    """A self-contained page: the failed jobs, then one table per scenario × variant."""
    def cell(stat: dict[str, Any]) -> str:
        if stat["failed_seeds"]:
            return f"failed seeds {stat['failed_seeds']}"
        if stat["mean"] is None:
            return "–"
        ci = stat["ci95"]
        text = f"{stat['mean']:.3f} (median {stat['median']:.3f}"
        text += f"; 95% [{ci[0]:.3f}, {ci[1]:.3f}])" if ci else ")"
        return text

    parts = ["<!doctype html><meta charset='utf-8'><title>PolyLOL evaluation</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
             "margin-bottom:2em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
             "th:first-child,td:first-child{text-align:left}.bad{color:#b00}</style>",
             "<h1>PolyLOL evaluation</h1>",
             f"<p>{html.escape(evaluation['method']['interval'])}; seeds "
             f"{evaluation['seeds']}; speed x{evaluation['speed']:g}; "
             f"wall time {evaluation['wall_s']:.0f} s.</p>"]
    failed = [r for r in evaluation["runs"] if r["status"] != "ok"]
    if failed:
        parts.append("<h2 class='bad'>Failed runs (no figure averages over fewer seeds)</h2>"
                     "<ul>" + "".join(
                         f"<li class='bad'>{html.escape(r['scenario'])} seed {r['seed']}: "
                         f"{html.escape(r['reason'])} — {html.escape(r['log'])}</li>"
                         for r in failed) + "</ul>")
    figures = ("net_pnl_usdc", "ev_usdc", "capture_pct", "fills",
               "adverse_selection.10s.total_usdc", "truth_audit.stale_truth",
               "truth_audit.false_truth")
    for scenario, entry in evaluation["summary"]["by_scenario"].items():
        if entry["failed_seeds"]:
            parts.append(f"<p class='bad'>{html.escape(scenario)}: seeds "
                         f"{entry['failed_seeds']} failed, no figure over seeds.</p>")
        for variant, strategies in entry["variants"].items():
            parts.append(f"<h2>{html.escape(scenario)} — {html.escape(variant)}</h2><table>"
                         "<tr><th>strategy</th>" + "".join(
                             f"<th>{html.escape(f)}</th>" for f in figures) + "</tr>")
            for strategy, row in strategies.items():
                parts.append(f"<tr><td>{html.escape(strategy)}</td>" + "".join(
                    f"<td>{html.escape(cell(row[f]))}</td>" for f in figures) + "</tr>")
            parts.append("</table>")
    parts.append("<h2>All scenarios: net P&amp;L per seed summed over scenarios</h2><table>"
                 "<tr><th>variant / strategy</th><th>net P&amp;L (USDC)</th></tr>")
    for variant, strategies in evaluation["summary"]["all_scenarios_net_pnl_usdc"].items():
        for strategy, stat in strategies.items():
            parts.append(f"<tr><td>{html.escape(variant)} / {html.escape(strategy)}</td>"
                         f"<td>{html.escape(cell(stat))}</td></tr>")
    parts.append("</table>")
    path.write_text("\n".join(parts))


def evaluate(scenarios: Sequence[tuple[str, str]], seeds: Sequence[int], out_dir: Path,
             speed: float, variants: list[dict[str, Any]], workers: int,
             timeout_s: float | None, keep: bool) -> dict[str, Any]:
    """Run the evaluation and write ``evaluation.json`` / ``evaluation.html``; return it."""
    from sim.scenario import load_scenario

    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [Job(given, name, seed, out_dir / "runs" / name / f"seed-{seed}")
            for given, name in scenarios for seed in seeds]
    longest = max(load_scenario(given).duration_s for given, _ in scenarios)
    # the recording's real duration, the simulator and recorder start-up, and the replays
    limit = timeout_s or (longest / speed + RECORD_MARGIN_S) * 3 + 90.0 * len(variants)
    print(f"evaluating {len(scenarios)} scenario(s) × {len(seeds)} seed(s) × "
          f"{len(variants)} variant(s), {workers} at a time, speed x{speed:g} → {out_dir}",
          flush=True)
    runs = run_jobs(jobs, speed, variants, workers, limit, keep)
    evaluation = {
        "seeds": list(seeds), "speed": speed, "workers": workers, "job_timeout_s": limit,
        "variants": [{"name": variant_name(v), "params": v} for v in variants],
        "method": {"interval": INTERVAL_METHOD,
                   "ground_truth": "ops/evaluation_truth.py (module doc)",
                   "scores": "ops/evaluation_metrics.py (module doc)"},
        "commit": _commit(),
        "runs": runs,
        "failed": [{"scenario": r["scenario"], "seed": r["seed"], "reason": r["reason"],
                    "log": r["log"]} for r in runs if r["status"] != "ok"],
        "summary": aggregate(runs, seeds, variants),
    }
    evaluation["wall_s"] = round(time.monotonic() - started, 1)
    (out_dir / "evaluation.json").write_bytes(orjson.dumps(evaluation,
                                                           option=orjson.OPT_INDENT_2))
    write_html(out_dir / "evaluation.html", evaluation)
    return evaluation


def _commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=False,
                              cwd=Path(__file__).resolve().parent)
    except OSError:
        return None
    return done.stdout.strip() or None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``polyloly evaluate``; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["--job"]:
        return _job_main(args_list[1:])
    parser = argparse.ArgumentParser(prog="polyloly evaluate",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", default=[], metavar="NAME|PATH",
                        help="scenario to run (repeatable; default: every shipped scenario)")
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS,
                        help="seeds 1..N per scenario")
    parser.add_argument("--out", default=None, help="output directory (default runs/eval-*)")
    parser.add_argument("--speed", type=float, default=DEFAULT_SPEED,
                        help="simulator speed while recording")
    parser.add_argument("--params", default=None,
                        help="YAML grid of config keys to replay on each recording")
    parser.add_argument("--workers", type=int, default=2, help="jobs at a time")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds before a job counts as failed (default from duration)")
    parser.add_argument("--keep-recordings", action="store_true",
                        help="keep each job's recording (default: removed after scoring)")
    args = parser.parse_args(args_list)
    try:
        if args.seeds < 1:
            raise EvaluateError(f"--seeds: expected a whole number >= 1, was {args.seeds}")
        if args.speed <= 0:
            raise EvaluateError(f"--speed: expected a positive number, was {args.speed:g}")
        if not 1 <= args.workers <= MAX_WORKERS:
            raise EvaluateError(f"--workers: expected 1..{MAX_WORKERS}, was {args.workers}")
        if args.timeout is not None and args.timeout <= 0:
            raise EvaluateError(f"--timeout: expected a positive number, was {args.timeout:g}")
        scenarios = resolve_scenarios(args.scenario)
        variants = load_variants(args.params)
    except EvaluateError as exc:
        print(f"polyloly evaluate: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    out_dir = Path(args.out or Path("runs") / f"eval-{time.strftime('%Y%m%d-%H%M%S')}")

    def interrupted(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # run_jobs' finally stops every running job

    signal.signal(signal.SIGTERM, interrupted)
    evaluation = evaluate(scenarios, list(range(1, args.seeds + 1)), out_dir, args.speed,
                          variants, args.workers, args.timeout, args.keep_recordings)
    for failed in evaluation["failed"]:
        print(f"polyloly evaluate: FAILED {failed['scenario']} seed {failed['seed']}: "
              f"{failed['reason']} (log {failed['log']})", file=sys.stderr)
    print(f"evaluation: {out_dir / 'evaluation.json'}\nreport:     "
          f"{out_dir / 'evaluation.html'}\nwall time:  {evaluation['wall_s']} s")
    return EXIT_FAILED if evaluation["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
