"""Parameter sweeps: a YAML of grids, the cartesian product replayed in parallel, ranked.

The params file maps dotted config keys to lists of values::

    temporal_arb.min_edge_threshold: [0.03, 0.05]
    temporal_arb.kelly_fraction: [0.1, 0.25]
    pair_arb.safety_margin: [0.005, 0.01]

Every combination is applied to the replay config and validated by the config's own rules
(a bad key or value is refused before anything runs, naming it). Each combination is one
deterministic replay in a worker process; rows are ranked by P&L after settlement (higher
first), then by max drawdown (lower first), then by the parameters (stable order).
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
import yaml

from polyloly.config import Config, ConfigError, validate
from replay.outputs import build_summary
from replay.recording import IssueLog, read_recording
from replay.session import ReplaySession

MAX_COMBINATIONS = 256
MAX_WORKERS = 2


class SweepError(ValueError):
    """A params file that cannot be swept; the message names the key."""


def load_grid(path: str | Path) -> dict[str, list[Any]]:
    """Read a params YAML: ``{dotted.key: [values...]}``, each list non-empty."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise SweepError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SweepError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise SweepError(f"{path}: expected a mapping of dotted config keys to lists")
    grid: dict[str, list[Any]] = {}
    for key, values in data.items():
        if not isinstance(key, str) or "." not in key:
            raise SweepError(f"{path}: {key!r}: expected a dotted config key like "
                             f"'temporal_arb.min_edge_threshold'")
        if not isinstance(values, list) or not values:
            raise SweepError(f"{path}: {key}: expected a non-empty list of values, was "
                             f"{values!r}")
        grid[key] = values
    return grid


def combinations(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The cartesian product of the grid, in file order; refuse more than the cap."""
    keys = list(grid)
    combos = [dict(zip(keys, values, strict=True))
              for values in itertools.product(*(grid[k] for k in keys))]
    if len(combos) > MAX_COMBINATIONS:
        raise SweepError(f"{len(combos)} combinations: at most {MAX_COMBINATIONS} per sweep")
    return combos


def apply_params(config: Config, params: Mapping[str, Any]) -> Config:
    """``config`` with each dotted key set; raise :class:`SweepError` for an unknown key or
    a value the config refuses."""
    data: dict[str, Any] = msgspec.to_builtins(config)
    for key, value in params.items():
        node: Any = data
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node, dict) or part not in node:
                raise SweepError(f"{key}: unknown config key")
            node = node[part]
        if not isinstance(node, dict) or parts[-1] not in node:
            raise SweepError(f"{key}: unknown config key")
        node[parts[-1]] = value
    try:
        return validate(data)
    except ConfigError as exc:
        raise SweepError(f"params {dict(params)!r}: {exc}") from None


def replay_summary(recording: str, config_data: dict[str, Any],
                   params: dict[str, Any]) -> dict[str, Any]:
    """Replay ``recording`` with ``config_data`` (builtins) and return its ranked row."""
    config = validate(config_data)
    issues = IssueLog()
    result = ReplaySession(config).run(read_recording(recording, issues))
    summary = build_summary(result, issues, recording=recording, params=params)
    pnl = summary["pnl"]
    return {"params": params, "pnl_usdc": pnl["settled_total_usdc"],
            "max_drawdown_usdc": pnl["max_drawdown_usdc"], "intents": summary["intents"],
            "fills": summary["fills"], "fees_usdc": pnl["fees_usdc"],
            "intents_sha256": summary["intents_sha256"][:16]}


def rank(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best first: P&L desc, drawdown asc, then the parameters' text (stable)."""
    return sorted(rows, key=lambda r: (-float(r["pnl_usdc"]), float(r["max_drawdown_usdc"]),
                                       repr(sorted(r["params"].items()))))


def run_sweep(recording: str | Path, config: Config, grid: Mapping[str, Sequence[Any]], *,
              workers: int = MAX_WORKERS) -> list[dict[str, Any]]:
    """Replay every combination (``workers`` processes, at most 2) and return ranked rows."""
    combos = combinations(grid)
    configs = [msgspec.to_builtins(apply_params(config, combo)) for combo in combos]
    workers = max(1, min(workers, MAX_WORKERS, len(combos)))
    if workers == 1:
        rows = [replay_summary(str(recording), data, combo)
                for data, combo in zip(configs, combos, strict=True)]
    else:
        # spawn: workers start clean (no inherited ZeroMQ context or shm mappings)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(replay_summary, str(recording), data, combo)
                       for data, combo in zip(configs, combos, strict=True)]
            rows = [future.result() for future in futures]
    return rank(rows)
