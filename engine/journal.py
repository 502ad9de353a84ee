"""The engine's event log: every message in and out as a versioned envelope (SPEC §10.3).

Durability (specs/07 "Event log"): each record is handed to the OS as it is written (a
SIGKILL loses nothing written; only a power loss can lose the page cache, which the
fsync at :meth:`EventJournal.flush` with ``fsync=True`` and at close covers). On open, a
torn tail left by a crash — a last line without its newline — is cut off and counted
(:attr:`EventJournal.torn_tails`), so the next record never fuses with it; sequence numbers
continue after the last complete record of the previous run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from polyloly import metrics
from polyloly.clock import Clock
from polyloly.eventlog import EnvelopeError, EventEnvelope, JsonlWriter, parse_envelope
from polyloly.logs import get_logger
from polyloly.messages import Message, to_builtins

_LOG = get_logger("engine.journal")
_TAIL_CHUNK = 1 << 16


def repair_tail(path: Path) -> int:
    """Cut a torn last line (no trailing newline) off ``path``; return the bytes dropped."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with open(path, "rb+") as handle:
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        # walk back to the last newline: everything after it is the torn record
        end = size
        keep = 0
        while end > 0:
            start = max(0, end - _TAIL_CHUNK)
            handle.seek(start)
            chunk = handle.read(end - start)
            at = chunk.rfind(b"\n")
            if at >= 0:
                keep = start + at + 1
                break
            end = start
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    return size - keep


def last_sequence(path: Path) -> int | None:
    """The sequence of the last complete, parseable record of ``path`` (None: none)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    with open(path, "rb") as handle:
        end = size
        tail = b""
        while end > 0:
            start = max(0, end - _TAIL_CHUNK)
            handle.seek(start)
            tail = handle.read(end - start) + tail
            lines = tail.split(b"\n")
            # lines[0] may be cut by the chunk boundary unless the chunk began the file
            complete = lines if start == 0 else lines[1:]
            for line in reversed(complete):
                if not line.strip():
                    continue
                try:
                    return parse_envelope(line, where=str(path)).sequence
                except EnvelopeError:
                    continue  # a damaged line in the middle: look further back
            end = start
            tail = lines[0] if start > 0 else b""
    return None


class EventJournal:
    """Append messages to rotating JSONL files through a :class:`JsonlWriter`.

    On construction the writer's current file is repaired (torn tail cut) and the sequence
    continues from the newest complete record among the writer's files.
    """

    def __init__(self, writer: JsonlWriter, clock: Clock) -> None:
        self._writer = writer
        self._clock = clock
        current = writer.path
        self.torn_tails = 0
        dropped = repair_tail(current)
        if dropped:
            self.torn_tails = 1
            metrics.dead_letters.labels(source="engine", reason="journal_torn_tail").inc()
            _LOG.warning("journal_torn_tail", "dropped a torn last record left by a crash",
                         path=str(current), bytes=dropped)
        self._sequence = self._resume_sequence(current)

    @staticmethod
    def _resume_sequence(current: Path) -> int:
        prefix = current.stem.rsplit("-", 1)[0]
        files = sorted(current.parent.glob(f"{prefix}-*.jsonl"), reverse=True)
        for path in files:
            found = last_sequence(path)
            if found is not None:
                return found
        return 0

    @property
    def sequence(self) -> int:
        """The sequence of the last record written (0: none ever)."""
        return self._sequence

    def _write(self, envelope: EventEnvelope) -> None:
        self._writer.write(envelope)
        self._writer.flush()  # to the OS now: a crash of this process loses nothing

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence

    def record(self, message: Message, source: str) -> None:
        """Write one message; ``source`` says where it came from (``shard-0``, ``engine``...)."""
        payload = to_builtins(message)
        market_id = getattr(message, "market_id", None)
        self._write(EventEnvelope(
            event_type=str(payload.get("kind", type(message).__name__)),
            timestamp_ms=self._clock.wall_ms(),
            sequence=self._next(),
            market_id=market_id,
            payload=payload,
            t_recv_ns=self._clock.monotonic_ns(),
            source=source,
        ))

    def record_event(
        self, event_type: str, payload: dict[str, Any], market_id: str | None, source: str
    ) -> None:
        """Write one engine event that is not a bus message (e.g. ``position_correction``)."""
        self._write(EventEnvelope(
            event_type=event_type,
            timestamp_ms=self._clock.wall_ms(),
            sequence=self._next(),
            market_id=market_id,
            payload={"kind": event_type, **payload},
            t_recv_ns=self._clock.monotonic_ns(),
            source=source,
        ))

    def flush(self, fsync: bool = False) -> None:
        self._writer.flush(fsync=fsync)

    def close(self) -> None:
        self._writer.close()
