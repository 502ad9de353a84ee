"""Properties of the per-source merge (specs/02 "Per-source state"): hypothesis interleavings of
several sources' reports."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from polyloly.config import TruthConfig
from polyloly.domain import MatchEventType, SourceTier
from polyloly.messages import GameStatePayload, MapEndedPayload, MatchEvent
from shards.truth import MatchTruth

MS = 1_000_000
SOURCES = (("grid", SourceTier.A), ("pandascore", SourceTier.B),
           ("polymarket_sports", SourceTier.B))


@st.composite
def reports(draw: st.DrawFn) -> list[MatchEvent]:
    """Game-state reports of one map from three sources, distinct source times, each source's
    own rounds non-decreasing in its own time (an honest feed)."""
    count = draw(st.integers(2, 12))
    times = draw(st.lists(st.integers(1, 50_000), min_size=count, max_size=count, unique=True))
    events = []
    rounds: dict[str, tuple[int, int]] = {}
    for t_ms in sorted(times):
        source, tier = draw(st.sampled_from(SOURCES))
        a, b = rounds.get(source, (0, 0))
        a, b = a + draw(st.integers(0, 2)), b + draw(st.integers(0, 2))
        rounds[source] = (a, b)
        events.append(MatchEvent(
            match_id="m", source=source, tier=tier, event_type=MatchEventType.GAME_STATE,
            payload=GameStatePayload(game_number=1, rounds_a=a, rounds_b=b, maps_a=0, maps_b=0),
            t_event_ms=t_ms, t_recv_ns=(t_ms + draw(st.integers(0, 3000))) * MS,
            t_recv_ms=t_ms))
    return events


def run(events: list[MatchEvent]) -> MatchTruth:
    truth = MatchTruth("m", TruthConfig(future_tolerance_ms=10_000))
    for event in events:
        truth.on_event(event, event.t_recv_ns)
    return truth


def merged_rounds(truth: MatchTruth) -> tuple[int | None, int | None]:
    return truth.score.rounds_a, truth.score.rounds_b


@settings(max_examples=60, deadline=None)
@given(reports(), st.randoms())
def test_truth_merge_is_order_independent_for_distinct_source_times(
    events: list[MatchEvent], rng: object
) -> None:
    shuffled = list(events)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    # a source's own reports arrive in its order (a feed is a stream); sources interleave
    by_source: dict[str, list[MatchEvent]] = {}
    for event in events:
        by_source.setdefault(event.source, []).append(event)
    interleaved = [by_source[e.source].pop(0) for e in shuffled]
    assert merged_rounds(run(events)) == merged_rounds(run(interleaved))


@settings(max_examples=60, deadline=None)
@given(reports())
def test_truth_merge_applying_every_fact_twice_changes_nothing(events: list[MatchEvent]) -> None:
    once = run(events)
    twice = run([e for event in events for e in (event, event)])
    assert merged_rounds(once) == merged_rounds(twice)
    assert once.facts == twice.facts


@settings(max_examples=60, deadline=None)
@given(reports())
def test_truth_merge_takes_the_newest_fact_by_source_time(events: list[MatchEvent]) -> None:
    truth = run(events)
    # per field, a fact's time is when its source FIRST stated that value (a snapshot
    # repeating a score is not news); the merge shows the latest statement over all sources
    expected = []
    for name in ("rounds_a", "rounds_b"):
        stated: dict[str, tuple[int, int]] = {}
        for event in events:
            value = getattr(event.payload, name)
            if event.source not in stated or stated[event.source][1] != value:
                stated[event.source] = (event.t_event_ms, value)
        expected.append(max(stated.values())[1])
    assert merged_rounds(truth) == tuple(expected)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(SOURCES[1:]), st.integers(1, 5_000), st.integers(1, 5_000))
def test_truth_merge_detects_a_map_winner_conflict_between_equal_tiers(
    first: tuple[str, SourceTier], t1: int, t2: int
) -> None:
    other = next(s for s in SOURCES[1:] if s != first)
    truth = MatchTruth("m", TruthConfig())
    for (source, tier), winner, t_ms in ((first, "A", t1), (other, "B", t2)):
        truth.on_event(MatchEvent(
            match_id="m", source=source, tier=tier, event_type=MatchEventType.MAP_ENDED,
            payload=MapEndedPayload(game_number=1, winner=winner, maps_a=int(winner == "A"),
                                    maps_b=int(winner == "B")),
            t_event_ms=t_ms, t_recv_ns=t_ms * MS, t_recv_ms=t_ms), t_ms * MS)
    assert truth.in_conflict and [d.name for d in truth.conflicts][0] == "map_winner:1"
