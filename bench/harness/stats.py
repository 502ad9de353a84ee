"""Percentiles of latency samples and medians of repeated runs (pure).

Samples are integer nanoseconds; summaries are in microseconds. Percentiles use the
nearest-rank method on the sorted samples (no interpolation), so p99.9 of fewer than 1000
samples is the maximum — the summary carries ``count`` so a reader can tell.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

PERCENTILES: Final[tuple[tuple[str, float], ...]] = (
    ("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("p99_9", 0.999))


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values; raise ValueError when empty."""
    if not sorted_values:
        raise ValueError("percentile of no samples")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction: expected 0..1, was {fraction!r}")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize_ns(samples_ns: Iterable[int]) -> dict[str, float]:
    """p50/p90/p99/p99.9/max in µs and the sample count; ``{"count": 0}`` for no samples."""
    values = sorted(samples_ns)
    if not values:
        return {"count": 0}
    summary = {name: percentile(values, fraction) / 1e3 for name, fraction in PERCENTILES}
    summary["max"] = values[-1] / 1e3
    summary["count"] = len(values)
    return summary


def median_of_runs(runs: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Per key, the median over runs (keys missing from a run are skipped for that run);
    ``<key>_spread`` is ``[min, max]`` over runs for percentile keys."""
    keys: list[str] = []
    for run in runs:
        keys.extend(k for k in run if k not in keys)
    result: dict[str, float] = {}
    for key in keys:
        values = [float(run[key]) for run in runs if key in run]
        if not values:
            continue
        result[key] = statistics.median(values)
    return result


def spread_of_runs(runs: Sequence[Mapping[str, float]], key: str) -> tuple[float, float] | None:
    """(min, max) of ``key`` over runs, None when no run has it."""
    values = [float(run[key]) for run in runs if key in run]
    return (min(values), max(values)) if values else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, None when either is missing or the denominator is not > 0."""
    if numerator is None or denominator is None or not denominator > 0.0:
        return None
    return numerator / denominator
