"""``polyloly bench isolation``: healthy shards' tick-to-intent while another shard is killed.

Per repeat, two PolyLOL runs under the same load (:mod:`bench.harness.runs`): one untouched,
one where the last shard is killed with SIGKILL a third of the way into the load and started
again at once (as the supervisor or systemd would). The figure is the tick-to-intent of the
*other* shards' intents in both runs, p50/p99/p99.9 as the median over repeats, and the ratio
kill / no-kill (target: p99 within 10 %). Also reported: how long the restarted shard took to
be healthy again, and that nothing was dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import procs
from bench.harness.machine import machine_info, write_results
from bench.harness.procs import Proc
from bench.harness.runs import HEALTH_TIMEOUT_S, WARMUP_S, LoadSpec, RunResult, run_polyloly
from bench.harness.stats import median_of_runs, ratio, summarize_ns


class ShardKiller:
    """The chaos hook: kill shard ``victim`` after ``delay_s`` and start it again at once."""

    def __init__(self, victim: int, delay_s: float) -> None:
        self.victim = victim
        self.delay_s = delay_s
        self.restart_to_healthy_s: float | None = None
        self.killed_exit_code: int | None = None

    async def __call__(self, running: dict[str, Proc], workdir: Path) -> None:
        """Kill, relaunch with the same arguments, wait until healthy again."""
        await asyncio.sleep(self.delay_s)
        name = f"shard-{self.victim}"
        old = running[name]
        await asyncio.to_thread(procs.kill_hard, old)
        self.killed_exit_code = old.popen.returncode
        started = time.monotonic()
        args = list(old.module_args)
        new = procs.launch(f"{name}-restarted", "shards.main", args, workdir, old.health_port)
        running[name] = new
        await procs.wait_healthy(new, HEALTH_TIMEOUT_S)
        self.restart_to_healthy_s = time.monotonic() - started


def healthy_samples(run: RunResult, victim: int) -> list[int]:
    """Tick-to-intent (ns) of complete intents from every shard but ``victim``."""
    return [i.tick_to_intent_ns for i in run.intents if i.complete and i.shard_id != victim]


async def measure(spec: LoadSpec, repeats: int, keep: bool = False,
                  progress: bool = True) -> dict[str, Any]:
    """``repeats`` pairs of runs (no kill, kill); return the report dict."""
    if spec.shards < 2:
        raise ValueError("isolation needs at least 2 shards")
    victim = spec.shards - 1
    calm: list[dict[str, float]] = []
    chaos: list[dict[str, float]] = []
    details: list[dict[str, Any]] = []
    for repeat in range(repeats):
        if progress:
            print(f"  repeat {repeat + 1}/{repeats}: no kill …", file=sys.stderr, flush=True)
        quiet = await run_polyloly(spec, keep=keep)
        if progress:
            print(f"  repeat {repeat + 1}/{repeats}: kill shard {victim} …", file=sys.stderr,
                  flush=True)
        killer = ShardKiller(victim, WARMUP_S + spec.seconds / 3)
        killed = await run_polyloly(spec, chaos=killer, keep=keep)
        calm.append(summarize_ns(healthy_samples(quiet, victim)))
        chaos.append(summarize_ns(healthy_samples(killed, victim)))
        details.append({
            "restart_to_healthy_s": killer.restart_to_healthy_s,
            "killed_exit_code": killer.killed_exit_code,
            "no_kill_counts": quiet.counts, "kill_counts": killed.counts})
    calm_summary = median_of_runs([c for c in calm if c.get("count")])
    chaos_summary = median_of_runs([c for c in chaos if c.get("count")])
    ratios = {key: ratio(chaos_summary.get(key), calm_summary.get(key))
              for key in ("p50", "p90", "p99", "p99_9", "max")}
    p99_ratio = ratios["p99"]
    return {
        "victim_shard": victim,
        "healthy_tick_to_intent_no_kill": calm_summary,
        "healthy_tick_to_intent_with_kill": chaos_summary,
        "ratio_kill_over_no_kill": ratios,
        "target_p99_within_10_percent": None if p99_ratio is None else p99_ratio <= 1.10,
        "runs": details,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print a summary, optionally write ``--json OUT``; return 0."""
    parser = argparse.ArgumentParser(prog="polyloly bench isolation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=2_000.0,
                        help="frames/s (default 2000: unsaturated on a 2-CPU machine)")
    parser.add_argument("--tokens", type=int, default=200, help="tokens (default 200)")
    parser.add_argument("--shards", type=int, default=2, help="shards (default 2)")
    parser.add_argument("--seconds", type=float, default=9.0,
                        help="load seconds per run (default 9)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats (default 3)")
    parser.add_argument("--trigger-fraction", type=float, default=0.02,
                        help="fraction of frames that make the pair strategy fire (default "
                             "0.02: enough intents per shard for a p99)")
    parser.add_argument("--keep", action="store_true", help="keep run directories and logs")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    args = parser.parse_args(argv)
    spec = LoadSpec(rate=args.rate, tokens=args.tokens, shards=args.shards,
                    seconds=args.seconds, trigger_fraction=args.trigger_fraction)
    params = {"rate": args.rate, "tokens": args.tokens, "shards": args.shards,
              "seconds": args.seconds, "repeats": args.repeats,
              "trigger_fraction": args.trigger_fraction}
    report = asyncio.run(measure(spec, args.repeats, keep=args.keep))
    machine = machine_info()
    print(f"isolation bench: {params}")
    print(f"machine: {machine['nproc']} CPU, {machine['cpu_model']}, Python {machine['python']}")
    for key in ("healthy_tick_to_intent_no_kill", "healthy_tick_to_intent_with_kill",
                "ratio_kill_over_no_kill"):
        values = report[key]
        cells = "  ".join(f"{k} {v:.2f}" for k, v in values.items()
                          if k != "count" and v is not None)
        print(f"{key:<36} {cells}")
    print(f"target (p99 within 10 %): {report['target_p99_within_10_percent']}")
    for index, run in enumerate(report["runs"]):
        print(f"  run {index + 1}: restart to healthy {run['restart_to_healthy_s']} s, "
              f"dropped frames {run['kill_counts'].get('frames_dropped')}")
    if args.json:
        write_results(args.json, "isolation", params, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
