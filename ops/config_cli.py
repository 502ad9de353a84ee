"""``polyloly config check FILE`` and ``polyloly config show FILE``.

``check`` validates FILE as the processes load it (packaged base.yaml, FILE, ``POLYLOLY__…``
variables) plus what the deployment still lacks (ops/config_errors.py), prints every error with
the layer it came from and exits 2, or prints the merged config (secrets masked) and exits 0.
``show`` prints every key of the merged config with the layer that gave its value.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import Any

import orjson

from ops.config_errors import check_config_file, deployment_errors
from polyloly.config import Config, ConfigError, flatten, masked, source_of, value_sources


def _errors(path: str, environ: Mapping[str, str]) -> tuple[Config | None, list[str]]:
    """Every error: structural ones (with their layer), else the deployment's."""
    config, errors = check_config_file(path, environ)
    if config is not None:
        errors = deployment_errors(config, environ)
    return (config if not errors else None), errors


def _print_errors(path: str, errors: list[str]) -> int:
    print(f"polyloly config: {path}: {len(errors)} error(s)", file=sys.stderr)
    for error in errors:
        print(f"  {error}", file=sys.stderr)
    return 2


def show_rows(config: Config, path: str, environ: Mapping[str, str]) -> list[dict[str, Any]]:
    """One row per leaf of the merged config: key, value (secrets masked), source."""
    sources = value_sources(path, environ)
    return [
        {"key": key, "value": value, "source": source_of(sources, key)}
        for key, value in flatten(masked(config)).items()
    ]


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog="polyloly config",
                                     description="validate or show a configuration")
    sub = parser.add_subparsers(dest="action", required=True)
    check = sub.add_parser(
        "check", help="validate FILE (overlaid on the packaged base.yaml, then POLYLOLY__… "
        "variables) and what the deployment still lacks; exit 0 or 2 with every error")
    check.add_argument("file", help="config overlay: a path, or dev/prod for a packaged one")
    show = sub.add_parser("show", help="print every key of the merged config and where its "
                          "value came from (base.yaml, the file, env NAME, default)")
    show.add_argument("file", help="config overlay: a path, or dev/prod for a packaged one")
    show.add_argument("--json", action="store_true",
                      help="a JSON list of {key, value, source} instead of the table")
    args = parser.parse_args(argv)
    if args.action == "check":
        config, errors = _errors(args.file, env)
        if config is None:
            return _print_errors(args.file, errors)
        sys.stdout.write(orjson.dumps(masked(config), option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    # show: a config with structural errors has no merged value to show
    config, errors = check_config_file(args.file, env)
    if config is None:
        return _print_errors(args.file, errors)
    try:
        rows = show_rows(config, args.file, env)
    except ConfigError as exc:  # the file changed between the two reads
        return _print_errors(args.file, exc.errors)
    if args.json:
        print(orjson.dumps(rows).decode())
        return 0
    width = max(len(row["key"]) for row in rows)
    for row in rows:
        value = orjson.dumps(row["value"]).decode()
        print(f"{row['key']:<{width}}  {value:<24}  {row['source']}")
    missing = deployment_errors(config, env)
    if missing:  # shown, not fatal: show is for reading; check is the gate
        print(f"# not ready to run as configured ({len(missing)}): " + "; ".join(missing))
    return 0
