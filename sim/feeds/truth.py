"""The state of a match over time, as the truth and as each provider reports it.

``MatchTimeline`` folds a match's events into immutable ``MatchState`` snapshots and answers
"what was the state at match time t" by bisection. A provider's timeline is the true one with
its disagreements applied (a different map winner, the series score that follows from it, and
nothing after the series is decided in that provider's eyes). Pure: no clock, no I/O.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from typing import Any

from sim.scenario import MatchSpec, ProviderSettings, TimelineEvent

NOT_STARTED = "not_started"
LIVE = "live"
BETWEEN_MAPS = "between_maps"
FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class MatchState:
    """A snapshot of a series and of its current (or last) map, team A first."""

    phase: str = NOT_STARTED
    map_number: int = 0
    map_start_s: float = 0.0
    map_end_s: float | None = None
    wins_a: int = 0
    wins_b: int = 0
    map_winners: tuple[str, ...] = ()
    gold_diff: float = 0.0
    kills_a: int = 0
    kills_b: int = 0
    towers_a: int = 0
    towers_b: int = 0
    inhibitors_a: int = 0
    inhibitors_b: int = 0
    barons_a: int = 0
    barons_b: int = 0
    roshans_a: int = 0
    roshans_b: int = 0
    dragons_a: tuple[str, ...] = ()
    dragons_b: tuple[str, ...] = ()
    rounds_a: int = 0
    rounds_b: int = 0
    round_winners: tuple[str, ...] = ()
    paused: bool = False
    series_winner: str | None = None
    map_rounds: tuple[tuple[int, int], ...] = ()

    def game_seconds(self, t_s: float, clock_scale: float) -> float:
        """Return the in-game clock (s) of the current map at match time ``t_s``."""
        end = self.map_end_s if self.map_end_s is not None else t_s
        return max(0.0, (min(t_s, end) - self.map_start_s) * clock_scale)


_DRAGONS = ("infernal", "ocean", "mountain", "cloud", "hextech", "chemtech")
_FRESH_MAP: dict[str, Any] = dict(
    gold_diff=0.0, kills_a=0, kills_b=0, towers_a=0, towers_b=0, inhibitors_a=0,
    inhibitors_b=0, barons_a=0, barons_b=0, roshans_a=0, roshans_b=0,
    dragons_a=(), dragons_b=(), rounds_a=0, rounds_b=0, round_winners=(),
    paused=False, map_end_s=None,
)


def apply_event(state: MatchState, event: TimelineEvent, best_of: int) -> MatchState:
    """Return the state after ``event`` (pure reducer)."""
    kind, team, n = event.kind, event.team, event.count
    side = "a" if team == "A" else "b"
    if kind == "map_start":
        return replace(state, phase=LIVE, map_number=event.map_number, map_start_s=event.t_s,
                       **_FRESH_MAP)
    if kind == "gold":
        return replace(state, gold_diff=float(event.gold_diff or 0.0))
    if kind in ("kill", "tower", "inhibitor", "baron", "roshan"):
        field_name = {"kill": "kills", "tower": "towers", "inhibitor": "inhibitors",
                      "baron": "barons", "roshan": "roshans"}[kind] + "_" + side
        return replace(state, **{field_name: getattr(state, field_name) + n})
    if kind == "dragon":
        field_name = "dragons_" + side
        taken = getattr(state, field_name)
        dragon = event.dragon_type or _DRAGONS[(len(state.dragons_a) + len(state.dragons_b))
                                               % len(_DRAGONS)]
        return replace(state, **{field_name: taken + (dragon,) * n})
    if kind == "round_end":
        return replace(state, rounds_a=state.rounds_a + (team == "A"),
                       rounds_b=state.rounds_b + (team == "B"),
                       round_winners=state.round_winners + (team or "A",))
    if kind == "pause":
        return replace(state, paused=True)
    if kind == "resume":
        return replace(state, paused=False)
    if kind == "map_end":
        wins_a = state.wins_a + (team == "A")
        wins_b = state.wins_b + (team == "B")
        needed = best_of // 2 + 1
        return replace(state, phase=BETWEEN_MAPS, wins_a=wins_a, wins_b=wins_b,
                       map_winners=state.map_winners + (team or "A",), map_end_s=event.t_s,
                       paused=False,
                       map_rounds=state.map_rounds + ((state.rounds_a, state.rounds_b),),
                       series_winner=("A" if wins_a >= needed else "B" if wins_b >= needed
                                      else None))
    if kind == "match_end":
        return replace(state, phase=FINISHED, series_winner=team)
    raise ValueError(f"unknown event kind {kind!r}")


def provider_events(match: MatchSpec, settings: ProviderSettings) -> tuple[TimelineEvent, ...]:
    """Return the match timeline as ``settings`` reports it (disagreements applied).

    A disagreeing map winner changes that provider's series score; once the series is decided
    by its own count it reports ``match_end`` and nothing more.
    """
    if not settings.disagreements:
        return match.timeline
    needed = match.best_of // 2 + 1
    wins = {"A": 0, "B": 0}
    events: list[TimelineEvent] = []
    for event in match.timeline:
        if event.kind == "match_end":
            events.append(replace(event, team="A" if wins["A"] >= needed else "B"))
            break
        if event.kind == "map_end" and event.team is not None:
            winner = settings.reported_map_winner(event.map_number, event.team)
            event = replace(event, team=winner)
            wins[winner] += 1
            events.append(event)
            if wins[winner] >= needed:
                events.append(replace(event, kind="match_end"))
                break
            continue
        events.append(event)
    return tuple(events)


class MatchTimeline:
    """Snapshots of one match as seen through one provider (or the truth)."""

    def __init__(self, match: MatchSpec, events: tuple[TimelineEvent, ...] | None = None
                 ) -> None:
        self.match = match
        self.events = match.timeline if events is None else events
        self._times: list[float] = []
        self._states: list[MatchState] = []
        state = MatchState()
        for event in self.events:
            state = apply_event(state, event, match.best_of)
            self._times.append(event.t_s)
            self._states.append(state)

    @classmethod
    def for_provider(cls, match: MatchSpec, provider: str) -> MatchTimeline:
        """Return the timeline of ``match`` as ``provider`` reports it."""
        return cls(match, provider_events(match, match.provider(provider)))

    @property
    def end_s(self) -> float:
        """Match time of the last event (the provider's match_end)."""
        return self._times[-1]

    def state_at(self, t_s: float) -> MatchState:
        """Return the state after every event at match time <= ``t_s``."""
        index = bisect.bisect_right(self._times, t_s)
        return self._states[index - 1] if index else MatchState()

    def events_between(self, start_s: float, end_s: float) -> list[TimelineEvent]:
        """Return the events with ``start_s < t <= end_s`` (match time)."""
        low = bisect.bisect_right(self._times, start_s)
        high = bisect.bisect_right(self._times, end_s)
        return list(self.events[low:high])

    def state_after(self, index: int) -> MatchState:
        """Return the state right after event number ``index``."""
        return self._states[index]
