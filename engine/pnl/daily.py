"""Daily P&L and drawdown from a stream of total-P&L observations (UTC days)."""

from __future__ import annotations

from dataclasses import dataclass

_DAY_MS = 86_400_000


@dataclass(slots=True)
class DailyPnl:
    """Track total P&L at the start of the current UTC day and its peak so far (USDC)."""

    day_index: int = -1
    day_start_total_usdc: float = 0.0
    peak_total_usdc: float = 0.0
    last_total_usdc: float = 0.0

    def observe(self, total_usdc: float, now_ms: int) -> None:
        """Record the current total P&L (realized + unrealized) at wall time ``now_ms``."""
        day = now_ms // _DAY_MS
        if day != self.day_index:
            # a new day starts from the last total seen, so losses before midnight stay there
            start = self.last_total_usdc if self.day_index >= 0 else total_usdc
            self.day_index = day
            self.day_start_total_usdc = start
            self.peak_total_usdc = max(start, total_usdc)
        self.peak_total_usdc = max(self.peak_total_usdc, total_usdc)
        self.last_total_usdc = total_usdc

    @property
    def daily_usdc(self) -> float:
        """P&L since the start of the current UTC day."""
        return self.last_total_usdc - self.day_start_total_usdc

    @property
    def drawdown_usdc(self) -> float:
        """How far the total is below its peak of the day (>= 0)."""
        return max(0.0, self.peak_total_usdc - self.last_total_usdc)
