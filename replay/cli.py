"""``polyloly record`` and ``polyloly replay``.

``polyloly record --config FILE --out DIR [--duration S]`` runs the gateway's market-data and
esports parts (:class:`gateway.main.GatewayApp`, no user channel, no trading) with recording on,
writes the merged config to ``DIR/config.yaml`` and stops on SIGINT/SIGTERM or after ``S``.

``polyloly replay DIR [--config FILE] [--params FILE] [--report OUT] [--out OUTDIR]`` replays
the recording through the cores (see :mod:`replay.session`) and writes ``OUTDIR/``
(default ``DIR/replay``): ``intents.jsonl``, ``orders.jsonl``, ``fills.jsonl``,
``truth.jsonl``, ``summary.json``, ``events/engine-*.jsonl`` (the engine's journal, as live),
``sweep.json`` with ``--params``, and the HTML report (default ``OUTDIR/report.html``).
Exit status: 0 done, 2 refused (bad recording, config or params; the message says where).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec
import orjson
import yaml

from polyloly.config import (
    Config,
    ConfigError,
    load_config,
    load_raw,
    masked,
    validate,
    without_retired,
)
from polyloly.logs import get_logger, setup_logging
from replay.compare import (
    compare_intents,
    live_shard_joins,
    load_live_fills,
    load_live_intents,
    token_frame_times,
)
from replay.outputs import build_summary, write_outputs
from replay.recording import CONFIG_FILE, IssueLog, RecordingRefused, find_config, read_recording
from replay.report import render_report
from replay.session import ReplaySession
from replay.sweep import SweepError, load_grid, run_sweep

EXIT_REFUSED = 2
SWEEP_FILE = "sweep.json"


# ---- record ---------------------------------------------------------------------------------

def write_config_snapshot(config: Config, directory: str | Path) -> Path:
    """Write the merged config (secret-looking values masked) to ``DIR/config.yaml``."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    target = path / CONFIG_FILE
    target.write_text(yaml.safe_dump(masked(config), sort_keys=False))
    return target


def recorder_private_names(pid: int) -> tuple[str, str]:
    """The run dir and shm segment of the recorder process ``pid`` (for cleanup after a
    recorder killed before its own)."""
    return f"/tmp/polyloly-rec{pid}", f"polyloly_rec{pid}"


def recording_config(config: Config, out_dir: Path) -> Config:
    """The config the recorder runs with: its own run dir and shm segment (so it can run
    beside a live gateway), no metrics server."""
    run_dir, segment = recorder_private_names(os.getpid())
    return msgspec.structs.replace(
        config,
        run=msgspec.structs.replace(config.run, run_dir=run_dir,
                                    data_dir=str(out_dir / "data")),
        shm=msgspec.structs.replace(config.shm, segment_name=segment),
    )


async def _record(config: Config, out_dir: Path, duration_s: float | None) -> None:
    from gateway.main import GatewayApp

    app = GatewayApp(config, record_dir=out_dir, credentials=None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if duration_s is not None:
        loop.call_later(duration_s, stop.set)
    runner = asyncio.create_task(app.run(stop))
    await asyncio.sleep(0)
    sys.stdout.write(orjson.dumps({"event": "recording", "out": str(out_dir),
                                   "markets": len(config.markets)}).decode() + "\n")
    sys.stdout.flush()
    await runner


def record_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``polyloly record``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="polyloly record",
                                     description="record market data and esports feeds")
    parser.add_argument("--config", default=None, help="config overlay YAML")
    parser.add_argument("--out", required=True, help="recording directory")
    parser.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"polyloly record: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    setup_logging(config.logging.level, file=config.logging.file)
    out_dir = Path(args.out)
    write_config_snapshot(config, out_dir)
    import uvloop

    recorder_config = recording_config(config, out_dir)
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_record(recorder_config, out_dir, args.duration))
    finally:  # the recorder's private run dir (ipc sockets) is its own: never left behind
        shutil.rmtree(recorder_config.run.run_dir, ignore_errors=True)
    get_logger("replay.record").info("recording_stopped", "recording stopped", out=str(out_dir))
    return 0


# ---- replay ---------------------------------------------------------------------------------

def load_replay_config(recording: str | Path, config_path: str | None) -> Config:
    """``--config`` if given, else the recording's own ``config.yaml``; the environment's
    ``POLYLOLY__*`` overrides are ignored so that a replay depends only on its files."""
    path = config_path or find_config(recording)
    if path is None:
        raise ConfigError([f"{recording}: no {CONFIG_FILE} in the recording (or its parent); "
                           f"pass --config"])
    return validate(without_retired(load_raw(path, {})))  # older recordings stay readable


def exit_on_sigterm() -> None:
    """SIGTERM ends the command through SystemExit, so every ``finally`` runs: a replay stopped
    by a timeout or an operator removes its shm segment and run dir like a finished one."""
    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def replay_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``polyloly replay``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="polyloly replay",
                                     description="replay a recording through the cores")
    parser.add_argument("recording", help="recording directory (raw-*.jsonl)")
    parser.add_argument("--config", default=None, help="config instead of DIR/config.yaml")
    parser.add_argument("--params", default=None, help="YAML of parameter grids to sweep")
    parser.add_argument("--report", default=None, help="HTML report path")
    parser.add_argument("--out", default=None, help="output directory (default DIR/replay)")
    parser.add_argument("--workers", type=int, default=2, help="sweep processes (max 2)")
    parser.add_argument("--live", default=None, metavar="EVENTS_DIR",
                        help="compare with the live engine's journal (default: the demo "
                             "layout's DIR/../data/events when it exists); shards then join "
                             "the replay when they joined the live session")
    parser.add_argument("--no-live", action="store_true",
                        help="no live comparison: every shard joins at the first message")
    args = parser.parse_args(argv)
    setup_logging("WARNING")
    exit_on_sigterm()
    out_dir = Path(args.out) if args.out else Path(args.recording) / "replay"
    try:
        config = load_replay_config(args.recording, args.config)
        grid = load_grid(args.params) if args.params else None
        issues = IssueLog()
        for stale in (out_dir / "events").glob("engine-*.jsonl"):
            stale.unlink()  # the journal appends; a re-run starts from empty files
        live_dir = (None if args.no_live else Path(args.live) if args.live
                    else Path(args.recording).parent / "data" / "events")
        if live_dir is not None and not live_dir.is_dir():
            if args.live:
                raise RecordingRefused(f"--live {args.live}: not a directory")
            live_dir = None
        joins = live_shard_joins(live_dir) if live_dir is not None else {}
        # read (and refuse) the recording before the session makes its shm segment and run dir
        messages = list(read_recording(args.recording, issues))
        session = ReplaySession(config, journal_dir=out_dir / "events", shard_join_ns=joins)
        result = session.run(messages)
        ranked = (run_sweep(args.recording, config, grid, workers=args.workers)
                  if grid is not None else [])
    except (ConfigError, RecordingRefused, SweepError) as exc:
        print(f"polyloly replay: refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    summary = build_summary(result, issues, recording=str(args.recording))
    if messages and live_dir is not None:
        comparison = compare_intents(
            load_live_intents(live_dir), result.intents, token_frame_times(messages),
            {m.t_recv_ns for m in messages}, until_ns=messages[-1].t_recv_ns,
            live_fills=load_live_fills(live_dir),
            replay_fills=[r for r in result.reports if r.last_fill_size > 0])
        summary["live_comparison"] = {"events_dir": str(live_dir),
                                      "shard_joins_ns": {str(k): v for k, v in joins.items()},
                                      **comparison.as_dict()}
    write_outputs(out_dir, result, summary)
    if ranked:
        (out_dir / SWEEP_FILE).write_bytes(orjson.dumps(ranked, option=orjson.OPT_INDENT_2))
    report = Path(args.report) if args.report else out_dir / "report.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(render_report(result, summary, config, ranked=ranked))
    for issue in issues.kept:
        print(f"polyloly replay: {issue.kind.value}: {issue.file}:{issue.line}: {issue.detail}",
              file=sys.stderr)
    pnl = summary["pnl"]
    print(orjson.dumps({
        "events": summary["events_replayed"], "intents": summary["intents"],
        "fills": summary["fills"], "pnl_usdc": pnl["settled_total_usdc"],
        "max_drawdown_usdc": pnl["max_drawdown_usdc"], "complete": summary["complete"],
        "intents_sha256": summary["intents_sha256"], "out": str(out_dir),
        "report": str(report), "sweep": len(ranked),
        "live_comparison_holds": summary.get("live_comparison", {}).get("holds")}).decode())
    return 0
