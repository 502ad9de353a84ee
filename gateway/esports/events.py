"""What a parser produces from one payload: normalized events, and what it dropped and why.

Parsers are pure (no I/O, no clock): they receive the receive times in an :class:`EventStamp`
and return :class:`ParseResult` values; the adapters' transports do the I/O and the counting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from polyloly.domain import MatchEventType, SourceTier
from polyloly.messages import MatchEvent, PayloadError, payload_from_dict

# Rejection reasons that are bad input (an id or team we cannot place), not malformed payloads.
UNKNOWN_PROVIDER_ID: Final = "unknown_provider_id"
UNKNOWN_TEAM: Final = "unknown_team"
INVALID_PAYLOAD: Final = "invalid_payload"  # an emission whose fields fail its payload struct


@dataclass(frozen=True, slots=True)
class Rejection:
    """Part of a payload that was dropped: ``dead_letter`` True for malformed data, False for
    well-formed data we cannot place (unknown provider id or team): counted as bad input."""

    reason: str
    detail: str
    dead_letter: bool


@dataclass(slots=True)
class ParseResult:
    """What one payload produced: normalized events, and what was dropped and why."""

    events: list[MatchEvent] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def extend(self, other: ParseResult) -> None:
        """Append ``other``'s events and rejections."""
        self.events.extend(other.events)
        self.rejections.extend(other.rejections)

    def unknown_id(self, provider_id: object) -> ParseResult:
        """Record an id that no configured market maps; return self."""
        self.rejections.append(
            Rejection(UNKNOWN_PROVIDER_ID, f"no market maps provider id {provider_id!r}", False)
        )
        return self

    def unknown_team(self, detail: str) -> ParseResult:
        """Record a team we cannot place on side A or B; return self."""
        self.rejections.append(Rejection(UNKNOWN_TEAM, detail, False))
        return self

    def malformed(self, reason: str, detail: str) -> ParseResult:
        """Record a malformed part of the payload; return self."""
        self.rejections.append(Rejection(reason, detail, True))
        return self

    def add_events(
        self, stamp: EventStamp, match_id: str, emissions: list[Emission], t_event_ms: int
    ) -> ParseResult:
        """Append :func:`build_events` of ``emissions``; one whose fields fail its payload
        struct is dead-lettered (``invalid_payload``, provider and field named), the others
        are kept. Return self."""
        events, invalid = build_events(stamp, match_id, emissions, t_event_ms)
        self.events.extend(events)
        for detail in invalid:
            self.malformed(INVALID_PAYLOAD, detail)
        return self


Emission = tuple[MatchEventType, dict[str, Any]]
"""One event to emit: its type and payload (the match, source and stamps are added later)."""


@dataclass(frozen=True, slots=True)
class EventStamp:
    """Who produced an event and when we received its payload."""

    source: str
    tier: SourceTier
    t_recv_ns: int
    t_recv_ms: int


def build_events(
    stamp: EventStamp, match_id: str, emissions: list[Emission], t_event_ms: int
) -> tuple[list[MatchEvent], list[str]]:
    """Wrap emissions into :class:`MatchEvent` values with typed, validated payloads (``seq`` is
    assigned by the shell): the only place payloads are validated, so the shards need not.
    Return the events and, for each emission refused, a line naming the provider, the match,
    the event type and the field."""
    events: list[MatchEvent] = []
    invalid: list[str] = []
    for kind, fields in emissions:
        try:
            payload = payload_from_dict(kind, fields)
        except PayloadError as exc:
            invalid.append(f"{stamp.source} {match_id}: {exc}")
            continue
        events.append(MatchEvent(
            match_id=match_id,
            source=stamp.source,
            tier=stamp.tier,
            event_type=kind,
            payload=payload,
            t_event_ms=t_event_ms,
            t_recv_ns=stamp.t_recv_ns,
            t_recv_ms=stamp.t_recv_ms,
        ))
    return events, invalid
