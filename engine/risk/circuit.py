"""Per-market circuit breakers (seed §9.2): trip on consecutive venue rejects, cancel
failures or a slow order, and halt the market until it is released by hand."""

from __future__ import annotations

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
        return halt

    def release(self, market_id: str) -> bool:
        """Release a halted market and reset its counters; return whether it was halted."""
        self._counters.pop(market_id, None)
        return self._halts.pop(market_id, None) is not None

    def halted(self, market_id: str) -> Halt | None:
        return self._halts.get(market_id)

    def halts(self) -> list[Halt]:
        return list(self._halts.values())
