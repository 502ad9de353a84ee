"""The versioned event-log envelope of SPEC §10.3 and a size-rotating JSONL writer."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

import msgspec

ENVELOPE_SCHEMA_VERSION: Final = "1.0"
READABLE_SCHEMA_VERSIONS: Final = frozenset({"0.9", "1.0"})


class EnvelopeError(ValueError):
    """A line of an event log that is not a valid envelope; says which file and line."""


class EventEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    """One event-log line. ``payload`` holds the event itself as JSON builtins."""

    event_type: str
    timestamp_ms: int
    sequence: int
    market_id: str | None
    payload: dict[str, Any]
    schema_version: str = ENVELOPE_SCHEMA_VERSION
    t_recv_ns: int = 0
    source: str = ""

    def to_jsonl(self) -> bytes:
        return msgspec.json.encode(self) + b"\n"


_envelope_decoder = msgspec.json.Decoder(EventEnvelope)


def parse_envelope(line: bytes | str, *, where: str = "") -> EventEnvelope:
    """Parse one JSONL line; upgrade readable old versions; raise :class:`EnvelopeError`."""
    try:
        envelope = _envelope_decoder.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise EnvelopeError(f"{where}: not an event envelope: {exc}") from None
    if envelope.schema_version not in READABLE_SCHEMA_VERSIONS:
        raise EnvelopeError(f"{where}: unknown schema version {envelope.schema_version!r}")
    return envelope


class JsonlWriter:
    """Append envelopes to ``DIR/PREFIX-NNNNN.jsonl``, rotating when a file exceeds a size."""

    def __init__(self, directory: str | Path, prefix: str, rotate_bytes: int = 64 << 20) -> None:
        self._dir = Path(directory)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._prefix = prefix
        self._rotate_bytes = rotate_bytes
        existing = sorted(self._dir.glob(f"{prefix}-*.jsonl"))
        self._index = int(existing[-1].stem.rsplit("-", 1)[1]) if existing else 0
        self._file = self._open()
        self._sequence = 0

    @property
    def path(self) -> Path:
        return self._dir / f"{self._prefix}-{self._index:05d}.jsonl"

    def _open(self) -> Any:
        return open(self.path, "ab", buffering=1 << 16)  # noqa: SIM115 - owned by the writer

    def next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    def write(self, envelope: EventEnvelope) -> None:
        self._file.write(envelope.to_jsonl())
        if self._file.tell() >= self._rotate_bytes:
            self._file.close()
            self._index += 1
            self._file = self._open()

    def flush(self, fsync: bool = False) -> None:
        self._file.flush()
        if fsync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self.flush(fsync=True)
            self._file.close()
