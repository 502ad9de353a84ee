"""The engine's event log: every message in and out as a versioned envelope (SPEC §10.3)."""

from __future__ import annotations

from typing import Any

from polyloly.clock import Clock
from polyloly.eventlog import EventEnvelope, JsonlWriter
from polyloly.messages import Message, to_builtins


class EventJournal:
    """Append messages to rotating JSONL files through a :class:`JsonlWriter`."""

    def __init__(self, writer: JsonlWriter, clock: Clock) -> None:
        self._writer = writer
        self._clock = clock

    def record(self, message: Message, source: str) -> None:
        """Write one message; ``source`` says where it came from (``shard-0``, ``engine``...)."""
        payload = to_builtins(message)
        market_id = getattr(message, "market_id", None)
        self._writer.write(EventEnvelope(
            event_type=str(payload.get("kind", type(message).__name__)),
            timestamp_ms=self._clock.wall_ms(),
            sequence=self._writer.next_sequence(),
            market_id=market_id,
            payload=payload,
            t_recv_ns=self._clock.monotonic_ns(),
            source=source,
        ))

    def record_event(
        self, event_type: str, payload: dict[str, Any], market_id: str | None, source: str
    ) -> None:
        """Write one engine event that is not a bus message (e.g. ``position_correction``)."""
        self._writer.write(EventEnvelope(
            event_type=event_type,
            timestamp_ms=self._clock.wall_ms(),
            sequence=self._writer.next_sequence(),
            market_id=market_id,
            payload={"kind": event_type, **payload},
            t_recv_ns=self._clock.monotonic_ns(),
            source=source,
        ))

    def flush(self, fsync: bool = False) -> None:
        self._writer.flush(fsync=fsync)

    def close(self) -> None:
        self._writer.close()
