"""Guard of the compose ``live`` profile: refuse to start unless live trading is asked for.

Refuses (one line per missing piece, exit 2) without ``LIVE_TRADING=1``, without markets in the
config, or without a readable signing key; otherwise replaces itself with
``polyloly run --config FILE``, whose engine repeats the LIVE_TRADING/key checks at start.
Usage: ``python live_check.py [FILE] [polyloly run options]``; FILE defaults to
``$POLYLOLY_CONFIG`` or ``/etc/polyloly/live.yaml``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from engine.secrets import SecretError, load_private_key
from polyloly.config import ConfigError, load_config

DEFAULT_CONFIG = "/etc/polyloly/live.yaml"


def problems(config_path: str, environ: Mapping[str, str]) -> list[str]:
    """Every reason the live stack must not start; empty when it may."""
    found: list[str] = []
    if environ.get("LIVE_TRADING") != "1":
        found.append("LIVE_TRADING is not 1: set LIVE_TRADING=1 in the environment or .env "
                     "to trade real money")
    try:
        config = load_config(config_path, environ)
    except ConfigError as exc:
        return found + [f"config {config_path}: {error}" for error in exc.errors]
    if not config.markets:
        found.append(f"config {config_path}: no markets; list your markets (condition id, token "
                     "ids, match id, game) under markets:")
    if config.execution.executor != "real":
        found.append(f"config {config_path}: execution.executor is {config.execution.executor!r}"
                     "; the live profile needs 'real' (start from the packaged prod overlay)")
    try:
        load_private_key(key_env=config.execution.private_key_env,
                         key_file=config.execution.private_key_file, environ=environ)
    except SecretError as exc:
        found.append(f"signing key: {exc}")
    return found


def main(argv: list[str]) -> int:
    config_path = argv[0] if argv and not argv[0].startswith("-") else os.environ.get(
        "POLYLOLY_CONFIG", DEFAULT_CONFIG)
    rest = argv[1:] if argv and not argv[0].startswith("-") else argv
    refused = problems(config_path, os.environ)
    if refused:
        for line in refused:
            print(f"live profile refused: {line}", file=sys.stderr)
        return 2
    os.execvp("polyloly", ["polyloly", "run", "--config", config_path, *rest])
    return 0  # not reached: execvp replaced this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
