"""How far ahead of the market our sources are: first result vs Polymarket's sports WS.

For every MAP_ENDED (per game number) and MATCH_ENDED of a match, the tracker keeps the first
receive time from any source other than ``polymarket_sports`` and the receive time from
``polymarket_sports``. When both are known it reports ``lead_ms = sports_ws - first_other``
once: positive means we knew first. Backfilled results are not compared.
"""

from __future__ import annotations

from dataclasses import dataclass

from polyloly import metrics
from polyloly.domain import MatchEventType
from polyloly.messages import MapEndedPayload, MatchEndedPayload, MatchEvent

SPORTS_SOURCE = "polymarket_sports"
LEAD_METRIC_SOURCE = "polymarket_sports_lead"


@dataclass(frozen=True, slots=True)
class Lead:
    """One comparison: which result, who was first among ours, by how much."""

    match_id: str
    event_type: MatchEventType
    game_number: int
    first_source: str
    lead_ms: int


class LeadTracker:
    """Pairs our first result with the sports WS's one (pure; metrics in :meth:`observe`)."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self._ours: dict[tuple[str, str, int], tuple[str, int]] = {}
        self._market: dict[tuple[str, str, int], int] = {}
        self._done: set[tuple[str, str, int]] = set()
        self._max_keys = max_keys
        self.leads: list[Lead] = []

    def compare(self, event: MatchEvent) -> Lead | None:
        """Take one emitted event; return a :class:`Lead` when a pair completes."""
        payload = event.payload
        if not isinstance(payload, MapEndedPayload | MatchEndedPayload) or payload.backfill:
            return None
        number = payload.game_number if isinstance(payload, MapEndedPayload) else None
        key = (event.match_id, event.event_type.value, number or 0)
        if key in self._done:
            return None
        if len(self._ours) + len(self._market) > self._max_keys:
            self._ours.clear()
            self._market.clear()
        if event.source == SPORTS_SOURCE:
            self._market.setdefault(key, event.t_recv_ms)
        else:
            self._ours.setdefault(key, (event.source, event.t_recv_ms))
        if key in self._ours and key in self._market:
            source, ours_ms = self._ours.pop(key)
            lead = Lead(key[0], event.event_type, key[2], source, self._market.pop(key) - ours_ms)
            self._done.add(key)
            self.leads.append(lead)
            del self.leads[:-1000]
            return lead
        return None

    def observe(self, event: MatchEvent) -> None:
        """Compare ``event`` and record a completed lead in the metrics."""
        lead = self.compare(event)
        if lead is None:
            return
        metrics.sports_ws_lead_seconds.labels(event_type=lead.event_type.value).set(
            lead.lead_ms / 1000)
        if lead.lead_ms >= 0:
            metrics.event_lag_ms.labels(source=LEAD_METRIC_SOURCE).observe(lead.lead_ms)
