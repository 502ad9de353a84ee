"""Per-source match facts and their merge (specs/02 "Per-source state").

Each source's view of a match is kept apart as *facts*: a field (the series score, the map
number, one in-map number, a map's winner, the match's end), its value, the time the source
says it happened (``t_source_ms``, the event's ``t_event_ms``) and our receive time. The merged
view takes, per field, the newest fact by source time among usable sources (never an older
one); a fact is identified by (source, field, value), so a duplicate or replayed report changes
nothing. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from polyloly.domain import SourceTier

SERIES: Final = "series"  # value: (maps_a, maps_b)
GAME: Final = "game_number"  # value: int
END: Final = "end"  # value: the series winner "A"/"B"
MAP_WINNER: Final = "map_winner:"  # + game number; value: "A"/"B"
IN_MAP: Final = (
    "gold_diff_a", "game_time_s", "rounds_a", "rounds_b",
    "kills_a", "kills_b", "towers_a", "towers_b",
)
# Tier order for ties and for conflict resolution (A outranks B outranks C).
TIER_RANK: Final[Mapping[SourceTier, int]] = {SourceTier.A: 3, SourceTier.B: 2, SourceTier.C: 1}

FactValue = int | float | str | tuple[int, int]


@dataclass(frozen=True, slots=True)
class Fact:
    """One source's statement about one field, with when it says it happened."""

    name: str  # field name; in-map fields are "<game_number>:<field>"
    value: FactValue
    source: str
    tier: SourceTier
    t_source_ms: int
    t_recv_ns: int
    delay_ms: int  # how late the source delivered it (receive − source time, ≥ 0)

    def newer_than(self, other: Fact) -> bool:
        """Merge order: later source time wins; ties go to the higher tier, then the name, so
        the merge does not depend on arrival order."""
        return (self.t_source_ms, TIER_RANK[self.tier], self.source) > (
            other.t_source_ms, TIER_RANK[other.tier], other.source)


def in_map_key(game_number: int, name: str) -> str:
    """The fact name of in-map field ``name`` during game ``game_number``."""
    return f"{game_number}:{name}"


def fact_text(value: FactValue) -> str:
    """A fact's value as an intent carries it (``FactRef.value``): a series score "2-1", a
    winner "A", a count "13" — the form the truth audit (ops/truth_audit.py) compares."""
    if isinstance(value, tuple):
        return f"{value[0]}-{value[1]}"
    return str(value)


@dataclass(slots=True)
class SourceView:
    """Everything one source said about one match: its newest fact per field."""

    source: str
    tier: SourceTier
    facts: dict[str, Fact] = field(default_factory=dict)
    bad_facts: int = 0
    unhealthy: bool = False  # too many bad facts: excluded from the merge and confirmation
    stale: bool = False  # the gateway's SourceHealth says stale (or in outage)
    last_recv_ns: int | None = None

    def put(self, fact: Fact) -> bool:
        """Keep ``fact`` if it is new for this source; False for a repeat (same value) or an
        older statement (a replay): a fact is identified, never counted twice."""
        current = self.facts.get(fact.name)
        if current is not None and (current.value == fact.value
                                    or current.t_source_ms > fact.t_source_ms):
            return False
        self.facts[fact.name] = fact
        return True

    @property
    def usable(self) -> bool:
        """Counted in the merge: not marked unhealthy for bad facts."""
        return not self.unhealthy


def merged(views: Iterable[SourceView]) -> dict[str, Fact]:
    """Per field, the newest fact by source time among usable sources; sources stale by
    SourceHealth count only for fields no fresh source has."""
    fresh: dict[str, Fact] = {}
    stale: dict[str, Fact] = {}
    for view in views:
        if not view.usable:
            continue
        target = stale if view.stale else fresh
        for name, fact in view.facts.items():
            best = target.get(name)
            if best is None or fact.newer_than(best):
                target[name] = fact
    for name, fact in stale.items():
        fresh.setdefault(name, fact)
    return fresh


@dataclass(frozen=True, slots=True)
class Disagreement:
    """Sources naming different values for one field (a map winner, the series, the end)."""

    name: str
    by_source: dict[str, str]


def _side_confirmed(facts: list[Fact], required: int) -> bool:
    """SPEC §6.2 on one side of a disagreement: a tier-A source, or ``required`` tier-B."""
    tiers = [f.tier for f in facts]
    return SourceTier.A in tiers or sum(t is SourceTier.B for t in tiers) >= required


def settle(facts: list[Fact], required: int) -> FactValue | None:
    """The value a disagreement resolves to, or None while it stands.

    Resolved when every source agrees, or when exactly one side is confirmed by the SPEC §6.2
    rules (a tier-A source, or ``required`` tier-B sources) and no other side is.
    """
    values = {f.value for f in facts}
    if len(values) <= 1:
        return next(iter(values), None)
    confirmed = [v for v in values
                 if _side_confirmed([f for f in facts if f.value == v], required)]
    return confirmed[0] if len(confirmed) == 1 else None


def disagreements(views: Iterable[SourceView], required: int) -> list[Disagreement]:
    """Unresolved disagreements among usable sources on map winners, the series score (same
    number of maps played, different split) and the end (two winners, or an end contradicted
    by a map the same or a later source time says was played after it)."""
    usable = [v for v in views if v.usable]
    by_name: dict[str, list[Fact]] = {}
    for view in usable:
        for name, fact in view.facts.items():
            if name.startswith(MAP_WINNER) or name == END:
                by_name.setdefault(name, []).append(fact)
        series = view.facts.get(SERIES)
        if series is not None and isinstance(series.value, tuple):
            total = sum(series.value)
            by_name.setdefault(f"{SERIES}:{total}", []).append(series)
    found: list[Disagreement] = []
    for name, facts in sorted(by_name.items()):
        if settle(facts, required) is None:
            found.append(Disagreement(name, {f.source: str(f.value) for f in facts}))
    for view in usable:
        end = view.facts.get(END)
        running = _running_after(view, usable)
        if end is None or not running:
            continue
        end_rank = TIER_RANK[end.tier]
        best_running = max(TIER_RANK[f.tier] for f in running)
        if end_rank == best_running:  # same tier on both sides: neither settles it
            found.append(Disagreement(END + ":running", {
                end.source: f"ended {end.value}",
                **{f.source: f"game {f.value} running" for f in running}}))
    return found


def _running_after(view: SourceView, usable: list[SourceView]) -> list[Fact]:
    """Other sources' map numbers, stated at or after ``view``'s end report, of a map that
    report says was never played (the series it ended on had fewer maps)."""
    end = view.facts.get(END)
    series = view.facts.get(SERIES)
    if end is None or series is None or not isinstance(series.value, tuple):
        return []
    maps_played = sum(series.value)
    return [v.facts[GAME] for v in usable if v.source != view.source
            and GAME in v.facts and isinstance(v.facts[GAME].value, int)
            and v.facts[GAME].value > maps_played
            and v.facts[GAME].t_source_ms >= end.t_source_ms]


def overruled_ends(views: Iterable[SourceView], required: int) -> set[str]:
    """Sources whose end report lost a settled disagreement (the end's winner, a map winner,
    or 'still running' from a higher tier): their end does not count for confirmation."""
    usable = [v for v in views if v.usable]
    losers: set[str] = set()
    names = {n for v in usable for n in v.facts if n.startswith(MAP_WINNER) or n == END}
    for name in names:
        facts = [v.facts[name] for v in usable if name in v.facts]
        value = settle(facts, required)
        if value is not None:
            losers |= {f.source for f in facts if f.value != value}
    for view in usable:
        running = _running_after(view, usable)
        end = view.facts.get(END)
        if end is not None and running and max(
                TIER_RANK[f.tier] for f in running) > TIER_RANK[end.tier]:
            losers.add(view.source)
    return {s for s in losers if s in {v.source for v in usable if END in v.facts}}
