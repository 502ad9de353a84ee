"""`polyloly sim --scenario NAME|PATH [--port 0] [--speed X] [--seed N] [--host 127.0.0.1]
[--ws-batch] [--independent-books] [--ground-truth OUT.json]`.

Prints, as the first stdout line, one JSON object with every endpoint URL (clob_rest,
market_ws, user_ws, admin and the world's feed endpoints), then serves until SIGINT/SIGTERM
and exits 0. With ``--ground-truth OUT.json`` it writes, on the way out, the run's ground truth
(``sim/ground_truth.py``; schema in ``specs/12_SIM_GROUND_TRUTH_SPEC.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from sim.server import SimServer, load


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polyloly sim", description="Run the local Polymarket venue and esports feeds."
    )
    parser.add_argument("--scenario", required=True, help="scenario name or YAML path")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="venue port (0 = any free port)")
    parser.add_argument("--speed", type=float, default=1.0, help="scenario time speed-up")
    parser.add_argument("--seed", type=int, default=None, help="override the scenario seed")
    parser.add_argument(
        "--ws-batch", action="store_true", help="batch queued WS messages into JSON arrays"
    )
    parser.add_argument(
        "--independent-books",
        action="store_true",
        help="TEST ONLY: one independent book per outcome token (no mirroring, no mint/merge "
        "matching), which the real venue never has; prints a warning",
    )
    parser.add_argument(
        "--ground-truth",
        metavar="OUT.json",
        default=None,
        help="write the run's ground truth (fair values, stale quotes, available edge) here "
        "when the simulator stops (specs/12)",
    )
    parser.add_argument("--log-level", default="WARNING", help="logging level (stderr)")
    return parser


async def _serve(args: argparse.Namespace) -> int:
    scenario = load(args.scenario)
    sim = SimServer(
        scenario,
        host=args.host,
        port=args.port,
        speed=args.speed,
        seed=args.seed,
        ws_batch=args.ws_batch,
        complementary_matching=False if args.independent_books else None,
        ground_truth_path=args.ground_truth,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await sim.start()
    try:
        sys.stdout.write(json.dumps(sim.endpoints, sort_keys=True) + "\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await sim.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until SIGINT/SIGTERM; return the process exit code."""
    args = _parser().parse_args(argv)
    if args.speed <= 0:
        print(f"--speed: expected a positive number, was {args.speed}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    try:
        import uvloop

        runner: Callable[[Coroutine[Any, Any, int]], int] = uvloop.run
    except ImportError:
        runner = asyncio.run
    from sim.scenario import ScenarioError

    try:
        return runner(_serve(args))
    except KeyboardInterrupt:
        return 0
    except ScenarioError as exc:  # an unknown name or a bad file: one line, no traceback
        print(f"polyloly sim: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the port is taken or the address cannot be bound
        print(f"polyloly sim: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
