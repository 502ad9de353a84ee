"""Every error of a config file, worded exactly as :func:`polyloly.config.validate` words them.

``validate`` (what every process runs) stops at the first structural error, because
``msgspec.convert`` does. An operator fixing a file wants them all at once, so this module
validates the same merged mapping repeatedly: after each structural error it removes the bad
key (its default then applies) and validates again, until the mapping converts; then the
semantic errors of that repaired mapping are added (those naming a key already reported are
left out, they would only restate it). The config a process would load is still decided by
``validate`` alone: :func:`check_config_file` returns a config only when ``validate`` accepts
the file unchanged.

Each error names its layer (:func:`attribute`): ``FILE:key: …`` for a value from the overlay
file, ``NAME (key): …`` for one from a ``POLYLOLY__…`` environment variable,
``polyloly/defaults/base.yaml:key`` for the packaged defaults. :func:`deployment_errors`
adds the rules that depend on the environment and on what a deployment must complete (live
needs markets; Telegram enabled needs a chat id and its token; the real executor needs
``LIVE_TRADING=1`` and a key): the processes' ``validate`` leaves those out so the packaged
``prod.yaml`` template still loads (systemd render).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from polyloly.bus import SERVER_OF
from polyloly.config import (
    DEFAULT_SOURCE,
    Config,
    ConfigError,
    load_raw,
    source_of,
    validate,
    value_sources,
)

_MAX_ERRORS = 200  # a bound on the repair loop; no real file has this many
_PART_RE = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def check_config_file(
    path: str | Path, environ: Mapping[str, str] | None = None
) -> tuple[Config | None, list[str]]:
    """Load ``path`` as the processes do (base.yaml, overlay, environment); return the config
    and no errors, or None and every error found, each naming its layer."""
    try:
        raw = load_raw(path, environ)
        sources = value_sources(path, environ)
    except ConfigError as exc:
        return None, list(exc.errors)
    try:
        return validate(raw), []
    except ConfigError as exc:
        return None, [attribute(line, sources) for line in all_errors(raw) or exc.errors]


def attribute(line: str, sources: Mapping[str, str]) -> str:
    """Prefix an error line with the layer its key came from (see the module doc)."""
    key, _, rest = line.partition(": ")
    if not rest:
        return line
    source = source_of(sources, key) if key != "(top level)" else ""
    if source.startswith("env "):
        return f"{source[4:]} ({key}): {rest}"
    if source in ("", DEFAULT_SOURCE):
        return line  # a key no layer set (a code default, a missing required key's parent)
    return f"{source}:{line}"


def telegram_errors(config: Config, environ: Mapping[str, str]) -> list[str]:
    """Telegram enabled but unable to send: the chat id or the token variable is missing."""
    telegram = config.alerts.telegram
    if not telegram.enabled:
        return []
    errors: list[str] = []
    if not telegram.chat_id.strip():
        errors.append("alerts.telegram.chat_id: required when alerts.telegram.enabled is true "
                      "(the chat that receives alerts and may send commands)")
    if not telegram.token_env or not environ.get(telegram.token_env, "").strip():
        errors.append(f"{telegram.token_env or 'alerts.telegram.token_env'}: the bot token is not "
                      "set in the environment (alerts.telegram.enabled is true); put it in the "
                      "0600 environment file or set alerts.telegram.enabled: false")
    return errors


def deployment_errors(config: Config, environ: Mapping[str, str]) -> list[str]:
    """What a valid config still lacks to run as configured: live requirements (markets,
    ``LIVE_TRADING=1``, the key) and Telegram's chat id and token."""
    from ops.startup_checks import live_requirement_errors  # it imports this module

    return (live_requirement_errors(config, environ) + telegram_errors(config, environ)
            + bus_security_errors(config) + liveness_errors(config))


def liveness_errors(config: Config) -> list[str]:
    """The WS liveness timeout must leave room for a PING's PONG (else every quiet connection
    would be dropped as dead)."""
    pm = config.polymarket
    if pm.pong_timeout_s <= pm.ping_interval_s:
        return [f"polymarket.pong_timeout_s: {pm.pong_timeout_s:g} s must exceed "
                f"polymarket.ping_interval_s ({pm.ping_interval_s:g} s): a quiet connection "
                "is alive only through the PONG to our PING"]
    return []


def bus_security_errors(config: Config) -> list[str]:
    """``tcp://`` bus endpoints need CURVE, and CURVE needs its keys (issue 20 #11: over tcp a
    client without keys had an intent accepted, in plaintext)."""
    errors = []
    tcp = [name for name in SERVER_OF if config.endpoint(name).startswith("tcp://")]
    if tcp and not config.bus.curve_enabled:
        errors.append(f"bus.{tcp[0]}: {config.endpoint(tcp[0])} is tcp:// but "
                      "bus.curve_enabled is false: set bus.curve_enabled: true and "
                      "bus.curve_keys_dir (docs/RUNBOOK.md 'CURVE keys')")
    if config.bus.curve_enabled:
        keys_dir = Path(config.bus.curve_keys_dir)
        if not config.bus.curve_keys_dir or not keys_dir.is_dir():
            errors.append(f"bus.curve_keys_dir: {config.bus.curve_keys_dir!r} is not a "
                          "directory of CURVE keys (docs/RUNBOOK.md 'CURVE keys')")
        else:
            for server in sorted(set(SERVER_OF.values())):
                if not (keys_dir / f"{server}.key").is_file():
                    errors.append(f"bus.curve_keys_dir: no public key {keys_dir}/{server}.key "
                                  f"of the {server} (docs/RUNBOOK.md 'CURVE keys')")
    return errors


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
