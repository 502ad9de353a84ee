"""The dead-letter queue (SPEC §5.3): what failed to parse or apply, kept for inspection.

One JSONL line per dead letter, an :class:`~polyloly.eventlog.EventEnvelope` with
``event_type = "dead_letter"`` and ``payload``::

    {"source": "polymarket.market_ws", "reason": "invalid_message", "error": "...",
     "handler": "gateway", "attempt_count": 1, "raw": "<utf-8 text>"}   # or "raw_b64"

Every dead letter is also counted in ``polyloly_dead_letters_total{source,reason}``.
Writing never raises into the caller: a DLQ write failure is logged and counted as
``reason="dlq_write_failed"``.

Bounded (issue 20 #7: one 10 MB frame wrote 390k lines and stalled the gateway): the raw bytes
kept per line are capped (``raw_bytes`` gives the original size), and lines are written at most
``burst`` at once, refilled at ``rate_per_s``. Dead letters beyond that are counted (metrics,
:attr:`DeadLetterQueue.count` and :attr:`DeadLetterQueue.suppressed`) but not written; the next
written line carries ``suppressed_before`` so the file says how many are missing.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any, Final

from polyloly import metrics
from polyloly.clock import Clock
from polyloly.eventlog import EventEnvelope
from polyloly.logs import get_logger

_log = get_logger("gateway.dlq")

MAX_RAW_BYTES: Final = 16 << 10  # raw bytes kept in one line
DEFAULT_BURST: Final = 200  # lines written back to back before the rate applies
DEFAULT_RATE_PER_S: Final = 50.0


def raw_payload(raw: bytes) -> dict[str, str]:
    """``{"raw": text}`` when ``raw`` is UTF-8, else ``{"raw_b64": base64}`` (lossless)."""
    try:
        return {"raw": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"raw_b64": base64.b64encode(raw).decode("ascii")}


def raw_bytes(payload: dict[str, Any]) -> bytes:
    """Inverse of :func:`raw_payload`."""
    if "raw_b64" in payload:
        return base64.b64decode(payload["raw_b64"])
    return str(payload["raw"]).encode("utf-8")


class DeadLetterQueue:
    """Append-only DLQ file; one instance per process (single event-loop thread)."""

    def __init__(self, path: str | Path, clock: Clock, handler: str = "gateway", *,
                 burst: int = DEFAULT_BURST, rate_per_s: float = DEFAULT_RATE_PER_S) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._handler = handler
        self._file = open(self.path, "ab")  # noqa: SIM115 - owned by the queue
        self._sequence = 0
        self.count = 0
        self.suppressed = 0  # counted but not written (rate limit)
        self._suppressed_unreported = 0
        self._burst = float(burst)
        self._rate_per_s = rate_per_s
        self._tokens = float(burst)
        self._refilled_ns = time.monotonic_ns()

    def _allow(self) -> bool:
        now_ns = time.monotonic_ns()
        self._tokens = min(self._burst,
                           self._tokens + (now_ns - self._refilled_ns) / 1e9 * self._rate_per_s)
        self._refilled_ns = now_ns
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def count_only(self, source: str, reason: str, n: int) -> None:
        """Count ``n`` dead letters that were never materialized (a frame's errors past its
        cap): in the metrics and :attr:`suppressed`, not in the file."""
        if n <= 0:
            return
        metrics.dead_letters.labels(source=source, reason=reason).inc(n)
        self.count += n
        self.suppressed += n
        self._suppressed_unreported += n

    def put(self, source: str, reason: str, error: str, raw: bytes, t_recv_ns: int = 0,
            market_id: str | None = None) -> None:
        """Count and append one dead letter (rate-limited); flushes at once."""
        metrics.dead_letters.labels(source=source, reason=reason).inc()
        self.count += 1
        if not self._allow():
            self.suppressed += 1
            self._suppressed_unreported += 1
            return
        self._sequence += 1
        kept = raw[:MAX_RAW_BYTES]
        payload: dict[str, Any] = {
            "source": source, "reason": reason, "error": error[:2000], "handler": self._handler,
            "attempt_count": 1, **raw_payload(kept)}
        if len(kept) < len(raw):
            payload["raw_bytes"] = len(raw)  # raw truncated to MAX_RAW_BYTES
        if self._suppressed_unreported:
            payload["suppressed_before"] = self._suppressed_unreported
            self._suppressed_unreported = 0
        envelope = EventEnvelope(
            event_type="dead_letter",
            timestamp_ms=self._clock.wall_ms(),
            sequence=self._sequence,
            market_id=market_id,
            payload=payload,
            t_recv_ns=t_recv_ns,
            source=source,
        )
        try:
            self._file.write(envelope.to_jsonl())
            self._file.flush()
        except (OSError, ValueError) as exc:
            metrics.dead_letters.labels(source=source, reason="dlq_write_failed").inc()
            _log.error("dlq_write_failed", f"cannot append to {self.path}: {exc}",
                       source=source, reason=reason)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
