"""``polyloly bench NAME``: dispatch to one benchmark module's ``main(argv)``."""

from __future__ import annotations

import importlib
import importlib.util
import sys

BENCHMARKS: dict[str, tuple[str, str]] = {
    "shm": ("bench.shm_bench", "shared-memory books: write/read cost, visibility, vs ZeroMQ"),
    "latency": ("bench.latency", "tick-to-intent and tick-to-order per stage, floor, baseline"),
    "throughput": ("bench.throughput", "gateway messages/s per core, decoder cost share"),
    "sign": ("bench.sign_bench", "order build + EIP-712 sign time per order"),
    "isolation": ("bench.isolation", "healthy shards' latency while one is killed"),
    "replay": ("bench.replay_bench", "events/s replayed on the load scenario"),
    "engine-intake": ("bench.engine_intake", "engine: frame received → ack / submit, per intent"),
    "shard-tick": ("bench.shard_tick", "shard: µs per book tick on a 50-market shard"),
}


def _available() -> dict[str, tuple[str, str]]:
    return {k: v for k, v in BENCHMARKS.items() if importlib.util.find_spec(v[0]) is not None}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    available = _available()
    if not args or args[0] in ("-h", "--help"):
        print("usage: polyloly bench NAME [options]\n\nbenchmarks:")
        for name, (_, text) in available.items():
            print(f"  {name:<14} {text}")
        return 0
    if args[0] not in available:
        print(f"polyloly bench: unknown benchmark {args[0]!r}; known: {', '.join(available)}",
              file=sys.stderr)
        return 2
    from sim.scenario import ScenarioError

    module = importlib.import_module(available[args[0]][0])
    try:
        result: int = module.main(args[1:])
    except ScenarioError as exc:  # an unknown scenario name or a bad file: one line
        print(f"polyloly bench {args[0]}: {exc}", file=sys.stderr)
        return 2
    return result
