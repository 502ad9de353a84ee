"""REST ``GET /book?token_id=`` for resyncing a diverged or silent book (VENUE §3.3)."""

from __future__ import annotations

import random
import time

import aiohttp

from polyloly.resilience import CircuitBreaker, RetryPolicy, retry_async


class BookFetchError(RuntimeError):
    """The venue did not return a book (status and body say why)."""

    def __init__(self, token_id: str, detail: str, retryable: bool) -> None:
        super().__init__(f"GET /book for token {token_id[:16]}…: {detail}")
        self.retryable = retryable


class RestBookFetcher:
    """Fetch raw ``/book`` bodies with retries behind a circuit breaker."""

    def __init__(self, base_url: str, timeout_s: float, breaker: CircuitBreaker,
                 policy: RetryPolicy, rng: random.Random | None = None) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._breaker = breaker
        self._policy = policy
        self._rng = rng or random.Random()
        self._session: aiohttp.ClientSession | None = None

    async def fetch(self, token_id: str) -> tuple[bytes, int]:
        """Return ``(raw body, CLOCK_MONOTONIC receive ns)``; raise on final failure."""
        return await retry_async(
            lambda: self._breaker.call(lambda: self._get(token_id)),
            self._policy,
            is_retryable=lambda exc: not isinstance(exc, BookFetchError) or exc.retryable,
            rng=self._rng,
        )

    async def _get(self, token_id: str) -> tuple[bytes, int]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._session.get(f"{self._base_url}/book",
                                     params={"token_id": token_id}) as response:
            body = await response.read()
            t_recv_ns = time.monotonic_ns()
            if response.status != 200:
                raise BookFetchError(token_id, f"HTTP {response.status}: {body[:200]!r}",
                                     retryable=response.status >= 500 or response.status == 429)
            return body, t_recv_ns

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
