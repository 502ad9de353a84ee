"""Recording of every raw inbound message (``--record DIR``), so a session replays exactly.

Each message is one :class:`~polyloly.eventlog.EventEnvelope` line in
``DIR/raw-NNNNN.jsonl`` (size-rotated by :class:`~polyloly.eventlog.JsonlWriter`):
``event_type`` names the feed (``polymarket.market_ws``, ``polymarket.user_ws``,
``polymarket.rest_book``, ``esports.<provider>``), ``payload`` is ``{"raw": <utf-8 text>}``
(or ``{"raw_b64": ...}`` for non-UTF-8 bytes), ``t_recv_ns`` the CLOCK_MONOTONIC receive
time, ``timestamp_ms`` the wall-clock receive time and ``sequence`` the global order of
arrival. ``source`` names the connection (e.g. ``market-0``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from gateway.dead_letters import raw_bytes, raw_payload
from polyloly.clock import Clock
from polyloly.eventlog import EventEnvelope, JsonlWriter, parse_envelope

RECORDING_PREFIX = "raw"


class Recorder:
    """Append raw messages to a rotating JSONL recording."""

    def __init__(self, directory: str | Path, clock: Clock, rotate_bytes: int = 64 << 20) -> None:
        self._writer = JsonlWriter(directory, RECORDING_PREFIX, rotate_bytes)
        self._clock = clock

    def record(self, event_type: str, raw: bytes, t_recv_ns: int, source: str = "",
               market_id: str | None = None) -> None:
        """Append one raw message as received."""
        self._writer.write(EventEnvelope(
            event_type=event_type,
            timestamp_ms=self._clock.wall_ms(),
            sequence=self._writer.next_sequence(),
            market_id=market_id,
            payload=raw_payload(raw),
            t_recv_ns=t_recv_ns,
            source=source,
        ))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def read_recording(directory: str | Path) -> Iterator[tuple[EventEnvelope, bytes]]:
    """Yield ``(envelope, raw bytes)`` of a recording in arrival order (for replay)."""
    for path in sorted(Path(directory).glob(f"{RECORDING_PREFIX}-*.jsonl")):
        with open(path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    envelope = parse_envelope(line, where=f"{path}:{number}")
                    yield envelope, raw_bytes(envelope.payload)
