"""Per-market circuit breakers (SPEC §9.2): trip on consecutive venue rejects, cancel
failures or a slow order, and halt the market until it is released by hand.

Every halt and release goes through :meth:`CircuitBreakers.halt` / :meth:`~CircuitBreakers.
release`, which tell the optional :attr:`CircuitBreakers.listener` (the engine core persists
them in SQLite there, so halts survive a restart); :meth:`~CircuitBreakers.restore` re-installs
a stored halt without telling it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from polyloly.config import CircuitConfig


@dataclass(slots=True)
class _MarketCounters:
    consecutive_rejects: int = 0
    cancel_failures: int = 0


@dataclass(frozen=True, slots=True)
class Halt:
    """A halted market: why and since when (wall ms)."""

    market_id: str
    reason: str
    since_ms: int


class CircuitBreakers:
    """Counters and halts of every market. Methods return the :class:`Halt` they caused."""

    def __init__(self, config: CircuitConfig) -> None:
        self._config = config
        self._counters: dict[str, _MarketCounters] = {}
        self._halts: dict[str, Halt] = {}
        self.listener: Callable[[str, Halt], None] | None = None
        """Called with ("halt" | "release", the halt) on every new halt and every release."""

    def _of(self, market_id: str) -> _MarketCounters:
        counters = self._counters.get(market_id)
        if counters is None:
            counters = self._counters[market_id] = _MarketCounters()
        return counters

    def on_venue_reject(self, market_id: str, now_ms: int) -> Halt | None:
        """Count one venue refusal; trip after ``max_consecutive_rejects`` in a row."""
        counters = self._of(market_id)
        counters.consecutive_rejects += 1
        if counters.consecutive_rejects >= self._config.max_consecutive_rejects:
            return self.halt(market_id, "consecutive_rejects", now_ms)
        return None

    def on_venue_accept(self, market_id: str) -> None:
        """A successful submit resets the consecutive-reject count."""
        self._of(market_id).consecutive_rejects = 0

    def on_cancel_failure(self, market_id: str, now_ms: int) -> Halt | None:
        """Count one failed cancel; trip after ``max_cancel_failures``."""
        counters = self._of(market_id)
        counters.cancel_failures += 1
        if counters.cancel_failures >= self._config.max_cancel_failures:
            return self.halt(market_id, "cancel_failures", now_ms)
        return None

    def on_order_latency(self, market_id: str, latency_ms: float, now_ms: int) -> Halt | None:
        """Trip when one order took longer than ``max_order_latency_ms`` to be answered."""
        if latency_ms > self._config.max_order_latency_ms:
            return self.halt(market_id, "order_latency", now_ms)
        return None

    def halt(self, market_id: str, reason: str, now_ms: int) -> Halt | None:
        """Halt a market; return the new halt, or None when it was already halted."""
        if market_id in self._halts:
            return None
        halt = Halt(market_id=market_id, reason=reason, since_ms=now_ms)
        self._halts[market_id] = halt
        if self.listener is not None:
            self.listener("halt", halt)
        return halt

    def restore(self, halt: Halt) -> None:
        """Re-install a halt stored by an earlier run (the listener is not told)."""
        self._halts[halt.market_id] = halt

    def release(self, market_id: str) -> bool:
        """Release a halted market and reset its counters; return whether it was halted."""
        self._counters.pop(market_id, None)
        halt = self._halts.pop(market_id, None)
        if halt is not None and self.listener is not None:
            self.listener("release", halt)
        return halt is not None

    def halted(self, market_id: str) -> Halt | None:
        return self._halts.get(market_id)

    def halts(self) -> list[Halt]:
        return list(self._halts.values())
