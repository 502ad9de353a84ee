"""``polyloly kill``: the hand kill switch and hand releases of halted markets.

* ``polyloly kill --config FILE --reason TEXT`` pulls the global kill switch;
* ``polyloly kill --config FILE --release [--reason TEXT]`` releases it;
* ``polyloly kill --config FILE --market ID --release`` releases one halted market.

The switch lives in ``run.data_dir/kill_switch.json`` (survives restarts); a running engine
re-reads it every second, publishes ``RiskState``, refuses new intents and cancels its orders.
The command then asks the engine's ``/status`` whether it took effect and says so; it never
guesses a system: without ``--config`` (or ``POLYLOLY_CONFIG``) it exits 2 and writes nothing.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from engine.kill_switch import KillSwitchFile
from polyloly.config import CONFIG_ENV, Config, ConfigError, load_config, locate_config
from polyloly.httpserve import status_headers

_CONFIRM_S = 3.0  # the engine polls the file every second; give it three


def engine_status(config: Config, timeout_s: float = 1.0) -> dict[str, Any] | None:
    """The running engine's ``/status``, or None when it does not answer."""
    url = f"http://127.0.0.1:{config.metrics.engine_port}/status"
    request = urllib.request.Request(url, headers=status_headers())  # the production token
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = orjson.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def _wait_for(config: Config, done: Callable[[dict[str, Any]], bool]) -> bool | None:
    """Poll the engine until ``done(status)``: True, False (it answers, not yet), None (no
    engine answers)."""
    deadline = time.monotonic() + _CONFIRM_S
    answered = False
    while True:
        status = engine_status(config)
        if status is not None:
            answered = True
            if done(status):
                return True
        if time.monotonic() >= deadline:
            return False if answered else None
        time.sleep(0.2)


def _engaged(status: dict[str, Any]) -> bool:
    return bool((status.get("kill_switch") or {}).get("engaged"))


@dataclass
class Outcome:
    """What a kill action did: exit code, lines for stdout and for stderr (the CLI prints
    them; the Telegram bot (ops/telegram_bot.py) sends them)."""

    code: int = 0
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.out.append(line)

    def fail(self, code: int, line: str) -> Outcome:
        self.code = code
        self.err.append(line)
        return self


def pull(config: Config, reason: str, who: str) -> Outcome:
    """Pull the global kill switch and report whether the engine took it."""
    outcome = Outcome()
    if not reason.strip():
        return outcome.fail(2, "a reason is required to pull the switch")
    switch = KillSwitchFile.in_data_dir(config.run.data_dir)
    switch.engage(reason.strip(), _now_ms(), who)
    outcome.say(f"kill switch PULLED: {reason.strip()} ({switch.path})")
    return _confirm(outcome, _wait_for(config, _engaged), "engaged")


def release(config: Config, reason: str, who: str) -> Outcome:
    """Release the global kill switch, saying whether it was engaged."""
    outcome = Outcome()
    switch = KillSwitchFile.in_data_dir(config.run.data_dir)
    was = switch.read().engaged
    switch.release(reason.strip() or "released by hand", _now_ms(), who)
    outcome.say(f"kill switch released (was {'engaged' if was else 'not engaged'}; "
                f"{switch.path})")
    return _confirm(outcome, _wait_for(config, lambda s: not _engaged(s)), "released")


def release_market(config: Config, market: str, who: str) -> Outcome:
    """Release one halted market; a market that is not halted is a failure, not a success."""
    outcome = Outcome()
    if market not in {m.market_id for m in config.markets}:
        return outcome.fail(2, f"unknown market {market!r} (not in markets of the config)")
    switch = KillSwitchFile.in_data_dir(config.run.data_dir)
    status = engine_status(config)
    if status is not None and market not in (status.get("halted_markets") or {}):
        return outcome.fail(1, f"market {market} is not halted: nothing released")
    reason = (status or {}).get("halted_markets", {}).get(market, "")
    switch.release_market(market, _now_ms(), who)
    if status is None:  # the halt is persisted; a stopped engine applies the release at start
        outcome.say(f"market {market}: release recorded ({switch.path}); engine not answering, "
                    "it applies the release at start if the market is still halted")
        return outcome
    outcome.say(f"market {market}: release recorded (was halted: {reason})")
    if _wait_for(config, lambda s: market not in (s.get("halted_markets") or {})):
        outcome.say(f"engine confirms: market {market} released")
        return outcome
    return outcome.fail(1, f"engine still shows market {market} halted after "
                           f"{_CONFIRM_S:.0f}s: check its log")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _confirm(outcome: Outcome, confirmed: bool | None, state: str) -> Outcome:
    if confirmed is None:
        outcome.say(f"engine not answering: the switch is persisted and is {state} when it "
                    "starts")
    elif confirmed:
        outcome.say(f"engine confirms: kill switch {state}")
    else:
        outcome.fail(1, f"engine answers but does not show the switch {state} after "
                        f"{_CONFIRM_S:.0f}s: check its log")
    return outcome


def kill_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``polyloly kill``: 0 done (and what changed is printed), 1 the engine
    answered but did not take it (or the market was not halted), 2 bad usage or config."""
    parser = argparse.ArgumentParser(prog="polyloly kill", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=None,
                        help=f"the running system's config file (default: ${CONFIG_ENV})")
    parser.add_argument("--reason", default="",
                        help="why (recorded and published); required to pull the switch")
    parser.add_argument("--release", action="store_true",
                        help="release the switch (or, with --market, one halted market)")
    parser.add_argument("--market", default=None,
                        help="a halted market's condition id to release (with --release)")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    path = locate_config(args.config)
    if path is None:
        print(f"polyloly kill: which system? pass --config FILE (or set {CONFIG_ENV}); "
              "nothing was written", file=sys.stderr)
        return 2
    if args.market is not None and not args.release:
        print("polyloly kill: --market releases a halted market: add --release", file=sys.stderr)
        return 2
    if not args.release and not args.reason.strip():
        print("polyloly kill: --reason TEXT is required to pull the switch", file=sys.stderr)
        return 2
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"polyloly kill: {path}: " + "; ".join(exc.errors), file=sys.stderr)
        return 2
    who = f"cli:{getpass.getuser()}"
    if args.market is not None:
        outcome = release_market(config, args.market, who)
    elif args.release:
        outcome = release(config, args.reason, who)
    else:
        outcome = pull(config, args.reason, who)
    for line in outcome.out:
        print(line)
    for line in outcome.err:
        print(f"polyloly kill: {line}", file=sys.stderr)
    return outcome.code


main = kill_main
