#!/usr/bin/env python3
"""P&L simulation (SPEC §3 ``scripts/pnl_simulation.py``), now the replay backtester.

Thin wrapper: record ``--seconds`` of a simulator scenario with ``polyloly record``, then run
``polyloly replay`` on it (optionally a ``--params`` sweep) and print where the report is.
With ``--recording DIR`` it only replays that recording. Everything else is the replay's:
see ``polyloly replay --help`` and specs/11_REPLAY_SPEC.md.

    python scripts/pnl_simulation.py --scenario lol_bo3_comeback --seconds 30 --speed 5
    python scripts/pnl_simulation.py --recording runs/<run_id>/recording --params grid.yaml
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    """Record (unless given a recording), then replay; return the replay's exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recording", default=None, help="replay this recording directory")
    parser.add_argument("--scenario", default="demo_short", help="simulator scenario to record")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds to record")
    parser.add_argument("--speed", type=float, default=5.0, help="simulator speed")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--params", default=None, help="YAML of parameter grids to sweep")
    parser.add_argument("--out", default=None, help="output directory")
    args = parser.parse_args(argv)
    from replay.cli import replay_main

    if args.recording:
        recording = Path(args.recording)
    else:
        from replay.simrun import record_simulator

        recording = Path("runs") / f"pnl-{time.strftime('%Y%m%d-%H%M%S')}" / "recording"
        print(f"recording {args.seconds:g} s of {args.scenario} into {recording}", flush=True)
        record_simulator(args.scenario, recording, seconds=args.seconds, speed=args.speed,
                         seed=args.seed)
    replay_args = [str(recording)]
    if args.params:
        replay_args += ["--params", args.params]
    if args.out:
        replay_args += ["--out", args.out]
    return replay_main(replay_args)


if __name__ == "__main__":
    sys.exit(main())
