"""``polyloly kill --config FILE --reason TEXT [--release] [--market ID]``: the hand kill switch.

Without ``--market``: pull (or with ``--release`` release) the global kill switch. It is
persisted in ``run.data_dir/kill_switch.json``, so it survives restarts; a running engine
notices within a second, publishes ``RiskState(kill_switch=True)``, refuses every new intent
(``KILL_SWITCH``) and cancels its open orders. With ``--market ID --release``: release one
market halted by a circuit breaker.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Sequence

from engine.kill_switch import KillSwitchFile
from polyloly.config import ConfigError, load_config


def kill_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``polyloly kill``; exit 0 on success, 2 on bad usage or config."""
    parser = argparse.ArgumentParser(prog="polyloly kill", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=None, help="config overlay file (YAML)")
    parser.add_argument("--reason", required=True, help="why (recorded and published)")
    parser.add_argument("--release", action="store_true", help="release instead of pull")
    parser.add_argument("--market", default=None, help="release one halted market (with "
                        "--release)")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if not args.reason.strip():
        print("polyloly kill: --reason must not be empty", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"polyloly kill: {exc}", file=sys.stderr)
        return 2
    switch = KillSwitchFile.in_data_dir(config.run.data_dir)
    now_ms = int(time.time() * 1000)
    who = f"cli:{getpass.getuser()}"
    if args.market is not None:
        if not args.release:
            print("polyloly kill: --market is only used with --release", file=sys.stderr)
            return 2
        known = {m.market_id for m in config.markets}
        if args.market not in known:
            print(f"polyloly kill: unknown market {args.market!r}", file=sys.stderr)
            return 2
        switch.release_market(args.market, now_ms, who)
        print(f"market {args.market} released ({switch.path})")
        return 0
    if args.release:
        switch.release(args.reason, now_ms, who)
        print(f"kill switch released ({switch.path})")
    else:
        switch.engage(args.reason, now_ms, who)
        print(f"kill switch PULLED: {args.reason} ({switch.path})")
    return 0


main = kill_main
