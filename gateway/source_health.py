"""Staleness of esports sources (SPEC §6.3), as a pure core.

A source is stale when the age of its last sign of life (a new raw payload or an emitted
event) exceeds its ``stale_threshold_ms``; a source that never sent anything is stale from the
start. A payload byte-identical to one of the source's last :data:`REPEAT_WINDOW` payloads is
no sign of life (:meth:`SourceHealthTracker.observe_payload`): a polled provider that keeps
answering the same frozen snapshot has stopped sending, exactly like a silent socket.
:meth:`SourceHealthTracker.check` returns a :class:`SourceHealth` for each source whose
staleness changed since the previous check (and for every source on the first check).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from polyloly.domain import SourceTier
from polyloly.messages import SourceHealth

# How many recent payload digests per source a repeated payload is compared with (a source
# alternating between a few endpoints, e.g. GRID's socket and its state query, or LoL
# Esports' getLive and window, repeats each answer only every few payloads).
REPEAT_WINDOW = 16


@dataclass(frozen=True, slots=True)
class SourceRule:
    tier: SourceTier
    stale_threshold_ms: int


@dataclass(slots=True)
class _SourceState:
    rule: SourceRule
    last_seen_ns: int | None = None
    stale: bool | None = None  # None: never reported
    recent: deque[bytes] = field(default_factory=lambda: deque(maxlen=REPEAT_WINDOW))


class SourceHealthTracker:
    """Track sign-of-life times per source and report staleness changes."""

    def __init__(self, rules: Mapping[str, SourceRule], start_ns: int) -> None:
        self._start_ns = start_ns
        self._sources = {name: _SourceState(rule) for name, rule in rules.items()}

    def add_source(self, name: str, rule: SourceRule) -> None:
        """Track a source not known at construction (an adapter added later)."""
        self._sources.setdefault(name, _SourceState(rule))

    def observe(self, source: str, t_ns: int) -> bool:
        """Note a sign of life of ``source``; False when the source is unknown."""
        state = self._sources.get(source)
        if state is None:
            return False
        if state.last_seen_ns is None or t_ns > state.last_seen_ns:
            state.last_seen_ns = t_ns
        return True

    def observe_payload(self, source: str, raw: bytes, t_ns: int) -> bool:
        """Note a raw payload of ``source`` received at ``t_ns`` (monotonic ns).

        It counts as a sign of life only when it differs from each of the source's last
        :data:`REPEAT_WINDOW` payloads; True when it counted, False when it was a repeat or the
        source is unknown.
        """
        state = self._sources.get(source)
        if state is None:
            return False
        digest = hashlib.blake2b(raw, digest_size=16).digest()
        if digest in state.recent:
            return False
        state.recent.append(digest)
        return self.observe(source, t_ns)

    def age_ms(self, source: str, now_ns: int) -> int:
        state = self._sources[source]
        since = state.last_seen_ns if state.last_seen_ns is not None else self._start_ns
        return max(0, (now_ns - since) // 1_000_000)

    def check(self, now_ns: int) -> list[SourceHealth]:
        """SourceHealth for every source whose staleness changed (all on the first call)."""
        changes: list[SourceHealth] = []
        for name, state in self._sources.items():
            age_ms = self.age_ms(name, now_ns)
            stale = state.last_seen_ns is None or age_ms > state.rule.stale_threshold_ms
            if stale == state.stale:
                continue
            state.stale = stale
            changes.append(SourceHealth(
                source=name, tier=state.rule.tier, stale=stale, last_event_age_ms=age_ms,
                stale_threshold_ms=state.rule.stale_threshold_ms, t_ns=now_ns,
                detail="no data yet" if state.last_seen_ns is None else "",
            ))
        return changes

    def status(self, now_ns: int) -> dict[str, dict[str, object]]:
        return {
            name: {"tier": s.rule.tier.value, "stale": s.stale,
                   "last_event_age_ms": self.age_ms(name, now_ns),
                   "stale_threshold_ms": s.rule.stale_threshold_ms}
            for name, s in self._sources.items()
        }
