"""``polyloly bench throughput``: gateway messages per second on one core, and the decoder's share.

Three measurements, medians over ``--repeats``:

1. **decoders** — the same frames decoded by ``json.loads``, ``orjson.loads`` and the gateway's
   msgspec typed decoder (``gateway.polymarket.schemas.market_frame_decoder``), µs per frame;
2. **gateway core** — the real gateway's per-frame code (``GatewayApp._on_market_frame``: parse,
   BookKeeper, seqlock shm write, BookTick publish on its XPUB, metrics) called in one thread,
   for ``price_change`` and ``book`` messages, one per frame and ``--batch`` per frame (a JSON
   array, as the venue batches); messages/s = messages / elapsed, and the decoder's share of
   the per-frame cost;
3. **gateway process** — the ``polyloly-gateway`` process fed over a real WebSocket by the bench
   feed server as fast as it can send; messages per CPU-second of the gateway (utime+stime
   from /proc), i.e. what one core sustains with the WebSocket receive path included;
4. **shard core** — one shard's tick handler (``ShardShell._on_tick``) over real shm books in
   one thread, each tick after its own book write (``bench.shard_tick.per_tick``): ticks/s and
   µs per tick.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml

from bench.harness import procs
from bench.harness.feed_server import FeedServer
from bench.harness.load import LoadModel, bench_markets, market_config_entries
from bench.harness.machine import machine_info, write_results
from bench.harness.runs import HEALTH_TIMEOUT_S, LoadSpec, segment_name, write_config
from gateway.polymarket.schemas import market_frame_decoder


def make_frames(tokens: int, count: int, batch: int, kind: str) -> tuple[LoadModel, list[bytes]]:
    """``count`` messages of ``kind`` (``price_change`` or ``book``), ``batch`` per frame."""
    model = LoadModel(bench_markets(tokens, 1), 0.0)
    singles: list[bytes] = []
    ids = model.token_ids
    for index in range(count):
        if kind == "book":
            books = orjson.loads(model.book_frames([ids[index % len(ids)]], index)[0])
            singles.append(orjson.dumps(books[0]))
        else:
            singles.append(model.next_frame(index * 1000, index).payload)
    if batch <= 1:
        return model, singles
    frames = [b"[" + b",".join(singles[i : i + batch]) + b"]"
              for i in range(0, len(singles), batch)]
    return model, frames


def per_call_us(function: Callable[[bytes], object], frames: Sequence[bytes]) -> float:
    """Mean µs per call of ``function`` over ``frames``."""
    started = time.perf_counter_ns()
    for frame in frames:
        function(frame)
    return (time.perf_counter_ns() - started) / len(frames) / 1e3


def decoders(frames: Sequence[bytes]) -> dict[str, float]:
    """µs per frame for json, orjson and msgspec typed decoding of the same frames."""
    return {"json": per_call_us(json.loads, frames),
            "orjson": per_call_us(orjson.loads, frames),
            "msgspec_typed": per_call_us(market_frame_decoder.decode, frames)}


def gateway_core(tokens: int, frames: Sequence[bytes], model: LoadModel,
                 messages_per_frame: int) -> dict[str, float]:
    """Drive ``GatewayApp._on_market_frame`` over ``frames``; messages/s and µs per frame."""
    from gateway.main import GatewayApp
    from polyloly.config import load_config

    workdir = Path(tempfile.mkdtemp(prefix="plbt", dir="/tmp"))
    overlay = {"run": {"run_dir": str(workdir / "run"), "data_dir": str(workdir / "data")},
               "shm": {"segment_name": f"{workdir.name}_books"},
               "markets": market_config_entries(model.markets), "metrics": {"enabled": False}}
    (workdir / "bench.yaml").write_text(yaml.safe_dump(overlay), encoding="utf-8")
    app = GatewayApp(load_config(workdir / "bench.yaml"), adapters=[])
    try:
        assert app.keeper is not None
        app.keeper.mark_connected(model.token_ids)
        for frame in model.book_frames(model.token_ids, 1):
            app._on_market_frame(0, frame, time.monotonic_ns())
        started = time.perf_counter_ns()
        for frame in frames:
            app._on_market_frame(0, frame, time.monotonic_ns())
        app.publisher.flush()  # the live gateway flushes from housekeeping every 50 ms
        elapsed_s = (time.perf_counter_ns() - started) / 1e9
    finally:
        asyncio.run(app.close())
        shutil.rmtree(workdir, ignore_errors=True)
    return {"messages_per_s": len(frames) * messages_per_frame / elapsed_s,
            "us_per_frame": elapsed_s * 1e6 / len(frames)}


def shard_core(tokens: int, shards: int, ticks: int) -> dict[str, float]:
    """One shard's tick handler (``ShardShell._on_tick``) over real shm books, each tick after
    its own book write (:func:`bench.shard_tick.per_tick`); ticks/s and µs per tick."""
    from bench.shard_tick import per_tick

    markets_in_shard = len([m for m in bench_markets(tokens, shards) if m.shard == 0])
    return {**per_tick(markets_in_shard, ticks), "markets_in_shard": float(markets_in_shard)}


async def gateway_process(tokens: int, rate: float, seconds: float, batch: int) -> dict[str, float]:
    """The gateway process fed over WebSocket; messages per gateway CPU-second."""
    spec = LoadSpec(rate=rate, tokens=tokens, shards=1, seconds=seconds, trigger_fraction=0.0)
    workdir = Path(tempfile.mkdtemp(prefix="polyloly-bench-tp-", dir="/tmp"))
    model = LoadModel(spec.markets(), 0.0)
    proc = None
    held = procs.RunPorts(spec.shards)
    try:
        async with FeedServer(model) as server:
            config, ports = write_config(workdir, spec, server, held)
            proc = procs.launch("gateway", "gateway.main", ["--config", str(config)], workdir,
                                ports["gateway"])
            await procs.wait_healthy(proc, HEALTH_TIMEOUT_S)
            await asyncio.sleep(0.5)
            cpu_before = procs.cpu_seconds(proc.pid)
            load = await server.run_load(rate, seconds, batch=batch)
            await asyncio.sleep(0.5)
            cpu_s = procs.cpu_seconds(proc.pid) - cpu_before
            status = await asyncio.to_thread(
                procs.fetch_json, f"http://127.0.0.1:{ports['gateway']}/status")
            await procs.stop(proc)
    finally:
        try:
            procs.cleanup([proc] if proc is not None else [], [segment_name(workdir)])
        finally:
            held.release()
            shutil.rmtree(workdir, ignore_errors=True)
    messages = load.frames
    return {"messages_per_cpu_s": messages / cpu_s if cpu_s > 0 else 0.0,
            "gateway_cpu_share": cpu_s / load.seconds,
            "offered_messages_per_s": load.achieved_rate,
            "dead_letters": float((status or {}).get("dead_letters", -1))}


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def run(tokens: int, messages: int, batch: int, repeats: int, ws_rate: float,
        ws_seconds: float) -> dict[str, Any]:
    """Every measurement, ``repeats`` times; medians."""
    results: dict[str, Any] = {}
    for kind in ("price_change", "book"):
        for per_frame in (1, batch):
            model, frames = make_frames(tokens, messages, per_frame, kind)
            label = f"{kind}_{'batched' + str(per_frame) if per_frame > 1 else 'single'}"
            decode_runs = [decoders(frames) for _ in range(repeats)]
            core_runs = [gateway_core(tokens, frames, model, per_frame) for _ in range(repeats)]
            decode = _median(decode_runs)
            core = _median(core_runs)
            results[label] = {
                "decode_us_per_frame": decode,
                "gateway_core": core,
                "msgspec_share_of_gateway_core": decode["msgspec_typed"] / core["us_per_frame"],
            }
    results["shard_core"] = _median([shard_core(tokens, 2, messages // 2)
                                     for _ in range(repeats)])
    for per_frame in (1, batch):
        label = f"gateway_process_price_change_{'batched' if per_frame > 1 else 'single'}"
        process_runs = [asyncio.run(gateway_process(tokens, ws_rate, ws_seconds, per_frame))
                        for _ in range(repeats)]
        results[label] = _median(process_runs)
    return results


def print_report(results: dict[str, Any], params: dict[str, Any]) -> None:
    """Human-readable summary."""
    machine = machine_info()
    print(f"throughput bench: {params}")
    print(f"machine: {machine['nproc']} CPU, {machine['cpu_model']}, Python {machine['python']}")
    for label, values in results.items():
        if label == "shard_core":
            print(f"shard core (one of 2 shards, {values['markets_in_shard']:.0f} markets): "
                  f"{values['ticks_per_s']:.0f} ticks/s ({values['us_per_tick']:.1f} µs/tick)")
            continue
        if label.startswith("gateway_process"):
            print(f"{label}: {values['messages_per_cpu_s']:.0f} messages per gateway CPU-second "
                  f"(gateway used {values['gateway_cpu_share']:.0%} of a core at "
                  f"{values['offered_messages_per_s']:.0f} msg/s offered)")
            continue
        decode = values["decode_us_per_frame"]
        core = values["gateway_core"]
        print(f"{label}: gateway core {core['messages_per_s']:.0f} msg/s "
              f"({core['us_per_frame']:.1f} µs/frame); decode µs/frame json "
              f"{decode['json']:.1f} orjson {decode['orjson']:.1f} msgspec "
              f"{decode['msgspec_typed']:.1f} (msgspec = "
              f"{values['msgspec_share_of_gateway_core']:.0%} of the frame)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print a summary, optionally write ``--json OUT``; return 0."""
    parser = argparse.ArgumentParser(prog="polyloly bench throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=200, help="tokens (default 200)")
    parser.add_argument("--messages", type=int, default=40_000,
                        help="messages per core measurement (default 40000)")
    parser.add_argument("--batch", type=int, default=10,
                        help="messages per frame when batched (default 10)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats (default 3)")
    parser.add_argument("--ws-rate", type=float, default=20_000.0,
                        help="messages/s offered to the gateway process (default 20000)")
    parser.add_argument("--ws-seconds", type=float, default=5.0,
                        help="seconds of WebSocket load per process run (default 5)")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    args = parser.parse_args(argv)
    params = {k: getattr(args, k) for k in ("tokens", "messages", "batch", "repeats", "ws_rate",
                                            "ws_seconds")}
    results = run(args.tokens, args.messages, args.batch, args.repeats, args.ws_rate,
                  args.ws_seconds)
    print_report(results, params)
    if args.json:
        write_results(args.json, "throughput", params, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
