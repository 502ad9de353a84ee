"""Shard tick path micro-benchmark: µs per tick of a 50-market shard, and drained throughput.

Two measurements over real shared-memory books (a :class:`shm.BookWriter` in this process),
medians of ``--repeats`` runs, one thread:

1. **per tick** — ``ShardCore.handle`` called once per BookTick (two shm copies, the core's
   ``on_book``), ticks cycling over the shard's markets: µs per tick. This is the cost of one
   decision on a fresh book, with nothing to coalesce.
2. **drained** — ``--burst`` BookTicks published at once on an inproc ZeroMQ PUB to the shard
   shell's own SUB socket (``ShardShell.open`` on an inproc bus), then the shell's ``_drain``
   until every tick is consumed: ticks consumed per second, and how many were coalesced
   (``ShardShell.ticks_coalesced``: older ticks of a market superseded by a newer one in the same
   drained batch). This is the shard at saturation: a backlog in its SUB socket.

``python -m bench.shard_tick [--markets 50] [--ticks 20000] [--burst 20000] [--repeats 5]
[--json OUT]``. Figures are machine-noisy: compare runs of the same invocation.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
import zmq

from bench.harness.load import LoadModel, bench_markets, market_config_entries
from bench.harness.machine import machine_info, write_results
from polyloly import bus
from polyloly.bus import ZmqContext
from polyloly.config import load_config
from polyloly.messages import BookTick, StateSnapshot
from shards.main import ShardShell
from shm import BookWriter

_DRAIN_TIMEOUT_S = 60.0


@dataclass
class Rig:
    """A configured shard shell (shard 0 of 2) over a book store this process writes."""

    shell: ShardShell
    writer: BookWriter
    model: LoadModel
    mine: list[Any]  # the BenchMarkets shard 0 owns
    workdir: Path


@contextmanager
def rig(markets_in_shard: int) -> Iterator[Rig]:
    """A ready shard shell with ``markets_in_shard`` markets (2 shards, shard 0 measured)."""
    markets = bench_markets(4 * markets_in_shard, 2)
    model = LoadModel(markets, 0.0)
    workdir = Path(tempfile.mkdtemp(prefix="plst", dir="/tmp"))
    tag = workdir.name
    overlay = {
        "run": {"run_dir": str(workdir / "run"), "data_dir": str(workdir / "data")},
        "shm": {"segment_name": f"{tag}_books"}, "shards": {"count": 2},
        "markets": market_config_entries(markets), "metrics": {"enabled": False},
        "bus": {"gateway_pub": f"inproc://{tag}-gw", "engine_pub": f"inproc://{tag}-epub",
                "engine_router": f"inproc://{tag}-router"},
        "logging": {"level": "WARNING"},
    }
    (workdir / "bench.yaml").write_text(yaml.safe_dump(overlay), encoding="utf-8")
    config = load_config(workdir / "bench.yaml")
    writer = BookWriter.create(config.shm.segment_name, model.token_ids,
                               levels=config.shm.levels, tick_size=0.01)
    shell = ShardShell(config, 0)
    try:
        for token, book in model.books.items():
            writer.apply_snapshot(token, list(book.bids.items()), list(book.asks.items()),
                                  t_recv_ns=1, exchange_ts_ms=1)
        shell._attach_books()
        shell.core.on_state_snapshot(StateSnapshot(
            shard_id=0, positions=(), open_orders=(), halted_markets=(), kill_switch=False,
            t_ns=1), 1)
        yield Rig(shell, writer, model, [m for m in markets if m.shard == 0], workdir)
    finally:
        shell.close()
        writer.close()
        shutil.rmtree(workdir, ignore_errors=True)


def write_tick(r: Rig, index: int) -> BookTick:
    """Write shm change ``index`` (a bid size below the top: no strategy fires); its tick."""
    market = r.mine[index % len(r.mine)]
    token = market.token_yes if index % 2 else market.token_no
    now = time.monotonic_ns()
    write = r.writer.apply_changes(token, [("BUY", 0.37, 100.0 + index % 7)],
                                   t_recv_ns=now, exchange_ts_ms=1)
    return BookTick(market_id=market.market_id, token_id=token, slot=write.slot,
                    seq=write.seq, t_exchange_ms=1, t_recv_ns=now, t_parsed_ns=now,
                    t_shm_ns=now)


def per_tick(markets_in_shard: int, ticks: int) -> dict[str, float]:
    """µs per ``ShardCore.handle`` call and ticks/s, nothing coalesced.

    Each tick follows its own shm write (as live: the ticked slot always changed since the
    shard last read it); only the ``handle`` call is timed, not the write.
    """
    with rig(markets_in_shard) as r:
        clock = time.perf_counter_ns
        elapsed_ns = 0
        for index in range(ticks):
            tick = write_tick(r, index)
            started = clock()
            r.shell.core.handle(tick, time.monotonic_ns())
            elapsed_ns += clock() - started
    elapsed_s = elapsed_ns / 1e9
    return {"us_per_tick": elapsed_s * 1e6 / ticks, "ticks_per_s": ticks / elapsed_s}


def drained(markets_in_shard: int, burst: int) -> dict[str, float]:
    """A backlog of ``burst`` ticks in the shell's SUB socket, drained by the shell itself."""
    with rig(markets_in_shard) as r:
        ctx: ZmqContext = zmq.Context.instance()
        cfg = r.shell.config
        pub = bus.bind(ctx, zmq.PUB, cfg.endpoint("gateway_pub"), 0)
        engine_pub = bus.bind(ctx, zmq.PUB, cfg.endpoint("engine_pub"), 0)
        router = bus.bind(ctx, zmq.ROUTER, cfg.endpoint("engine_router"), 0)
        try:
            r.shell.open()
            r.shell.gateway.setsockopt(zmq.RCVHWM, 0)
            time.sleep(0.2)  # subscriptions reach the PUB
            frames = [bus_frames(write_tick(r, i)) for i in range(burst)]
            seen0 = r.shell.ticks_seen
            for frame in frames:
                pub.send_multipart(frame)
            started = time.perf_counter_ns()
            deadline = time.monotonic() + _DRAIN_TIMEOUT_S
            while _consumed(r.shell) - seen0 < burst and time.monotonic() < deadline:
                r.shell._drain(r.shell.gateway)
            elapsed_s = (time.perf_counter_ns() - started) / 1e9
            consumed = _consumed(r.shell) - seen0
            coalesced = getattr(r.shell, "ticks_coalesced", 0)
            decided = r.shell.ticks_seen - seen0 - coalesced
        finally:
            r.shell.close()
            for sock in (pub, engine_pub, router):
                sock.close(0)
    return {"ticks_consumed_per_s": consumed / elapsed_s, "us_per_consumed_tick":
            elapsed_s * 1e6 / max(1, consumed), "ticks_coalesced": float(coalesced),
            "decisions": float(decided), "ticks": float(consumed)}


def bus_frames(tick: BookTick) -> tuple[bytes, bytes]:
    """The gateway's PUB frames of ``tick``."""
    from polyloly import messages

    return messages.topic(tick), messages.encode(tick)


def _consumed(shell: ShardShell) -> int:
    return shell.ticks_seen


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def run(markets: int, ticks: int, burst: int, repeats: int) -> dict[str, Any]:
    """Both measurements, ``repeats`` times each; medians and the per-run values."""
    tick_runs = [per_tick(markets, ticks) for _ in range(repeats)]
    drain_runs = [drained(markets, burst) for _ in range(repeats)]
    return {"per_tick": _median(tick_runs), "drained": _median(drain_runs),
            "runs": {"per_tick": tick_runs, "drained": drain_runs}}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.shard_tick", description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=50, help="markets in the measured shard")
    parser.add_argument("--ticks", type=int, default=20_000, help="ticks per per-tick run")
    parser.add_argument("--burst", type=int, default=20_000, help="ticks queued per drain run")
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement")
    parser.add_argument("--json", default=None, help="write the results as JSON here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run, print medians, optionally write JSON; exit status 0."""
    args = _parse(argv)
    params = {"markets": args.markets, "ticks": args.ticks, "burst": args.burst,
              "repeats": args.repeats}
    results = run(args.markets, args.ticks, args.burst, args.repeats)
    machine = machine_info()
    print(f"shard tick bench: {params}; {machine['nproc']} CPU, {machine['cpu_model']}")
    tick = results["per_tick"]
    print(f"per tick ({args.markets} markets): {tick['us_per_tick']:.1f} µs/tick "
          f"({tick['ticks_per_s']:.0f} ticks/s)")
    drain = results["drained"]
    print(f"drained backlog of {args.burst}: {drain['ticks_consumed_per_s']:.0f} ticks/s "
          f"({drain['us_per_consumed_tick']:.2f} µs/tick), {drain['ticks_coalesced']:.0f} "
          f"coalesced, {drain['decisions']:.0f} decided")
    if args.json:
        write_results(args.json, "shard_tick", params, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
