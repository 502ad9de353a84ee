"""Circuit breaker (SPEC §11.1) and retry with exponential backoff and jitter (§11.2).

Both are driven by an injected clock and random source, so tests are deterministic.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from polyloly.clock import Clock

T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


class CircuitOpenError(RuntimeError):
    """A call was refused because the breaker is open."""


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    failure_threshold: int = 5
    recovery_timeout_s: float = 30.0
    half_open_max_calls: int = 3


class CircuitBreaker:
    """CLOSED → (``failure_threshold`` consecutive failures) → OPEN → (after
    ``recovery_timeout_s``) → HALF_OPEN → (``half_open_max_calls`` successes) → CLOSED;
    any failure in HALF_OPEN reopens it."""

    def __init__(self, name: str, clock: Clock, config: BreakerConfig | None = None) -> None:
        self.name = name
        self._clock = clock
        self.config = config or BreakerConfig()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at_ns = 0
        self._half_open_calls = 0
        self._half_open_successes = 0
        self.trips = 0

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN:
            elapsed_s = (self._clock.monotonic_ns() - self._opened_at_ns) / 1e9
            if elapsed_s >= self.config.recovery_timeout_s:
                self._state = BreakerState.HALF_OPEN
                self._half_open_calls = 0
                self._half_open_successes = 0
        return self._state

    def allow(self) -> bool:
        """Whether a call may go ahead now; counts the call in HALF_OPEN."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        limit = self.config.half_open_max_calls
        if state is BreakerState.HALF_OPEN and self._half_open_calls < limit:
            self._half_open_calls += 1
            return True
        return False

    def record_success(self) -> None:
        if self.state is BreakerState.HALF_OPEN:
            self._half_open_successes += 1
            if self._half_open_successes >= self.config.half_open_max_calls:
                self._state = BreakerState.CLOSED
        self._failures = 0

    def record_failure(self) -> None:
        state = self.state
        self._failures += 1
        if state is BreakerState.HALF_OPEN or self._failures >= self.config.failure_threshold:
            self._trip()

    def _trip(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at_ns = self._clock.monotonic_ns()
        self._failures = 0
        self.trips += 1

    async def call(self, func: Callable[[], Awaitable[T]]) -> T:
        """Run ``func`` through the breaker; raise :class:`CircuitOpenError` when open."""
        if not self.allow():
            raise CircuitOpenError(f"circuit {self.name!r} is {self.state.value}")
        try:
            result = await func()
        except Exception:
            self.record_failure()
            raise
        self.record_success()
        return result


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Delay before retry ``attempt`` (0-based): ``min(max, base * 2**attempt)`` ± jitter."""

    max_attempts: int = 3
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    jitter: float = 0.2  # fraction of the delay, spread uniformly both ways

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        delay = min(self.max_delay_s, self.base_delay_s * (2.0**attempt))
        if self.jitter and rng is not None:
            delay *= 1.0 + rng.uniform(-self.jitter, self.jitter)
        return max(0.0, min(delay, self.max_delay_s))


async def retry_async(
    func: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    is_retryable: Callable[[BaseException], bool],
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Call ``func`` up to ``policy.max_attempts`` times, sleeping between retryable failures;
    a non-retryable error (a clear rejection) is raised at once."""
    attempt = 0
    while True:
        try:
            return await func()
        except Exception as exc:
            attempt += 1
            if attempt >= policy.max_attempts or not is_retryable(exc):
                raise
            await sleep(policy.delay_s(attempt - 1, rng))
