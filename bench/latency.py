"""``polyloly bench latency``: tick-to-intent and tick-to-order of PolyLOL, stage by stage,
against the floor and the baseline measured in the same invocation.

Per repeat, three runs under the same load (same frames, same rate, one after the other so
they never share the CPU): the **floor** (:mod:`bench.harness.floor`: frame → shm write →
shard wake → ZeroMQ hop → engine, no logic), the **baseline** (:mod:`bench.baseline`: the v1
single asyncio process) and **PolyLOL** (gateway, K shards, engine with the paper executor).
The load (:mod:`bench.harness.load`) makes the pair strategy fire on a known fraction of frames;
every intent is followed through its CLOCK_MONOTONIC stamps (:mod:`bench.harness.stamps`).

Figures: p50/p90/p99/p99.9/max per stage and end to end, each the **median over repeats** of
the per-run percentile, with the ratio to the floor and to the baseline of the same repeat
set; gateway CPU µs per frame from ``/proc/<pid>/stat``; frames sent vs received and ticks
coalesced (a drop check). Units: µs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from bench.harness.machine import machine_info, write_results
from bench.harness.runs import LoadSpec, RunResult, run_baseline, run_floor, run_polyloly
from bench.harness.stats import PERCENTILES, median_of_runs, ratio, spread_of_runs, summarize_ns

KEYS = [name for name, _ in PERCENTILES] + ["max"]


def summarize_runs(runs: Sequence[RunResult]) -> dict[str, Any]:
    """Per stage: the median over runs of each percentile, its spread, and sample counts."""
    stages: list[str] = []
    for run in runs:
        stages.extend(s for s in run.samples if s not in stages)
    result: dict[str, Any] = {}
    for stage in stages:
        per_run = [summarize_ns(run.samples.get(stage, [])) for run in runs]
        per_run = [summary for summary in per_run if summary.get("count")]
        if not per_run:
            result[stage] = {"count": 0}
            continue
        summary: dict[str, Any] = median_of_runs(per_run)
        summary["count"] = int(sum(s["count"] for s in per_run))
        for key in ("p50", "p99"):
            spread = spread_of_runs(per_run, key)
            if spread is not None:
                summary[f"{key}_spread"] = list(spread)
        result[stage] = summary
    return result


def ratios(polyloly: dict[str, Any], reference: dict[str, Any],
           stage: str = "tick_to_intent") -> dict[str, float | None]:
    """PolyLOL's percentile of ``stage`` divided by the reference's, per percentile."""
    ours = polyloly.get(stage, {})
    theirs = reference.get("tick_to_intent", {})
    return {key: ratio(ours.get(key), theirs.get(key)) for key in KEYS}


def _counts(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    return [{"achieved_rate": round(run.load.achieved_rate, 1),
             "max_send_lag_ms": round(run.load.max_lag_ms, 2),
             "frames": run.load.frames, "by_kind": run.load.by_kind,
             "skipped_triggers": run.load.skipped_triggers, **run.counts} for run in runs]


async def measure(spec: LoadSpec, repeats: int, keep: bool = False,
                  progress: bool = True) -> dict[str, Any]:
    """Run floor, baseline and PolyLOL ``repeats`` times each; return the full report dict."""
    runs: dict[str, list[RunResult]] = {"floor": [], "baseline": [], "polyloly": []}
    for repeat in range(repeats):
        for path, runner in (("floor", run_floor), ("baseline", run_baseline),
                             ("polyloly", run_polyloly)):
            if progress:
                print(f"  repeat {repeat + 1}/{repeats}: {path} …", file=sys.stderr, flush=True)
            runs[path].append(await runner(spec, keep=keep))
    summaries = {path: summarize_runs(path_runs) for path, path_runs in runs.items()}
    ours = summaries["polyloly"]
    return {
        "summaries": summaries,
        "ratios": {
            "tick_to_intent_over_floor": ratios(ours, summaries["floor"]),
            "tick_to_intent_over_baseline": ratios(ours, summaries["baseline"]),
            "tick_to_order_over_floor": ratios(ours, summaries["floor"], "tick_to_order"),
            "tick_to_order_over_baseline": ratios(ours, summaries["baseline"], "tick_to_order"),
        },
        "gateway_cpu_us_per_frame": median_of_runs(
            [{"v": r.counts.get("gateway_cpu_us_per_frame", 0.0)} for r in runs["polyloly"]]
        ).get("v"),
        "runs": {path: _counts(path_runs) for path, path_runs in runs.items()},
        "targets": targets(summaries),
    }


def targets(summaries: dict[str, Any]) -> dict[str, Any]:
    """The issue's latency targets, each with the figures it compares (not a test)."""
    ours = summaries["polyloly"].get("tick_to_intent", {})
    floor = summaries["floor"].get("tick_to_intent", {})
    base = summaries["baseline"].get("tick_to_intent", {})

    def check(value: float | None, limit: float | None) -> bool | None:
        return None if value is None or limit is None else value <= limit

    return {
        "p50_within_2x_floor": check(ours.get("p50"), 2 * floor["p50"] if "p50" in floor
                                     else None),
        "p99_within_4x_floor_p99": check(ours.get("p99"), 4 * floor["p99"] if "p99" in floor
                                         else None),
        "p99_ahead_of_baseline": check(ours.get("p99"), base.get("p99")),
    }


def dominant_stage(summary: dict[str, Any], key: str = "p99") -> tuple[str, float] | None:
    """The PolyLOL stage with the largest ``key`` percentile (what dominates the figure)."""
    stages = [(name, s[key]) for name, s in summary.items()
              if not name.startswith("tick_to") and key in s]
    return max(stages, key=lambda item: item[1]) if stages else None


def print_report(report: dict[str, Any], params: dict[str, Any]) -> None:
    """Human-readable tables of a :func:`measure` report."""
    machine = report.get("machine") or machine_info()
    print(f"latency bench: {params}")
    print(f"machine: {machine['nproc']} CPU, {machine['cpu_model']}, Python {machine['python']}")
    header = f"{'path / stage':<44}" + "".join(f"{k:>10}" for k in KEYS) + f"{'n':>8}"
    for path, summary in report["summaries"].items():
        print(f"\n{path} (µs; median over repeats of each run's percentile)")
        print(header)
        for stage, values in summary.items():
            cells = "".join(f"{values[k]:>10.1f}" if k in values else f"{'-':>10}"
                            for k in KEYS)
            print(f"  {stage:<42}{cells}{values.get('count', 0):>8}")
    print("\nratios (PolyLOL / reference, tick-to-intent unless named)")
    for name, values in report["ratios"].items():
        cells = "".join(f"{v:>10.2f}" if v is not None else f"{'-':>10}" for v in values.values())
        print(f"  {name:<42}{cells}")
    cpu = report.get("gateway_cpu_us_per_frame")
    print(f"\ngateway CPU per frame: {cpu:.1f} µs (utime+stime / frames)" if cpu else "")
    for path, runs in report["runs"].items():
        for index, run in enumerate(runs):
            print(f"  {path} run {index + 1}: {run}")
    print(f"targets: {report['targets']}")
    dominant = dominant_stage(report["summaries"]["polyloly"])
    if dominant is not None:
        print(f"largest PolyLOL stage at p99: {dominant[0]} ({dominant[1]:.1f} µs)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the tables, optionally write ``--json OUT``; return 0."""
    parser = argparse.ArgumentParser(prog="polyloly bench latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=10_000.0,
                        help="book frames per second (default 10000)")
    parser.add_argument("--tokens", type=int, default=200, help="tokens (default 200)")
    parser.add_argument("--shards", type=int, default=2, help="shards (default 2)")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="load seconds per run (default 10)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats (default 3)")
    parser.add_argument("--trigger-fraction", type=float, default=0.005,
                        help="fraction of frames that make the pair strategy fire "
                             "(default 0.005)")
    parser.add_argument("--shard-wait", choices=("block", "spin", "spin_then_block"),
                        default="block", help="bus.shard_wait of the shards (default block)")
    parser.add_argument("--keep", action="store_true", help="keep run directories and logs")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    args = parser.parse_args(argv)
    spec = LoadSpec(rate=args.rate, tokens=args.tokens, shards=args.shards,
                    seconds=args.seconds, trigger_fraction=args.trigger_fraction,
                    shard_wait=args.shard_wait)
    params = {"rate": args.rate, "tokens": args.tokens, "shards": args.shards,
              "seconds": args.seconds, "repeats": args.repeats,
              "trigger_fraction": args.trigger_fraction, "shard_wait": args.shard_wait,
              "executor": "paper"}
    report = asyncio.run(measure(spec, args.repeats, keep=args.keep))
    report["machine"] = machine_info()
    print_report(report, params)
    if args.json:
        write_results(args.json, "latency", params, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
