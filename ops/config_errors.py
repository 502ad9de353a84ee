"""Every error of a config file, worded exactly as :func:`polyloly.config.validate` words them.

``validate`` (what every process runs) stops at the first structural error, because
``msgspec.convert`` does. An operator fixing a file wants them all at once, so this module
validates the same merged mapping repeatedly: after each structural error it removes the bad
key (its default then applies) and validates again, until the mapping converts; then the
semantic errors of that repaired mapping are added (those naming a key already reported are
left out, they would only restate it). The config a process would load is still decided by
``validate`` alone: :func:`check_config_file` returns a config only when ``validate`` accepts
the file unchanged.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from polyloly.config import Config, ConfigError, load_raw, validate

_MAX_ERRORS = 200  # a bound on the repair loop; no real file has this many
_PART_RE = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def check_config_file(
    path: str | Path, environ: Mapping[str, str] | None = None
) -> tuple[Config | None, list[str]]:
    """Load ``path`` as the processes do (base.yaml, overlay, environment); return the config
    and no errors, or None and every error found."""
    try:
        raw = load_raw(path, environ)
    except ConfigError as exc:
        return None, list(exc.errors)
    try:
        return validate(raw), []
    except ConfigError as exc:
        return None, all_errors(raw) or list(exc.errors)


def all_errors(raw: Mapping[str, Any]) -> list[str]:
    """Every structural error of ``raw``, then the semantic errors of what remains."""
    work: dict[str, Any] = copy.deepcopy(dict(raw))
    errors: list[str] = []
    reported: set[str] = set()
    while len(errors) < _MAX_ERRORS:
        try:
            msgspec.convert(work, Config, strict=False)
        except msgspec.ValidationError:
            line = _first_error(work)
            errors.append(line)
            key = _key_of(line)
            reported.add(key)
            if not _remove(work, key):
                return errors  # nothing left to remove (a required key): stop here
            continue
        break
    try:
        validate(work)
    except ConfigError as exc:
        errors += [line for line in exc.errors if _key_of(line) not in reported]
    return errors


def _first_error(data: Mapping[str, Any]) -> str:
    try:
        validate(data)
    except ConfigError as exc:
        return exc.errors[0]
    raise AssertionError("validate accepted a mapping msgspec.convert refused")


def _key_of(line: str) -> str:
    return line.split(": ", 1)[0]


def _remove(work: dict[str, Any], dotted: str) -> bool:
    """Delete the dict key at ``dotted`` (a bad list element takes its whole list with it);
    False when there is no such key (the error was a missing required key)."""
    parts: list[str | int] = [
        name if name else int(index) for name, index in _PART_RE.findall(dotted)
    ]
    while parts and isinstance(parts[-1], int):
        parts.pop()
    if not parts or dotted == "(top level)":
        return False
    node: Any = work
    for part in parts[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False
    if not isinstance(node, dict) or parts[-1] not in node:
        return False
    del node[parts[-1]]
    return True
