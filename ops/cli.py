"""The ``polyloly`` command: one entry point, subcommands implemented where they belong.

Each subcommand lives in its own package (``sim/``, ``shm/``, ``engine/``...) as a
``main(argv) -> int`` function, imported only when used so that ``polyloly --help`` stays fast.
``--help`` lists only the subcommands whose module is installed.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence

# name → ("module:function", one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "config": ("ops.config_cli:main", "check a config (every error) or show it with sources"),
    "sim": ("sim.cli:main", "run the local Polymarket venue and esports feeds"),
    "book": ("shm.cli:main", "print one order book as a shared-memory reader sees it"),
    "run": ("ops.supervisor:main", "run gateway, shards and engine as separate processes"),
    "demo": ("ops.demo:main", "simulator + the whole system, paper trading, with a report"),
    "systemd": ("ops.systemd_render:main", "write the systemd units for N shards"),
    "doctor": ("ops.commands:doctor_main", "run the startup checks and print a report"),
    "health": ("ops.commands:health_main", "check every process's health endpoint"),
    "status": ("ops.commands:status_main", "markets, states, positions and P&L"),
    "kill": ("engine.cli:kill_main", "pull (or release) the global kill switch by hand"),
    "telegram": ("ops.telegram_bot:main", "Telegram bot: fills, daily summary, chat commands"),
    "record": ("replay.cli:record_main", "record market data and feeds to versioned JSONL"),
    "replay": ("replay.cli:replay_main", "replay a recording through the cores (backtest)"),
    "evaluate": ("ops.evaluate:main", "scenarios × seeds scored against the simulator's truth"),
    "calibrate": ("ops.calibrate:main", "fit the win-probability models; write docs/MODELS.md"),
    "bench": ("bench.cli:main", "latency, throughput, signing, isolation and shm benchmarks"),
}


def _available(target: str) -> bool:
    module = target.split(":", 1)[0]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def available_commands() -> dict[str, tuple[str, str]]:
    return {name: spec for name, spec in COMMANDS.items() if _available(spec[0])}


def _resolve(target: str) -> Callable[[list[str]], int]:
    module_name, function_name = target.split(":", 1)
    module = importlib.import_module(module_name)
    function: Callable[[list[str]], int] = getattr(module, function_name)
    return function


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    commands = available_commands()
    parser = argparse.ArgumentParser(
        prog="polyloly",
        description="PolyLOL: pair and temporal arbitrage on Polymarket esports markets.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n"
        + "\n".join(f"  {name:<10} {help_text}" for name, (_, help_text) in commands.items())
        + "\n\nRun 'polyloly COMMAND --help' for a command's options.",
    )
    parser.add_argument("command", nargs="?", help="one of the commands below")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    if not args or args[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    if args[0] == "--version":
        from polyloly import __version__

        print(__version__)
        return 0
    name, rest = args[0], args[1:]
    if name not in commands:
        parser.print_usage(sys.stderr)
        print(f"polyloly: unknown command {name!r}; known: {', '.join(commands)}", file=sys.stderr)
        return 2
    return _resolve(commands[name][0])(rest)


if __name__ == "__main__":
    raise SystemExit(main())
