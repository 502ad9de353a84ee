"""The dead-letter queue (SPEC §5.3): what failed to parse or apply, kept for inspection.

One JSONL line per dead letter, an :class:`~polyloly.eventlog.EventEnvelope` with
``event_type = "dead_letter"`` and ``payload``::

    {"source": "polymarket.market_ws", "reason": "invalid_message", "error": "...",
     "handler": "gateway", "attempt_count": 1, "raw": "<utf-8 text>"}   # or "raw_b64"

Every dead letter is also counted in ``polyloly_dead_letters_total{source,reason}``.
Writing never raises into the caller: a DLQ write failure is logged and counted as
``reason="dlq_write_failed"``.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from polyloly import metrics
from polyloly.clock import Clock
from polyloly.eventlog import EventEnvelope
from polyloly.logs import get_logger

_log = get_logger("gateway.dlq")


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

    def __init__(self, path: str | Path, clock: Clock, handler: str = "gateway") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._handler = handler
        self._file = open(self.path, "ab")  # noqa: SIM115 - owned by the queue
        self._sequence = 0
        self.count = 0

    def put(self, source: str, reason: str, error: str, raw: bytes, t_recv_ns: int = 0,
            market_id: str | None = None) -> None:
        """Count and append one dead letter; flushes at once (dead letters are rare)."""
        metrics.dead_letters.labels(source=source, reason=reason).inc()
        self.count += 1
        self._sequence += 1
        envelope = EventEnvelope(
            event_type="dead_letter",
            timestamp_ms=self._clock.wall_ms(),
            sequence=self._sequence,
            market_id=market_id,
            payload={"source": source, "reason": reason, "error": error[:2000],
                     "handler": self._handler, "attempt_count": 1, **raw_payload(raw)},
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
