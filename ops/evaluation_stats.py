"""Across-seed statistics for ``polyloly evaluate``: mean, median and a 95 % t interval.

The interval is Student's t on the seed means (``mean ± t(0.975, n-1) · s / √n``): with 5
seeds a bootstrap has too few distinct resamples to be worth its noise, and t is exact when
the per-seed figures are roughly normal. The failed-seed rule lives here too: a figure over
seeds is computed only when every seed ran; one failed seed makes it ``None`` and names the
seed, never an average over fewer seeds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

INTERVAL_METHOD = "student-t 95% on seed values (mean ± t(0.975, n-1)·s/√n)"

# t(0.975, df) for df = 1..30; beyond 30 the normal 1.96 is within 4 % (and n > 30 seeds is
# not a case the evaluation runs).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_quantile_975(df: int) -> float:
    """Student's t 97.5 % quantile for ``df`` ≥ 1 degrees of freedom."""
    if df < 1:
        raise ValueError(f"df: expected >= 1, was {df}")
    return _T975[df - 1] if df <= len(_T975) else 1.96


def interval_95(values: Sequence[float]) -> tuple[float, float] | None:
    """The 95 % t interval of the mean of ``values``; None with fewer than two values."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    half = t_quantile_975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return (mean - half, mean + half)


def summarize(values_by_seed: Mapping[int, float | None], failed: Sequence[int]
              ) -> dict[str, Any]:
    """Mean, median and 95 % interval of one figure over seeds.

    ``values_by_seed`` holds the figure of every seed that ran (None: not defined for that
    seed, e.g. capture % with no available edge — such seeds are listed, not averaged);
    ``failed`` the seeds whose run crashed or timed out. Any failed seed → no statistic.
    """
    failed_sorted = sorted(set(failed))
    undefined = sorted(seed for seed, value in values_by_seed.items() if value is None)
    values = [float(v) for _, v in sorted(values_by_seed.items()) if v is not None]
    out: dict[str, Any] = {"n": len(values), "failed_seeds": failed_sorted,
                           "undefined_seeds": undefined, "mean": None, "median": None,
                           "ci95": None}
    if failed_sorted or not values:
        return out  # never a figure over fewer seeds than were asked for
    out["mean"] = round(statistics.fmean(values), 6)
    out["median"] = round(statistics.median(values), 6)
    ci = interval_95(values)
    out["ci95"] = None if ci is None else [round(ci[0], 6), round(ci[1], 6)]
    return out
