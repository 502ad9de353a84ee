"""``polyloly config check FILE``: print the merged config (secrets masked) or the errors."""

from __future__ import annotations

import argparse
import sys

import orjson

from polyloly.config import ConfigError, load_config, masked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="polyloly config")
    sub = parser.add_subparsers(dest="action", required=True)
    check = sub.add_parser("check", help="validate FILE (overlaid on the packaged base.yaml)")
    check.add_argument("file")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(f"{args.file}: {len(exc.errors)} error(s)", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 2
    sys.stdout.write(orjson.dumps(masked(config), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0
