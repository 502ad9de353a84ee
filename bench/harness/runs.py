"""One measured run of each path — PolyLOL, the floor, the baseline — under the same load.

Each run gets a fresh :class:`~bench.harness.load.LoadModel` (same seed, so the same frames), a
fresh :class:`~bench.harness.feed_server.FeedServer`, a fresh run directory and config, starts
its processes, waits until each is healthy, warms up, sends ``rate`` frames/s for ``seconds``,
lets the pipeline drain, stops everything (SIGTERM, bounded) and returns the stage samples in
ns with the counts needed to check that nothing was dropped.

Success or failure, every run ends the same way (``finally``): processes still alive are killed
and reaped, the run's shm book stores are removed when their writer is gone, the run's held
ports (:class:`~bench.harness.procs.RunPorts`) are released and its directory
``/tmp/polyloly-bench-*`` is deleted (unless ``keep``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.harness import procs
from bench.harness.feed_server import FeedServer, LoadResult
from bench.harness.floor import floor_samples
from bench.harness.load import BenchMarket, LoadModel, bench_markets, market_config_entries
from bench.harness.procs import Proc, RunPorts
from bench.harness.stamps import IntentStamps, scan_journal, stage_samples

HEALTH_TIMEOUT_S = 30.0
WARMUP_S = 1.0
DRAIN_S = 0.5
_RUN_COUNTER = [0]


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """What every path of one comparison is driven with."""

    rate: float  # frames per second
    tokens: int
    shards: int
    seconds: float
    trigger_fraction: float = 0.005
    shard_wait: str = "block"

    def markets(self) -> list[BenchMarket]:
        return bench_markets(self.tokens, self.shards)


@dataclass(slots=True)
class RunResult:
    """Samples (ns) per stage, the load that produced them, and what was counted."""

    path: str
    samples: dict[str, list[int]]
    load: LoadResult
    counts: dict[str, Any] = field(default_factory=dict)
    intents: list[IntentStamps] = field(default_factory=list)


Chaos = Callable[[dict[str, Proc], Path], Coroutine[Any, Any, None]]
"""Called once the load started, with the live processes by name (``shard-0``...) and the run
directory; the isolation bench kills and restarts a shard from here."""


def _workdir() -> Path:
    _RUN_COUNTER[0] += 1
    # ipc:// paths must stay under ~100 bytes: a short directory under /tmp, named like every
    # PolyLOL run dir so the test session's leftover check sees it.
    return Path(tempfile.mkdtemp(prefix=f"polyloly-bench-{os.getpid()}-{_RUN_COUNTER[0]}-",
                                 dir="/tmp"))


def segment_name(workdir: Path) -> str:
    """The run's shm book store (``shm.segment_name`` in its config)."""
    return f"{workdir.name.replace('-', '_')}_books"


def write_config(workdir: Path, spec: LoadSpec, server: FeedServer,
                 held: RunPorts) -> tuple[Path, dict[str, int]]:
    """Write the bench config overlay for one run (metrics ports from ``held``); return its
    path and the metrics ports."""
    ports = held.as_dict()
    overlay: dict[str, Any] = {
        "run": {"run_dir": str(workdir / "run"), "data_dir": str(workdir / "data"),
                "run_id": workdir.name},
        "shm": {"segment_name": segment_name(workdir), "levels": 32},
        "bus": {"shard_wait": spec.shard_wait},
        "polymarket": {"market_ws_url": server.url, "clob_rest_url": server.http_url,
                       "matching_delay_s": 0.0, "ping_interval_s": 3600.0,
                       "pong_timeout_s": 7200.0, "snapshot_timeout_s": 60.0},
        "providers": {},
        "markets": market_config_entries(spec.markets()),
        "shards": {"count": spec.shards},
        # Pair cooldown > the model's hold (50 ms) and < its trigger gap (1 s): only trigger
        # frames cause intents. Limits far away so a long run never stops trading.
        "pair_arb": {"cooldown_ms": 500, "max_position_usdc": 1e12},
        "temporal_arb": {"enabled": False},
        "risk": {"max_market_exposure_usdc": 1e12, "max_total_exposure_usdc": 1e12,
                 "max_exposure_per_group_usdc": 1e12, "max_daily_loss_usdc": 1e12,
                 "max_slippage_bps": 10000.0, "max_leg_imbalance_usdc": 1e12,
                 "drawdown_sizing_start_usdc": 1e11,
                 # One mid of history is below the sizer's minimum: a constant 0.5 factor, so
                 # both legs get the same size (else the trigger's mid jump sizes them apart
                 # and the shard spends its time rebalancing).
                 "volatility_lookback_ticks": 1},
        "execution": {"executor": "paper", "cancel_on_shutdown": False},
        "metrics": {"gateway_port": ports["gateway"], "engine_port": ports["engine"],
                    "shard_base_port": ports["shard_base"]},
        "logging": {"level": "INFO"},
    }
    path = workdir / "bench.yaml"
    path.write_text(yaml.safe_dump(overlay, sort_keys=False), encoding="utf-8")
    return path, ports


def _clean(workdir: Path, keep: bool, started: list[Proc], held: RunPorts,
           segments: list[str]) -> None:
    """The end of every run (see the module docstring); the ports go last, after the
    processes that served on them."""
    try:
        procs.cleanup(started, segments)
    finally:
        held.release()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


async def _load(server: FeedServer, spec: LoadSpec) -> LoadResult:
    await asyncio.sleep(WARMUP_S)
    result = await server.run_load(spec.rate, spec.seconds)
    await asyncio.sleep(DRAIN_S)
    return result


async def run_polyloly(spec: LoadSpec, *, chaos: Chaos | None = None,
                       keep: bool = False) -> RunResult:
    """The real processes: engine, gateway, ``spec.shards`` shards (paper executor)."""
    workdir = _workdir()
    model = LoadModel(spec.markets(), spec.trigger_fraction)
    started: list[Proc] = []
    by_name: dict[str, Proc] = {}
    held = RunPorts(spec.shards)
    try:
        async with FeedServer(model) as server:
            config, ports = write_config(workdir, spec, server, held)
            args = ["--config", str(config)]

            async def start(name: str, module: str, extra: list[str], port: int) -> None:
                proc = procs.launch(name, module, args + extra, workdir, port)
                started.append(proc)
                by_name[name] = proc
                await procs.wait_healthy(proc, HEALTH_TIMEOUT_S)

            await start("engine", "engine.main", ["--new-state"], ports["engine"])  # fresh dir
            await start("gateway", "gateway.main", [], ports["gateway"])
            for k in range(spec.shards):
                await start(f"shard-{k}", "shards.main", ["--shard", str(k)], held.shard(k))
            gateway = by_name["gateway"]
            status_url = f"http://127.0.0.1:{ports['gateway']}/status"
            before = await asyncio.to_thread(procs.fetch_json, status_url)
            cpu_before = procs.cpu_seconds(gateway.pid)
            cpu_all_before = {n: (p.pid, procs.cpu_seconds(p.pid)) for n, p in by_name.items()}
            load_started = time.monotonic()
            chaos_task = (asyncio.create_task(chaos(by_name, workdir)) if chaos is not None
                          else None)
            load = await _load(server, spec)
            after, drain_s = await _wait_gateway_drained(status_url, before, load.delivered)
            cpu_after = procs.cpu_seconds(gateway.pid)
            busy_s = time.monotonic() - load_started
            cpu_share = {n: round((procs.cpu_seconds(p.pid) - cpu_all_before[n][1]) / busy_s, 3)
                         for n, p in by_name.items()
                         if p.alive and cpu_all_before.get(n, (0, 0.0))[0] == p.pid}
            if chaos_task is not None:
                await chaos_task
            for proc in reversed(list(by_name.values())):
                await procs.stop(proc)
        scan = scan_journal(workdir / "data" / "events")
        counts = _gateway_counts(before, after, load)
        counts.update({
            "drain_after_load_s": round(drain_s, 2),
            "cpu_share_during_load": cpu_share,
            "gateway_cpu_s": cpu_after - cpu_before,
            "gateway_cpu_us_per_frame": (cpu_after - cpu_before) * 1e6 / max(1, load.frames),
            "intents_expected": 2 * load.by_kind.get("trigger", 0),
            "intents_seen_by_engine": len(scan.intents),
            "intents_complete": sum(1 for i in scan.intents if i.complete),
            "intents_rejected": scan.rejected,
            "intents_other_strategies": scan.other_strategies,
            "journal_unreadable_lines": scan.unreadable_lines,
            "exit_codes": {name: p.popen.returncode for name, p in by_name.items()},
        })
        return RunResult("polyloly", stage_samples(scan.intents), load, counts, scan.intents)
    finally:
        _clean(workdir, keep, [*started, *by_name.values()], held, [segment_name(workdir)])


def _market_frames(status: dict[str, Any] | None) -> int:
    if status is None:
        return 0
    return sum(s.get("frames", 0) for name, s in status.get("sessions", {}).items()
               if name.startswith("market"))


async def _wait_gateway_drained(status_url: str, before: dict[str, Any] | None, delivered: int,
                                timeout_s: float = 30.0) -> tuple[dict[str, Any] | None, float]:
    """Poll ``/status`` until the gateway has read every delivered frame (a saturated gateway
    reads its socket backlog late, it does not lose it); return the status and the seconds it
    took after the load ended (plus the fixed drain pause)."""
    started = time.monotonic()
    target = _market_frames(before) + delivered
    status = await asyncio.to_thread(procs.fetch_json, status_url)
    while _market_frames(status) < target and time.monotonic() - started < timeout_s:
        await asyncio.sleep(0.1)
        status = await asyncio.to_thread(procs.fetch_json, status_url)
    return status, time.monotonic() - started + DRAIN_S


def _gateway_counts(before: dict[str, Any] | None, after: dict[str, Any] | None,
                    load: LoadResult) -> dict[str, Any]:
    if before is None or after is None:
        return {"gateway_status": "unavailable"}

    received = _market_frames(after) - _market_frames(before)
    return {
        "frames_sent": load.delivered,
        "frames_received_by_gateway": received,
        "frames_dropped": load.delivered - received,
        "ticks_coalesced": after.get("ticks_coalesced", 0) - before.get("ticks_coalesced", 0),
        "dead_letters": after.get("dead_letters", 0) - before.get("dead_letters", 0),
        "books_not_ready_after": after.get("books_not_ready"),
    }


async def run_floor(spec: LoadSpec, *, keep: bool = False) -> RunResult:
    """The floor processes (:mod:`bench.harness.floor`): same load, no logic."""
    workdir = _workdir()
    model = LoadModel(spec.markets(), spec.trigger_fraction)
    started: list[Proc] = []
    out = workdir / "floor_engine.json"
    held = RunPorts(spec.shards)
    try:
        async with FeedServer(model) as server:
            config, _ = write_config(workdir, spec, server, held)
            base = ["--config", str(config)]

            async def start(name: str, extra: list[str]) -> Proc:
                port = held.extra()
                proc = procs.launch(name, "bench.harness.floor",
                                    [extra[0], *base, "--health-port", str(port), *extra[1:]],
                                    workdir, port)
                started.append(proc)
                await procs.wait_healthy(proc, HEALTH_TIMEOUT_S)
                return proc

            await start("floor-engine", ["engine", "--out", str(out)])
            await start("floor-gateway", ["gateway", "--url", server.url])
            await server.wait_subscribed(spec.tokens, HEALTH_TIMEOUT_S)
            for k in range(spec.shards):
                await start(f"floor-shard-{k}", ["shard", "--shard", str(k)])
            load = await _load(server, spec)
            for proc in reversed(started):
                await procs.stop(proc)
        samples = floor_samples(str(out)) if out.exists() else {}
        seen = len(samples.get("tick_to_intent", []))
        counts = {"hops_expected": load.by_kind.get("trigger", 0), "hops_seen": seen}
        return RunResult("floor", samples, load, counts)
    finally:
        # the floor gateway's store: bench.harness.floor names it after the config's
        _clean(workdir, keep, started, held, [segment_name(workdir) + "_floor"])


async def run_baseline(spec: LoadSpec, *, keep: bool = False) -> RunResult:
    """The single-process asyncio baseline (:mod:`bench.baseline`)."""
    workdir = _workdir()
    model = LoadModel(spec.markets(), spec.trigger_fraction)
    proc: Proc | None = None
    out = workdir / "baseline.json"
    held = RunPorts(spec.shards)
    try:
        async with FeedServer(model) as server:
            config, _ = write_config(workdir, spec, server, held)
            port = held.extra()
            proc = procs.launch("baseline", "bench.baseline",
                                ["--config", str(config), "--url", server.url, "--out", str(out),
                                 "--health-port", str(port)], workdir, port)
            await procs.wait_healthy(proc, HEALTH_TIMEOUT_S)
            await server.wait_subscribed(spec.tokens, HEALTH_TIMEOUT_S)
            load = await _load(server, spec)
            await procs.stop(proc)
        data: dict[str, Any] = (json.loads(out.read_text(encoding="utf-8")) if out.exists()
                                else {"samples": {}})
        samples: dict[str, list[int]] = data["samples"]
        counts = {"intents_expected": 2 * load.by_kind.get("trigger", 0),
                  "intents_seen": len(samples.get("tick_to_intent", [])),
                  "bad_or_coalesced_frames": data.get("bad_frames", 0)}
        return RunResult("baseline", samples, load, counts)
    finally:
        _clean(workdir, keep, [proc] if proc is not None else [], held, [])
