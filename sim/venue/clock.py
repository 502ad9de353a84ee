"""Clocks injected into the venue core: monotonic seconds for scheduling, wall ms for stamps."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """What the venue core needs to know about time."""

    def monotonic(self) -> float:
        """Return monotonic seconds (scenario time; may run faster than real time)."""
        ...

    def wall_ms(self) -> int:
        """Return wall-clock milliseconds since the Unix epoch."""
        ...


class SystemClock:
    """Real clock; `speed` > 1 makes monotonic (scenario) time run faster than real time.

    Wall milliseconds stay real so that timestamps look like the live venue's.
    """

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed: expected a positive number, was {speed!r}")
        self.speed = speed
        self._origin = time.monotonic()

    def monotonic(self) -> float:
        """Return scenario seconds since the clock was created."""
        return (time.monotonic() - self._origin) * self.speed

    def wall_ms(self) -> int:
        """Return real wall-clock milliseconds."""
        return time.time_ns() // 1_000_000

    def real_seconds(self, scenario_seconds: float) -> float:
        """Convert a scenario duration to real seconds."""
        return scenario_seconds / self.speed


class ManualClock:
    """A clock that moves only when told to; for deterministic tests and replays."""

    def __init__(self, start_monotonic: float = 0.0, start_wall_ms: int | None = None) -> None:
        self._mono = start_monotonic
        self._wall_ms = time.time_ns() // 1_000_000 if start_wall_ms is None else start_wall_ms

    def monotonic(self) -> float:
        """Return the current manual monotonic seconds."""
        return self._mono

    def wall_ms(self) -> int:
        """Return the current manual wall milliseconds."""
        return self._wall_ms

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by `seconds`."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._mono += seconds
        self._wall_ms += int(round(seconds * 1000))

    def real_seconds(self, scenario_seconds: float) -> float:
        """Manual clocks have no real-time relation; return the duration unchanged."""
        return scenario_seconds
