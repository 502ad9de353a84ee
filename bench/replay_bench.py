"""``polyloly bench replay``: replayed events per second on the load scenario.

1. Record ``--seconds`` of the ``load_200`` simulator (100 markets, 200 tokens) with
   ``polyloly record`` (or use ``--recording DIR``).
2. In the same run, measure ``--repeats`` times each:
   * the floor: reading the recording (JSONL decode, bad-input rules) without replaying;
   * the replay: gateway book keeping into shm, esports parsers, both shard cores, the
     engine's risk layer and paper executor, on the recorded clock.
3. Print the median and spread (min..max) of events/s for each, the ratio replay / floor, and
   the share of time spent reading; one JSON line at the end for scripts.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from polyloly.config import load_config
from replay.recording import IssueLog, find_config, read_recording
from replay.session import ReplaySession
from replay.simrun import record_simulator


def _read_once(recording: Path) -> tuple[int, float]:
    started = time.perf_counter()
    count = sum(1 for _ in read_recording(recording, IssueLog()))
    return count, time.perf_counter() - started


def _replay_once(recording: Path) -> tuple[int, float, int]:
    config_path = find_config(recording)
    if config_path is None:
        raise SystemExit(f"{recording}: no config.yaml")
    config = load_config(config_path, {})
    started = time.perf_counter()
    messages = read_recording(recording, IssueLog())
    result = ReplaySession(config, tail_s=0.0).run(messages)
    elapsed = time.perf_counter() - started
    return sum(result.inputs.values()), elapsed, len(result.intents)


def _stats(rates: Sequence[float]) -> dict[str, float]:
    return {"median": round(statistics.median(rates), 1), "min": round(min(rates), 1),
            "max": round(max(rates), 1)}


def run(recording: Path, repeats: int) -> dict[str, Any]:
    """Measure reading and replaying ``recording`` ``repeats`` times; return the figures."""
    read_rates, replay_rates, shares = [], [], []
    events = intents = 0
    for _ in range(repeats):
        count, read_s = _read_once(recording)
        events, replay_s, intents = _replay_once(recording)
        read_rates.append(count / read_s)
        replay_rates.append(events / replay_s)
        shares.append(read_s / replay_s)
    read, replay = _stats(read_rates), _stats(replay_rates)
    return {
        "benchmark": "replay", "recording": str(recording), "events": events,
        "intents": intents, "repeats": repeats, "read_events_per_s": read,
        "replay_events_per_s": replay,
        "ratio_replay_to_read": round(replay["median"] / read["median"], 3),
        "read_share_of_replay": round(statistics.median(shares), 3),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``polyloly bench replay``."""
    parser = argparse.ArgumentParser(prog="polyloly bench replay", description=__doc__)
    parser.add_argument("--recording", default=None, help="replay this recording instead")
    parser.add_argument("--scenario", default="load_200", help="scenario to record")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds to record")
    parser.add_argument("--speed", type=float, default=4.0, help="simulator speed")
    parser.add_argument("--repeats", type=int, default=5, help="replays to time")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="polyloly-bench-replay-") as tmp:
        if args.recording:
            recording = Path(args.recording)
        else:
            print(f"recording {args.seconds:g} s of {args.scenario} at speed x{args.speed:g}…",
                  flush=True)
            recording = record_simulator(args.scenario, Path(tmp) / "rec",
                                         seconds=args.seconds, speed=args.speed, seed=1)
        figures = run(recording, max(1, args.repeats))
    read, replay = figures["read_events_per_s"], figures["replay_events_per_s"]
    print(f"events in recording: {figures['events']}  intents: {figures['intents']}  "
          f"repeats: {figures['repeats']}")
    print(f"read only (floor): median {read['median']:,.0f} events/s "
          f"(spread {read['min']:,.0f}..{read['max']:,.0f})")
    print(f"full replay:       median {replay['median']:,.0f} events/s "
          f"(spread {replay['min']:,.0f}..{replay['max']:,.0f})")
    print(f"replay / floor: {figures['ratio_replay_to_read']:.3f}; reading is "
          f"{figures['read_share_of_replay']:.0%} of the replay time")
    print(orjson.dumps(figures).decode())
    return 0
