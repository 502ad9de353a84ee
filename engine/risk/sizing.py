"""Size reductions: volatility (SPEC §9.4), drawdown (SPEC §9.1 layer 3), peak hours."""

from __future__ import annotations

import statistics
from collections import deque

_MIN_SAMPLES = 10
_COLD_FACTOR = 0.5  # until enough mids are seen: conservative, as SPEC §9.4
_FLOOR = 0.25


class VolatilitySizer:
    """Keep the last ``lookback`` mids per token and turn their spread into a size factor."""

    def __init__(self, lookback_ticks: int) -> None:
        self._lookback = lookback_ticks
        self._mids: dict[str, deque[float]] = {}

    def observe(self, token_id: str, mid: float) -> None:
        """Record one mid price of a token (call once per distinct book update)."""
        history = self._mids.get(token_id)
        if history is None:
            history = self._mids[token_id] = deque(maxlen=self._lookback)
        history.append(mid)

    def factor(self, token_id: str) -> float:
        """``1 / (1 + 10·stdev)`` clamped to [0.25, 1]; 0.5 with fewer than 10 samples."""
        history = self._mids.get(token_id)
        if history is None or len(history) < _MIN_SAMPLES:
            return _COLD_FACTOR
        volatility = statistics.stdev(history)
        return max(_FLOOR, min(1.0, 1.0 / (1.0 + volatility * 10.0)))


def drawdown_factor(
    drawdown_usdc: float, start_usdc: float, full_usdc: float, min_factor: float
) -> float:
    """1 until ``drawdown_usdc`` reaches ``start_usdc``, then linearly down to ``min_factor``
    at ``full_usdc`` (the daily loss limit) and beyond."""
    if drawdown_usdc <= start_usdc:
        return 1.0
    if full_usdc <= start_usdc:
        return min_factor
    fraction = min(1.0, (drawdown_usdc - start_usdc) / (full_usdc - start_usdc))
    return 1.0 - fraction * (1.0 - min_factor)
