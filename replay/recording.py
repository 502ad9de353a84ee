"""Reading a recording: envelopes in arrival order, old schemas upgraded, bad input reported.

A recording is a directory of ``raw-NNNNN.jsonl`` files written by
:class:`gateway.recorder.Recorder` (one :class:`~polyloly.eventlog.EventEnvelope` per line),
plus ``config.yaml``, the merged config it was recorded with. The rules for bad input are in
``specs/11_REPLAY_SPEC.md`` ("Bad input"); each rule has a named :class:`IssueKind`:

* a truncated last line of a file (no newline, not an envelope) is skipped and reported;
* any other line that is not an envelope, or has an unknown schema version, refuses the whole
  recording (:class:`RecordingRefused`, naming file and line): a result computed around a
  corrupt middle would look right and be wrong;
* an unknown event type is skipped and reported (counted per type);
* a gap in sequence numbers is reported (the result is marked incomplete); a sequence that
  goes back to 1 is a recorder restart (reported, accepted); any other backward or repeated
  sequence is a duplicate line: skipped and reported;
* a receive time earlier than the previous one is replayed at the previous time (reported).
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import msgspec

from polyloly.eventlog import EnvelopeError, EventEnvelope, parse_envelope

RECORDING_PREFIX: Final = "raw"
CONFIG_FILE: Final = "config.yaml"
CURRENT_SCHEMA: Final = "1.0"

MARKET_WS: Final = "polymarket.market_ws"
REST_BOOK: Final = "polymarket.rest_book"
USER_WS: Final = "polymarket.user_ws"
ESPORTS_PREFIX: Final = "esports."

# Schema 0.9 (recorder before t_recv_ns/source existed) named the Polymarket feeds without
# the "polymarket." prefix; esports feeds were already "esports.<provider>".
_V09_EVENT_TYPES: Final = {
    "market_ws": MARKET_WS,
    "rest_book": REST_BOOK,
    "user_ws": USER_WS,
}
_NS_PER_MS: Final = 1_000_000
MAX_ISSUES_PER_KIND: Final = 20


class RecordingRefused(ValueError):
    """The recording cannot be replayed faithfully; the message names the file and line."""


class IssueKind(enum.StrEnum):
    """What was wrong with a line of a recording (and what the reader did about it)."""

    TRUNCATED_LINE = "truncated_line"  # skipped
    UNKNOWN_EVENT_TYPE = "unknown_event_type"  # skipped
    SEQUENCE_GAP = "sequence_gap"  # replayed; result marked incomplete
    SEQUENCE_RESTART = "sequence_restart"  # replayed (the recorder was restarted)
    DUPLICATE_SEQUENCE = "duplicate_sequence"  # skipped
    TIME_WENT_BACKWARD = "time_went_backward"  # replayed at the previous time
    UPGRADED_SCHEMA = "upgraded_schema"  # replayed after upgrading to the current schema
    BAD_PAYLOAD = "bad_payload"  # skipped: no raw bytes in the payload


@dataclass(frozen=True, slots=True)
class Issue:
    """One reported problem, with where it was."""

    kind: IssueKind
    file: str
    line: int
    detail: str

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form for summary.json."""
        return {"kind": self.kind.value, "file": self.file, "line": self.line,
                "detail": self.detail}


@dataclass(slots=True)
class IssueLog:
    """Every issue counted; the first :data:`MAX_ISSUES_PER_KIND` of each kind kept."""

    counts: Counter[str] = field(default_factory=Counter)
    kept: list[Issue] = field(default_factory=list)

    def add(self, issue: Issue) -> None:
        """Count ``issue`` and keep it if fewer than the cap of its kind are kept."""
        self.counts[issue.kind.value] += 1
        if self.counts[issue.kind.value] <= MAX_ISSUES_PER_KIND:
            self.kept.append(issue)

    @property
    def complete(self) -> bool:
        """False when something was lost (a sequence gap, a truncated or unreadable line)."""
        lost = (IssueKind.SEQUENCE_GAP, IssueKind.TRUNCATED_LINE, IssueKind.BAD_PAYLOAD)
        return not any(self.counts[kind.value] for kind in lost)


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """One replayable inbound message: envelope fields the replay needs, and the raw bytes."""

    event_type: str
    source: str
    t_recv_ns: int  # CLOCK_MONOTONIC of the recording host, never decreasing
    timestamp_ms: int  # wall clock at receive
    sequence: int
    raw: bytes
    file: str
    line: int


def recording_files(directory: str | Path) -> list[Path]:
    """The ``raw-NNNNN.jsonl`` files of a recording, in order; refuse an empty directory."""
    path = Path(directory)
    if not path.is_dir():
        raise RecordingRefused(f"{path}: not a directory")
    files = sorted(path.glob(f"{RECORDING_PREFIX}-*.jsonl"))
    if not files:
        raise RecordingRefused(f"{path}: no {RECORDING_PREFIX}-*.jsonl files (not a recording)")
    return files


def known_event_type(event_type: str) -> bool:
    """Event types the replay knows how to feed (user-channel updates are replayed by the
    paper executor's own fills instead, so they are known but not fed)."""
    return event_type in (MARKET_WS, REST_BOOK, USER_WS) or (
        event_type.startswith(ESPORTS_PREFIX) and len(event_type) > len(ESPORTS_PREFIX))


def upgrade(envelope: EventEnvelope) -> EventEnvelope:
    """Bring a readable envelope to the current schema (0.9 → 1.0: receive time from the wall
    clock, feed names with their ``polymarket.`` prefix, ``source`` from the feed name)."""
    if envelope.schema_version == CURRENT_SCHEMA:
        return envelope
    event_type = _V09_EVENT_TYPES.get(envelope.event_type, envelope.event_type)
    source = envelope.source or event_type.rsplit(".", 1)[-1]
    t_recv_ns = envelope.t_recv_ns or envelope.timestamp_ms * _NS_PER_MS
    return msgspec.structs.replace(envelope, event_type=event_type, source=source,
                                   t_recv_ns=t_recv_ns, schema_version=CURRENT_SCHEMA)


def _raw_of(payload: dict[str, object]) -> bytes | None:
    if isinstance(payload.get("raw"), str):
        return str(payload["raw"]).encode("utf-8")
    if isinstance(payload.get("raw_b64"), str):
        try:
            return base64.b64decode(str(payload["raw_b64"]), validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def read_recording(directory: str | Path, issues: IssueLog) -> Iterator[RecordedMessage]:
    """Yield every replayable message in arrival order, applying the bad-input rules.

    Raise :class:`RecordingRefused` for a corrupt line that is not the truncated tail of a
    file, and for an unknown schema version.
    """
    last_sequence = 0
    last_t_ns = 0
    upgraded_reported = False
    for path in recording_files(directory):
        name = str(path)
        data = path.read_bytes()
        lines = data.split(b"\n")
        ends_with_newline = data.endswith(b"\n")
        if ends_with_newline:
            lines.pop()
        for index, line in enumerate(lines):
            number = index + 1
            if not line.strip():
                continue
            is_tail = index == len(lines) - 1 and not ends_with_newline
            try:
                envelope = parse_envelope(line, where=f"{name}:{number}")
            except EnvelopeError as exc:
                if is_tail and "unknown schema version" not in str(exc):
                    issues.add(Issue(IssueKind.TRUNCATED_LINE, name, number,
                                     f"last line cut short ({len(line)} bytes): skipped"))
                    continue
                raise RecordingRefused(str(exc)) from None
            if envelope.schema_version != CURRENT_SCHEMA:
                if not upgraded_reported:
                    issues.add(Issue(IssueKind.UPGRADED_SCHEMA, name, number,
                                     f"schema {envelope.schema_version} upgraded to "
                                     f"{CURRENT_SCHEMA}"))
                    upgraded_reported = True
                envelope = upgrade(envelope)
            sequence = envelope.sequence
            if not last_sequence and sequence > 1:
                issues.add(Issue(IssueKind.SEQUENCE_GAP, name, number,
                                 f"recording starts at sequence {sequence}: "
                                 f"{sequence - 1} line(s) missing before it"))
            elif last_sequence and sequence != last_sequence + 1:
                if sequence == 1:
                    issues.add(Issue(IssueKind.SEQUENCE_RESTART, name, number,
                                     f"sequence restarts at 1 after {last_sequence}"))
                elif sequence <= last_sequence:
                    issues.add(Issue(IssueKind.DUPLICATE_SEQUENCE, name, number,
                                     f"sequence {sequence} after {last_sequence}: skipped"))
                    continue
                else:
                    missing = sequence - last_sequence - 1
                    issues.add(Issue(IssueKind.SEQUENCE_GAP, name, number,
                                     f"{missing} line(s) missing between sequence "
                                     f"{last_sequence} and {sequence}"))
            last_sequence = sequence
            if not known_event_type(envelope.event_type):
                issues.add(Issue(IssueKind.UNKNOWN_EVENT_TYPE, name, number,
                                 f"event type {envelope.event_type!r}: skipped"))
                continue
            raw = _raw_of(envelope.payload)
            if raw is None:
                issues.add(Issue(IssueKind.BAD_PAYLOAD, name, number,
                                 "payload has no 'raw' text nor valid 'raw_b64': skipped"))
                continue
            t_recv_ns = envelope.t_recv_ns
            if t_recv_ns < last_t_ns:
                issues.add(Issue(IssueKind.TIME_WENT_BACKWARD, name, number,
                                 f"t_recv_ns {t_recv_ns} < previous {last_t_ns}: replayed at "
                                 f"the previous time"))
                t_recv_ns = last_t_ns
            last_t_ns = t_recv_ns
            yield RecordedMessage(envelope.event_type, envelope.source, t_recv_ns,
                                  envelope.timestamp_ms, sequence, raw, name, number)


def find_config(directory: str | Path) -> Path | None:
    """The config a recording was made with: ``DIR/config.yaml``, else the demo layout's
    ``DIR/../config.yaml``; None when neither exists."""
    path = Path(directory)
    for candidate in (path / CONFIG_FILE, path.parent / CONFIG_FILE):
        if candidate.is_file():
            return candidate
    return None
