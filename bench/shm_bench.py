"""``polyloly bench shm``: cost of the shared-memory book store, against sending depth over ZMQ.

Measured, as medians over ``--repeats`` runs (spread = min..max of the run medians):

* writer: one ``book`` snapshot (2 × ``--book-levels`` levels) and one single-level change;
* reader: one consistent copy of the top ``--levels`` levels, one ``read_top``, one effective
  price walk (BUY, a size that takes ~3 levels);
* cross-process visibility: time from the writer starting ``apply_changes`` to a *spinning*
  reader process holding a consistent top-N copy (p50/p99 per run);
* baseline in the same run: the writer process sends the top-N depth of every update over a
  ZeroMQ ``ipc://`` PUSH socket to a *blocking* PULL reader that decodes it (p50/p99), and the
  ratio ZMQ / shm. The ZMQ path excludes book maintenance (it only ships ready arrays), so the
  ratio is conservative for shm.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from array import array
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import zmq

from shm import BookReader, BookWriter

TOKEN = "1" * 77
FORK = mp.get_context("fork")


def _percentile(sorted_values: Sequence[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def _per_call_ns(function: Callable[[], object], calls: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(calls):
        function()
    return (time.perf_counter_ns() - started) / calls


def _book(levels: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    bids = [(round(0.500 - 0.001 * k, 3), 100.0 + k) for k in range(levels)]
    asks = [(round(0.502 + 0.001 * k, 3), 100.0 + k) for k in range(levels)]
    return bids, asks


def _micro(name: str, levels: int, book_levels: int, calls: int) -> dict[str, float]:
    bids, asks = _book(book_levels)
    with BookWriter.create(name, [TOKEN], levels=max(levels, 32)) as writer, \
            BookReader.attach(name) as reader:
        snapshot_ns = _per_call_ns(
            lambda: writer.apply_snapshot(TOKEN, bids, asks, t_recv_ns=1, exchange_ts_ms=1),
            calls)
        flip = [0]

        def change() -> None:
            flip[0] ^= 1
            writer.apply_changes(TOKEN, [("BUY", 0.499, 50.0 + flip[0])], t_recv_ns=1,
                                 exchange_ts_ms=1)

        change_ns = _per_call_ns(change, calls)
        copy_ns = _per_call_ns(lambda: reader.snapshot(0, levels), calls)
        top_ns = _per_call_ns(lambda: reader.read_top(0), calls)
        snap = reader.snapshot(0, levels)
        walk_ns = _per_call_ns(lambda: snap.effective_price("BUY", 250.0), calls)
    return {
        "writer_snapshot_us": snapshot_ns / 1e3,
        "writer_change_us": change_ns / 1e3,
        "reader_copy_top_n_us": copy_ns / 1e3,
        "reader_read_top_us": top_ns / 1e3,
        "reader_effective_price_us": walk_ns / 1e3,
    }


def _shm_reader(name: str, levels: int, count: int, ready: Any, out: Connection) -> None:
    latencies: list[int] = []
    with BookReader.attach(name, timeout_s=10.0) as reader:
        seq = reader.seq(0)
        ready.set()
        while len(latencies) < count:
            new_seq = reader.wait_for_change(0, seq, timeout_s=5.0)
            if new_seq is None:
                break
            snap = reader.snapshot(0, levels)
            latencies.append(time.monotonic_ns() - snap.t_recv_ns)
            seq = snap.seq
    out.send(latencies)


def _visibility_shm(name: str, levels: int, count: int, gap_s: float) -> list[int]:
    bids, asks = _book(30)
    with BookWriter.create(name, [TOKEN], levels=max(levels, 32)) as writer:
        writer.apply_snapshot(TOKEN, bids, asks, t_recv_ns=0, exchange_ts_ms=0)
        ready = FORK.Event()
        receive, send = FORK.Pipe(duplex=False)
        child = FORK.Process(target=_shm_reader, args=(name, levels, count, ready, send))
        child.start()
        ready.wait(10)
        for k in range(count + 50):  # extra updates cover ones the reader coalesced
            writer.apply_changes(TOKEN, [("BUY", 0.499, 50.0 + (k & 1))],
                                 t_recv_ns=time.monotonic_ns(), exchange_ts_ms=k)
            time.sleep(gap_s)
            if receive.poll(0):
                break
        latencies: list[int] = receive.recv() if receive.poll(10) else []
        child.join(10)
    return latencies


def _zmq_reader(endpoint: str, count: int, ready: Any, out: Connection) -> None:
    context = zmq.Context()
    pull = context.socket(zmq.PULL)
    pull.connect(endpoint)
    ready.set()
    latencies: list[int] = []
    while len(latencies) < count:
        if not pull.poll(5000):
            break
        frame = pull.recv(copy=True)
        header = memoryview(frame)[:16].cast("q")
        depth = memoryview(frame)[16:].cast("d").tolist()
        n = int(header[1])
        bids = list(zip(depth[:n], depth[n : 2 * n], strict=True))
        asks = list(zip(depth[2 * n : 3 * n], depth[3 * n :], strict=True))
        if bids and asks:
            latencies.append(time.monotonic_ns() - header[0])
    pull.close(0)
    context.term()
    out.send(latencies)


def _visibility_zmq(levels: int, count: int, gap_s: float) -> list[int]:
    run_dir = tempfile.mkdtemp(prefix="plbench_")
    endpoint = f"ipc://{run_dir}/depth.sock"
    context = zmq.Context()
    push = context.socket(zmq.PUSH)
    push.setsockopt(zmq.SNDHWM, 100_000)
    push.bind(endpoint)
    ready = FORK.Event()
    receive, send = FORK.Pipe(duplex=False)
    child = FORK.Process(target=_zmq_reader, args=(endpoint, count, ready, send))
    child.start()
    ready.wait(10)
    time.sleep(0.05)  # let the connect complete
    bids, asks = _book(levels)
    bid_p = [p for p, _ in bids]
    bid_s = [s for _, s in bids]
    ask_p = [p for p, _ in asks]
    ask_s = [s for _, s in asks]
    for k in range(count):
        t0 = time.monotonic_ns()
        bid_s[0] = 50.0 + (k & 1)
        payload = array("q", [t0, levels]).tobytes() + array("d", bid_p + bid_s + ask_p
                                                            + ask_s).tobytes()
        push.send(payload)
        time.sleep(gap_s)
    latencies: list[int] = receive.recv() if receive.poll(10) else []
    child.join(10)
    push.close(0)
    context.term()
    for leftover in os.listdir(run_dir):
        os.unlink(os.path.join(run_dir, leftover))
    os.rmdir(run_dir)
    return latencies


def _summary(samples: list[float]) -> dict[str, float]:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def run(repeats: int, levels: int, book_levels: int, calls: int, updates: int,
        gap_s: float) -> dict[str, Any]:
    """Run every measurement ``repeats`` times; return medians and spreads (µs)."""
    micro_runs: list[dict[str, float]] = []
    visibility: dict[str, list[float]] = {
        "shm_p50_us": [], "shm_p99_us": [], "zmq_p50_us": [], "zmq_p99_us": []}
    for _ in range(repeats):
        name = f"plbench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        micro_runs.append(_micro(name, levels, book_levels, calls))
        shm_lat = sorted(_visibility_shm(name, levels, updates, gap_s))
        zmq_lat = sorted(_visibility_zmq(levels, updates, gap_s))
        if shm_lat:
            visibility["shm_p50_us"].append(_percentile(shm_lat, 0.50) / 1e3)
            visibility["shm_p99_us"].append(_percentile(shm_lat, 0.99) / 1e3)
        if zmq_lat:
            visibility["zmq_p50_us"].append(_percentile(zmq_lat, 0.50) / 1e3)
            visibility["zmq_p99_us"].append(_percentile(zmq_lat, 0.99) / 1e3)
    results: dict[str, Any] = {
        key: _summary([run[key] for run in micro_runs]) for key in micro_runs[0]}
    for key, values in visibility.items():
        if values:
            results[key] = _summary(values)
    if visibility["shm_p50_us"] and visibility["zmq_p50_us"]:
        results["ratio_zmq_over_shm_p50"] = (results["zmq_p50_us"]["median"]
                                             / results["shm_p50_us"]["median"])
        results["ratio_zmq_over_shm_p99"] = (results["zmq_p99_us"]["median"]
                                             / results["shm_p99_us"]["median"])
    return results


def _print(results: dict[str, Any], params: dict[str, Any]) -> None:
    print(f"shm bench: {params}")
    print(f"{'measure':<30} {'median':>10} {'spread (min..max of runs)':>28}")
    for key, value in results.items():
        if isinstance(value, dict):
            spread = f"{value['min']:.2f}..{value['max']:.2f}"
            print(f"{key:<30} {value['median']:>10.2f} {spread:>28}")
        else:
            print(f"{key:<30} {value:>10.2f}")
    print("units: µs; visibility = writer call start → reader holds a consistent top-N copy "
          "(shm, spinning reader) or decoded frame (ZMQ ipc PUSH→PULL, blocking reader)")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a table, optionally write ``--json OUT``; return 0."""
    parser = argparse.ArgumentParser(prog="polyloly bench shm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="runs (default 5)")
    parser.add_argument("--levels", type=int, default=10, help="top-N copied/sent (default 10)")
    parser.add_argument("--book-levels", type=int, default=30,
                        help="levels per side of the snapshot the writer applies (default 30)")
    parser.add_argument("--calls", type=int, default=5_000,
                        help="calls per micro measurement per run (default 5000)")
    parser.add_argument("--updates", type=int, default=2_000,
                        help="updates per visibility measurement per run (default 2000)")
    parser.add_argument("--gap-us", type=float, default=200.0,
                        help="pause between updates in visibility runs, µs (default 200)")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    args = parser.parse_args(argv)
    params = {"repeats": args.repeats, "levels": args.levels, "book_levels": args.book_levels,
              "calls": args.calls, "updates": args.updates, "gap_us": args.gap_us}
    results = run(args.repeats, args.levels, args.book_levels, args.calls, args.updates,
                  args.gap_us / 1e6)
    _print(results, params)
    if args.json:
        report = {
            "bench": "shm",
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                        "python": sys.version.split()[0]},
            "params": params,
            "results": results,
        }
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
