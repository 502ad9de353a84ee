"""Circuit breaker transitions and retry backoff, driven by a manual clock."""

from __future__ import annotations

import asyncio
import random

import pytest

from polyloly.clock import ManualClock
from polyloly.resilience import (
    BreakerConfig,
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    RetryPolicy,
    retry_async,
)


def test_breaker_opens_after_threshold_then_half_opens_then_closes() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker("ws", clock, BreakerConfig(3, 30.0, 2))
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.advance(s=29.9)
    assert breaker.state is BreakerState.OPEN
    clock.advance(s=0.1)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow() and breaker.allow() and not breaker.allow()
    breaker.record_success()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.trips == 1


def test_failure_in_half_open_reopens() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker("rest", clock, BreakerConfig(1, 5.0, 1))
    breaker.record_failure()
    clock.advance(s=5)
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and breaker.trips == 2


def test_call_refuses_when_open() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker("x", clock, BreakerConfig(1, 5.0, 1))

    async def boom() -> None:
        raise OSError("down")

    with pytest.raises(OSError):
        asyncio.run(breaker.call(boom))
    with pytest.raises(CircuitOpenError):
        asyncio.run(breaker.call(boom))


def test_backoff_doubles_and_caps_with_bounded_jitter() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay_s=1.0, max_delay_s=30.0, jitter=0.0)
    assert [policy.delay_s(a) for a in range(6)] == [1, 2, 4, 8, 16, 30]
    jittered = RetryPolicy(base_delay_s=1.0, max_delay_s=30.0, jitter=0.2)
    rng = random.Random(1)
    for attempt in range(8):
        delay = jittered.delay_s(attempt, rng)
        nominal = min(30.0, 2.0**attempt)
        assert 0.8 * nominal <= delay <= min(30.0, 1.2 * nominal)


def test_retry_retries_only_retryable_errors() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    async def sleep(delay: float) -> None:
        sleeps.append(delay)

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TimeoutError("slow")
        return "ok"

    policy = RetryPolicy(max_attempts=5, base_delay_s=0.5, jitter=0.0)
    result = asyncio.run(
        retry_async(flaky, policy, is_retryable=lambda e: isinstance(e, TimeoutError), sleep=sleep)
    )
    assert result == "ok" and sleeps == [0.5, 1.0]

    async def rejected() -> str:
        calls.append(1)
        raise ValueError("invalid tick")

    calls.clear()
    with pytest.raises(ValueError):
        asyncio.run(
            retry_async(rejected, policy, is_retryable=lambda e: isinstance(e, TimeoutError),
                        sleep=sleep)
        )
    assert len(calls) == 1
