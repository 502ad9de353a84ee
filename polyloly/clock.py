"""Time behind one interface: monotonic nanoseconds for latency, wall milliseconds for logs.

Cores never call ``time`` themselves; they receive a :class:`Clock` (or plain time values),
so replay and tests drive them with a :class:`ManualClock`.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def monotonic_ns(self) -> int:
        """CLOCK_MONOTONIC in ns: comparable across processes on one host."""
        ...

    def wall_ms(self) -> int:
        """Wall-clock ms since the Unix epoch."""
        ...


class SystemClock:
    """The real clocks."""

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when told to; for tests and replay."""

    def __init__(self, monotonic_ns: int = 0, wall_ms: int = 1_767_225_600_000) -> None:
        self._monotonic_ns = monotonic_ns
        self._wall_ms_at_zero = wall_ms - monotonic_ns // 1_000_000

    def monotonic_ns(self) -> int:
        return self._monotonic_ns

    def wall_ms(self) -> int:
        return self._wall_ms_at_zero + self._monotonic_ns // 1_000_000

    def advance(self, *, ns: int = 0, ms: float = 0.0, s: float = 0.0) -> None:
        """Move time forward; never backward."""
        step = ns + int(ms * 1_000_000) + int(s * 1_000_000_000)
        if step < 0:
            raise ValueError("a clock never moves backward")
        self._monotonic_ns += step

    def set_monotonic_ns(self, value: int) -> None:
        if value < self._monotonic_ns:
            raise ValueError("a clock never moves backward")
        self._monotonic_ns = value
