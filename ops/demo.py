"""``polyloly demo``: the simulator plus the whole system, paper trading, with a report.

1. start ``polyloly sim`` (a local Polymarket CLOB V2 and esports feeds) on free ports;
2. write a config for it under ``runs/<run_id>/config.yaml``;
3. run the gateway, N shards and the engine under the supervisor (recording the raw inbound
   stream to ``runs/<run_id>/recording/``), with a live console view;
4. when the scenario is over, shut everything down gracefully and write
   ``runs/<run_id>/summary.json`` and ``runs/<run_id>/report.html``.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import yaml

from ops.commands import fetch_json, process_ports, prometheus_scrape_config
from ops.console import LinePrinter, LiveConsole, build_view, print_summary
from ops.demo_observer import Observer
from ops.demo_summary import build_summary, write_report
from ops.startup_checks import run_checks
from ops.supervisor import (
    Supervisor,
    SupervisorPolicy,
    build_children,
    child_command,
    child_env,
)
from ops.truth_audit import GROUND_TRUTH_FILE
from polyloly.bus import private_umask
from polyloly.config import PRIVATE_KEY_ENV, Config, ConfigError, load_config
from polyloly.logs import get_logger, setup_logging
from polyloly.ports import PortReservation, reserve_ports
from shm.writer import reclaim_stale_store

log = get_logger("demo")

# sim endpoint name → (provider config name, tier)
PROVIDER_ENDPOINTS: dict[str, str] = {
    "grid": "grid",
    "lolesports": "lolesports",
    "pandascore": "pandascore",
    "opendota": "opendota",
    "liquipedia": "liquipedia",
    "polymarket_sports": "polymarket_sports",
}


_HELD_PORTS: list[PortReservation] = []


def held_ports(count: int, *, contiguous: bool = False) -> tuple[int, ...]:
    """``count`` ports chosen by the OS (``contiguous``: shard K serves on
    ``shard_base_port + K``, every port of the block verified free), held bound until this
    process exits so nothing else takes them before the children bind (polyloly.ports)."""
    reservation = reserve_ports(count, contiguous=contiguous)
    _HELD_PORTS.append(reservation)
    return reservation.ports


@atexit.register
def _release_ports() -> None:
    for reservation in _HELD_PORTS:
        reservation.release()
    _HELD_PORTS.clear()


def remove_run_leftovers(config: Config) -> None:
    """After the demo's processes stopped: remove the ipc run dir and the books of a gateway
    that could not unlink them itself (a live writer's books are never touched)."""
    shutil.rmtree(config.run.run_dir, ignore_errors=True)
    reclaim_stale_store(config.shm.segment_name)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def start_simulator(
    scenario: str, speed: float, seed: int | None, log_path: Path, timeout_s: float = 60.0,
    env: dict[str, str] | None = None, ground_truth: Path | None = None,
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start ``polyloly sim`` and return it with the endpoints of its first stdout line.

    The simulator never sees our venue secrets (issue 20 #12): ``env`` (default: ours) without
    the private key and the L2 API credentials."""
    sim_env = child_env(dict(os.environ) if env is None else env, "simulator",
                        PRIVATE_KEY_ENV)
    args = ["--scenario", scenario, "--port", "0", "--speed", str(speed)]
    if seed is not None:
        args += ["--seed", str(seed)]
    if ground_truth is not None:  # the world's timeline, written when the simulator stops
        args += ["--ground-truth", str(ground_truth)]
    log_file = log_path.open("ab")
    process = subprocess.Popen(
        child_command("sim.cli", args), stdout=subprocess.PIPE, stderr=log_file,
        start_new_session=True, env=sim_env,
    )
    assert process.stdout is not None
    ready: dict[str, Any] = {}

    def read_first_line() -> None:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line:
            ready.update(orjson.loads(line))

    reader = threading.Thread(target=read_first_line, daemon=True)
    reader.start()
    reader.join(timeout_s)
    if not ready:
        process.kill()
        raise RuntimeError(f"simulator did not print its endpoints within {timeout_s:.0f}s "
                           f"(see {log_path})")
    return process, ready


def demo_config(
    scenario: Any, endpoints: dict[str, Any], run_id: str, run_root: Path, shards: int,
    executor: str, speed: float = 1.0,
) -> dict[str, Any]:
    """The config overlay that points every component at the simulator.

    The simulator runs ``speed`` times faster than real time, so every duration the system
    relies on to match the world's pace (matching delay, reaction window, poll cadence) is
    divided by ``speed``; protocol timeouts are not.
    """
    providers: dict[str, Any] = {}
    fast = {"poll_interval_ms": max(200, int(1000 / speed)), "max_requests_per_minute": 6000}
    for endpoint_name, provider in PROVIDER_ENDPOINTS.items():
        url = endpoints.get(endpoint_name)
        if not url:
            continue
        url = str(url)
        if provider in ("pandascore", "polymarket_sports"):
            url = url.replace("http://", "ws://", 1)
        if provider == "polymarket_sports" and not url.rstrip("/").endswith("/ws"):
            url = url.rstrip("/") + "/ws"
        providers[provider] = {"enabled": True, "url": url, **fast}
    if "lolesports" in providers:
        providers["lolesports"]["expected_delay_ms"] = max(1000, int(10_000 / speed))
    matches = {match.match_id: match for match in scenario.matches}
    markets = []
    for market in scenario.markets:
        if market.match_id not in matches or market.market_type != "moneyline":
            continue  # the strategies price series winners; map and neg-risk markets are not
        match = matches[market.match_id]
        ids = match.provider_ids
        markets.append({
            "market_id": market.condition_id,
            "token_ids": list(market.token_ids),
            "outcomes": list(market.outcomes),
            "match_id": market.match_id,
            "game": match.game,
            "teams": list(match.teams),
            "best_of": match.best_of,
            "correlation_group": match.league or "default",
            "tick_size": market.tick_size,
            "min_order_size": market.min_order_size,
            "taker_fee_rate": market.taker_fee_rate,
            "neg_risk": market.neg_risk,
            "provider_ids": {
                "grid": ids.grid_series_id,
                "lolesports": ids.lolesports_match_id,
                "lolesports_game_ids": list(ids.lolesports_game_ids),
                "pandascore": str(ids.pandascore_match_id),
                "opendota": str(ids.opendota_match_id),
                "liquipedia": ids.liquipedia_page,
                "polymarket_sports": str(ids.polymarket_game_id),
            },
        })
    return {
        "run": {"mode": "paper", "run_dir": f"/tmp/polyloly-{run_id}",
                "data_dir": str(run_root / "data"), "run_id": run_id},
        "shm": {"segment_name": f"polyloly_{run_id.replace('-', '_')}"},
        "polymarket": {
            "clob_rest_url": endpoints["clob_rest"],
            "market_ws_url": endpoints["market_ws"],
            "user_ws_url": endpoints["user_ws"],
            "sports_ws_url": providers.get("polymarket_sports", {}).get(
                "url", "ws://127.0.0.1:9/ws"),
            "matching_delay_s": scenario.matching_delay_s / speed,
        },
        "temporal_arb": {"max_reaction_ms": max(1000, int(30_000 / speed))},
        "maker": {"enabled": True},  # the demo shows maker quotes (off by default: specs/06)
        "providers": providers,
        "markets": markets,
        "shards": {"count": shards},
        "execution": {"executor": executor},
        "metrics": dict(zip(("gateway_port", "engine_port"), held_ports(2), strict=True),
                        shard_base_port=held_ports(max(1, shards), contiguous=True)[0]),
        "alerts": {"telegram": {"enabled": False}},
    }


def _poll(config: Config) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """Every process's /status body and /health code (0: unreachable)."""
    ports = process_ports(config)
    statuses = {name: fetch_json(port, "/status", 0.5)[1] for name, port in ports.items()}
    health = {name: fetch_json(port, "/health", 0.5)[0] for name, port in ports.items()}
    return statuses, health


def run_demo(args: argparse.Namespace) -> int:
    from sim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    private_umask()  # the run dir, its logs, DB and report: ours only (issue 20 #13)
    run_id = new_run_id()
    run_root = Path(args.runs_dir) / run_id
    (run_root / "logs").mkdir(parents=True, exist_ok=True)
    setup_logging("INFO", file=str(run_root / "logs" / "demo.jsonl"), run_id=run_id)
    print(f"PolyLOL demo {run_id}: scenario {scenario.name}, {len(scenario.markets)} markets, "
          f"{args.shards} shards, executor {args.executor}, speed x{args.speed}", flush=True)
    if args.executor == "paper":
        print("PAPER TRADING — no real orders are sent anywhere.", flush=True)
    sim_process, endpoints = start_simulator(
        args.scenario, args.speed, args.seed, run_root / "logs" / "sim.log",
        ground_truth=run_root / GROUND_TRUTH_FILE,
    )
    env = dict(os.environ)
    supervisor: Supervisor | None = None
    observer: Observer | None = None
    config: Config | None = None
    try:
        config_path = run_root / "config.yaml"
        overlay = demo_config(scenario, endpoints, run_id, run_root, args.shards, args.executor,
                              args.speed)
        if args.executor == "real":
            env.setdefault("POLYMARKET_PRIVATE_KEY", _throwaway_key())
            env["LIVE_TRADING"] = "1"
        config_path.write_text(yaml.safe_dump(overlay, sort_keys=False))
        config = load_config(config_path, env)
        # a scrape config for the ports this run picked: prometheus --config.file=<it>
        (run_root / "prometheus.yml").write_text(prometheus_scrape_config(config))
        report = asyncio.run(run_checks(config, environ=env))
        print(report.render(), flush=True)
        if not report.passed:
            raise RuntimeError("startup checks failed (see above)")
        children = build_children(config, str(config_path), args.shards,
                                  str(run_root / "recording"), new_state=True)  # fresh run dir
        supervisor = Supervisor(config, children, env, SupervisorPolicy(health_timeout_s=60),
                                log_dir=run_root / "logs")
        observer = Observer(config)
        observer.start()
        started = time.monotonic()
        supervisor.start()
        duration_s = args.duration or scenario.duration_s / args.speed + 3.0
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        mode = ("PAPER trading" if args.executor == "paper"
                else "REAL executor on the simulator")
        title = f"PolyLOL demo {run_id} · {scenario.name} · {mode} · x{args.speed:g}"
        printer = LinePrinter(sys.stdout)
        # a pipe or a log file gets the line printer: redrawn frames would only add noise
        live = None if args.no_ui or not sys.stdout.isatty() else LiveConsole()
        try:
            if live is not None:
                live.__enter__()
            next_frame = 0.0
            while not stop.is_set() and time.monotonic() - started < duration_s:
                supervisor.watch_once(time.monotonic())
                if live is None:
                    fresh, printer.seen = observer.events_since(printer.seen)
                    printer.events(fresh)
                now = time.monotonic()
                if now >= next_frame:  # /status and /health once a second
                    next_frame = now + 1.0
                    statuses, health = _poll(config)
                    observer.record_statuses(statuses)
                    view = build_view(config, statuses, health, observer, now - started,
                                      duration_s, title)
                    if live is not None:
                        live.update(view)
                    else:
                        printer.progress(view)
                stop.wait(0.2)
            if live is None and 'view' in locals():
                printer.progress(view, force=True)
        finally:
            if live is not None:
                live.__exit__(None, None, None)
        final_status = {name: fetch_json(port, "/status", 2.0)[1]
                        for name, port in process_ports(config).items()}
    finally:
        if supervisor is not None:
            supervisor.stop()
        if observer is not None:
            observer.stop()
        sim_process.send_signal(signal.SIGTERM)
        try:
            sim_process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sim_process.kill()
            sim_process.wait(5)
        if config is not None:
            remove_run_leftovers(config)
    summary, data = build_summary(
        run_id, scenario.name, config, observer, supervisor, final_status, run_root
    )
    (run_root / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    write_report(run_root / "report.html", summary, data)
    print_summary(summary, [("summary", str(run_root / "summary.json")),
                            ("report", str(run_root / "report.html")),
                            ("logs", str(run_root / "logs"))])
    for failure in summary["failures"]:  # the run failed whatever the figures say
        print(f"polyloly demo: FAILED: {failure}", file=sys.stderr)
    return 1 if summary["failures"] else 0


def _throwaway_key() -> str:
    return "0x" + secrets.token_hex(32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="polyloly demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="demo_short",
                        help="scenario name (sim/scenarios/) or YAML path (default demo_short)")
    parser.add_argument("--shards", type=int, default=2, help="shard processes (default 2)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="scenario time speed-up (default 1)")
    parser.add_argument("--seed", type=int, default=None, help="override the scenario seed")
    parser.add_argument("--no-ui", action="store_true",
                        help="no live console: print one line per fill or alert and a "
                             "progress line every 10 s")
    parser.add_argument("--executor", choices=("paper", "real"), default="paper",
                        help="paper (default) or real: the live path against the simulator")
    parser.add_argument("--duration", type=float, default=None, help="override run seconds")
    parser.add_argument("--runs-dir", default="runs",
                        help="where runs/<run_id>/ is written (default runs)")
    args = parser.parse_args(argv)
    from sim.scenario import ScenarioError

    try:
        return run_demo(args)
    except ScenarioError as exc:  # an unknown name or a bad file: one line, no traceback
        print(f"polyloly demo: {exc}", file=sys.stderr)
        return 2
    except (ConfigError, RuntimeError) as exc:
        print(f"polyloly demo: {exc}", file=sys.stderr)
        return 1
