"""Time rules (SPEC §9.1 layer 4), on UTC wall time: weekend toggle, peak-hours size factor,
open/close buffers around a market's known open and close times."""

from __future__ import annotations

from datetime import UTC, datetime

from polyloly.config import TimeRulesConfig


def weekend_blocked(config: TimeRulesConfig, now_ms: int) -> bool:
    """True when weekend trading is off and ``now_ms`` is a Saturday or Sunday (UTC)."""
    if config.weekend_trading:
        return False
    return datetime.fromtimestamp(now_ms / 1000, tz=UTC).weekday() >= 5


def peak_factor(config: TimeRulesConfig, now_ms: int) -> float:
    """``peak_size_factor`` inside the peak hours [start, end) UTC, else 1."""
    start, end = config.peak_hours_utc
    if start == end:
        return 1.0
    hour = datetime.fromtimestamp(now_ms / 1000, tz=UTC).hour
    return config.peak_size_factor if start <= hour < end else 1.0


def buffer_blocked(
    config: TimeRulesConfig, now_ms: int, open_ms: int | None, close_ms: int | None
) -> str | None:
    """Say why ``now_ms`` is inside the open or close buffer of a market, or None.

    ``open_ms``: when the market's match went live (None: unknown); ``close_ms``: when the
    market is scheduled to close (None: unknown).
    """
    open_buffer_ms = config.open_buffer_s * 1000
    if open_ms is not None and open_buffer_ms > 0 and open_ms <= now_ms < open_ms + open_buffer_ms:
        return f"within {config.open_buffer_s} s of the market opening"
    close_buffer_ms = config.close_buffer_s * 1000
    if close_ms is not None and close_buffer_ms > 0 and close_ms - close_buffer_ms <= now_ms:
        return f"within {config.close_buffer_s} s of the market closing"
    return None
