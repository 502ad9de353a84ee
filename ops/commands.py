"""Operator commands: ``polyloly doctor``, ``polyloly health``, ``polyloly status``."""

from __future__ import annotations

import argparse
import asyncio
import sys
import urllib.error
import urllib.request
from typing import Any

import orjson
import yaml

from ops.ntp_status import CommandRunner
from ops.startup_checks import run_doctor
from polyloly.config import CONFIG_ENV, Config, ConfigError, load_config, locate_config
from polyloly.httpserve import status_headers

CONFIG_HELP = f"the running system's config file (default: ${CONFIG_ENV})"


def _load(prog: str, arg: str | None) -> Config | None:
    """The running system's config (``--config`` or ``$POLYLOLY_CONFIG``), or None after one
    line on stderr saying what is missing or wrong (the caller exits 2)."""
    path = locate_config(arg)
    if path is None:
        print(f"{prog}: which system? pass --config FILE (or set {CONFIG_ENV})", file=sys.stderr)
        return None
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"{prog}: {path}: " + "; ".join(exc.errors), file=sys.stderr)
        return None


def process_ports(config: Config) -> dict[str, int]:
    ports = {"gateway": config.metrics.gateway_port, "engine": config.metrics.engine_port}
    for shard in range(config.shards.count):
        ports[f"shard-{shard}"] = config.metrics.shard_base_port + shard
    return ports


def prometheus_scrape_config(config: Config, scrape_interval_s: int = 5) -> str:
    """A Prometheus config scraping this config's processes on their ports (the demo writes
    one for the ports it picked; config/prometheus.yml is the one for the default ports)."""
    groups: list[dict[str, Any]] = [
        {"targets": [f"127.0.0.1:{port}"],
         "labels": {"process": "shard" if name.startswith("shard-") else name}}
        for name, port in process_ports(config).items()
    ]
    document = {
        "global": {"scrape_interval": f"{scrape_interval_s}s"},
        "scrape_configs": [{"job_name": "polyloly", "static_configs": groups}],
    }
    header = (f"# generated for run {config.run.run_id or '(no run id)'}; alert rules: add\n"
              "# rule_files: [<checkout>/config/prometheus/alerts.yml]\n")
    return header + yaml.safe_dump(document, sort_keys=False)


def fetch_json(port: int, path: str, timeout_s: float = 2.0) -> tuple[int, dict[str, Any]]:
    """GET a loopback JSON endpoint → (status, body); status 0 when unreachable."""
    # /status may need the production token (polyloly.httpserve.STATUS_TOKEN_ENV)
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=status_headers())
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as rsp:
            return rsp.status, orjson.loads(rsp.read())
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, orjson.loads(exc.read())
        except ValueError:
            return exc.code, {}
    except (OSError, ValueError) as exc:
        return 0, {"error": str(exc)}


def doctor_main(argv: list[str] | None = None, *, ntp_runner: CommandRunner | None = None) -> int:
    """Print the startup report; exit 1 when a check failed. ``--strict`` (systemd's
    ``ExecStartPre``) also exits 1 on a warning, so a unit never starts on a check that could not
    pass (clock state unknown, a feed that could not be asked). ``ntp_runner``: tests inject the
    chronyc/timedatectl runner."""
    parser = argparse.ArgumentParser(prog="polyloly doctor", description="run startup checks")
    parser.add_argument("--config", required=True, help="the config file to check (YAML)")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds each check may take (default 5)")
    parser.add_argument("--strict", action="store_true",
                        help="also exit 1 on a warning (not only on a failure); ExecStartPre")
    args = parser.parse_args(argv)
    if not args.timeout > 0:
        print(f"polyloly doctor: --timeout: expected a positive number of seconds, "
              f"was {args.timeout:g}", file=sys.stderr)
        return 2
    report = asyncio.run(run_doctor(args.config, args.timeout, ntp_runner=ntp_runner))
    print(report.render())
    if not report.passed or (args.strict and report.warnings):
        if args.strict and report.passed:
            print("--strict: warnings count as failures: "
                  + ", ".join(check.name for check in report.warnings))
        return 1
    return 0


def health_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="polyloly health", description="each process's /health; exit 0 only if all are "
        "healthy, 1 if any is down or unhealthy, 2 on bad usage or config")
    parser.add_argument("--config", default=None, help=CONFIG_HELP)
    parser.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    args = parser.parse_args(argv)
    config = _load("polyloly health", args.config)
    if config is None:
        return 2
    results = {name: fetch_json(port, "/health") for name, port in process_ports(config).items()}
    healthy = all(status == 200 for status, _ in results.values())
    if args.json:
        print(orjson.dumps({n: {"status": s, **b} for n, (s, b) in results.items()}).decode())
    else:
        for name, (status, body) in results.items():
            state = "healthy" if status == 200 else ("down" if status == 0 else "unhealthy")
            detail = body.get("error") or body.get("detail") or ""
            print(f"{name:<10} {state:<9} {detail}")
    return 0 if healthy else 1


def status_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="polyloly status", description="markets, truth and trading states, positions, "
        "P&L; exit 1 when any process does not answer, 2 on bad usage or config")
    parser.add_argument("--config", default=None, help=CONFIG_HELP)
    parser.add_argument("--json", action="store_true", help="the processes' /status as JSON")
    args = parser.parse_args(argv)
    config = _load("polyloly status", args.config)
    if config is None:
        return 2
    ports = process_ports(config)
    answers = {name: fetch_json(port, "/status") for name, port in ports.items()}
    statuses = {name: body for name, (_, body) in answers.items()}
    down = [name for name, (code, _) in answers.items() if code != 200]
    if args.json:
        print(orjson.dumps(statuses, default=str).decode())
    else:
        print(render_status(config, statuses))
    if down:  # a table of dashes from dead processes must not pass a script's check
        print(f"polyloly status: not answering: {', '.join(down)}", file=sys.stderr)
        return 1
    return 0


def render_status(config: Config, statuses: dict[str, dict[str, Any]]) -> str:
    """A plain-text table: one row per market with truth, trading state, position and P&L."""
    markets: dict[str, dict[str, Any]] = {}
    for name, body in statuses.items():
        if name.startswith("shard-"):
            for row in body.get("markets", []) or []:
                markets[str(row.get("market_id"))] = dict(row)
    engine = statuses.get("engine", {})
    positions = engine.get("positions", []) or []
    pnl = engine.get("pnl", {}) or {}
    lines = [f"{'market':<16} {'match':<14} {'truth':<16} {'conf':>5} {'trading':<16} "
             f"{'yes':>9} {'no':>9}"]
    for market in config.markets:
        row = markets.get(market.market_id, {})
        held = {p.get("token_id"): p.get("shares", 0.0) for p in positions
                if p.get("market_id") == market.market_id}
        lines.append(
            f"{market.market_id[:14]+'…':<16} {market.match_id[:14]:<14} "
            f"{str(row.get('truth_status', '-')):<16} {float(row.get('confidence', 0)):>5.2f} "
            f"{str(row.get('trading_state', '-')):<16} "
            f"{float(held.get(market.token_ids[0], 0)):>9.2f} "
            f"{float(held.get(market.token_ids[1], 0)):>9.2f}"
        )
    if pnl:
        lines.append(
            "P&L (USDC): realized {:+.2f}  unrealized {:+.2f}  fees {:.2f}  daily {:+.2f}".format(
                float(pnl.get("realized_usdc") or 0.0), float(pnl.get("unrealized_usdc") or 0.0),
                float(pnl.get("fees_usdc") or 0.0), float(pnl.get("daily_usdc") or 0.0),
            )
        )
    halted = engine.get("halted_markets") or {}
    kill = (engine.get("kill_switch") or {}).get("engaged")
    if halted or kill:
        lines.append(f"risk: kill switch {'ENGAGED' if kill else 'off'}; halted: "
                     + (", ".join(m[:12] + "…" for m in halted) or "none"))
    down = [name for name, body in statuses.items() if "error" in body]
    if down:
        lines.append("unreachable: " + ", ".join(down))
    return "\n".join(lines)
