"""``polyloly config check FILE``: print the merged config (secrets masked) or the errors."""

from __future__ import annotations

import argparse
import sys

import orjson

from ops.config_errors import check_config_file
from polyloly.config import masked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="polyloly config")
    sub = parser.add_subparsers(dest="action", required=True)
    check = sub.add_parser("check", help="validate FILE (overlaid on the packaged base.yaml)")
    check.add_argument("file")
    args = parser.parse_args(argv)
    # every error at once, worded as the processes word the first one
    config, errors = check_config_file(args.file)
    if config is None:
        print(f"{args.file}: {len(errors)} error(s)", file=sys.stderr)
        for error in errors:
            print(f"  {error}", file=sys.stderr)
        return 2
    sys.stdout.write(orjson.dumps(masked(config), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0
