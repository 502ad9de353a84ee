"""Shared esports parser pieces: series progress, team sides, directory; plus test helpers."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.esports.events import EventStamp
from gateway.esports.ids import MatchDirectory, TeamSides, TrackedMatch, normalize_team_name
from gateway.esports.match_state import SeriesProgress
from polyloly.config import MarketConfig, ProviderIds
from polyloly.domain import Game, MatchEventType, SourceTier
from polyloly.messages import MatchEvent, payload_fields
from tests.helpers.fixtures import esports

T_RECV_NS = 5_000_000_000
T_RECV_MS = 1_748_800_000_000


def fixture_bytes(relative: str) -> bytes:
    """Raw bytes of one fixture file."""
    return esports(relative).read_bytes()


def fixture_json(relative: str) -> Any:
    """Decoded fixture file."""
    return json.loads(fixture_bytes(relative))


def market(
    match_id: str,
    game: Game,
    teams: tuple[str, str],
    best_of: int = 3,
    index: int = 0,
    **ids: Any,
) -> MarketConfig:
    """A market config for ``match_id`` with provider ids ``ids``."""
    return MarketConfig(
        market_id=f"0x{index:064x}",
        token_ids=(str(1000 + 2 * index), str(1001 + 2 * index)),
        match_id=match_id,
        game=game,
        teams=teams,
        best_of=best_of,
        provider_ids=ProviderIds(**ids),
    )


def stamp(source: str, tier: SourceTier = SourceTier.B, offset_ms: int = 0) -> EventStamp:
    """A receive stamp ``offset_ms`` after the test epoch."""
    return EventStamp(source, tier, T_RECV_NS + offset_ms * 1_000_000, T_RECV_MS + offset_ms)


def summary(events: list[MatchEvent]) -> list[tuple[str, str, dict[str, Any]]]:
    """(match_id, event type, payload) of each event, for exact comparisons."""
    return [(e.match_id, e.event_type.value, payload_fields(e.payload)) for e in events]


TRACKED = TrackedMatch("m1", Game.CS2, 3, ("Team CCC", "Team DDD"), "x")


def test_series_progress_emits_each_result_once_and_derives_the_match_end() -> None:
    progress = SeriesProgress(TRACKED)
    first = progress.map_ended(1, "A")
    assert [k for k, _ in first] == [MatchEventType.MATCH_STARTED, MatchEventType.MAP_ENDED]
    assert progress.map_ended(1, "A") == []
    second = progress.map_ended(2, "A")
    assert [k for k, _ in second] == [MatchEventType.MAP_ENDED, MatchEventType.MATCH_ENDED]
    assert second[1][1] == {"winner": "A", "maps_a": 2, "maps_b": 0}
    assert progress.match_ended("A") == []
    assert progress.game_state({"game_number": 3}) == []


def test_series_progress_moves_the_point_when_a_provider_changes_a_map_winner() -> None:
    progress = SeriesProgress(TRACKED)
    progress.map_ended(1, "A")
    changed = progress.map_ended(1, "B")
    assert changed[-1][1] == {"game_number": 1, "winner": "B", "maps_a": 0, "maps_b": 1}


def test_series_progress_baseline_is_silent_and_game_state_ignores_the_clock() -> None:
    progress = SeriesProgress(TRACKED)
    progress.baseline(1, 0, {1: "A"})
    assert progress.map_ended(1, "A") == []
    assert len(progress.game_state({"game_number": 2, "kills_a": 1, "game_time_s": 10.0})) == 2
    assert progress.game_state({"game_number": 2, "kills_a": 1, "game_time_s": 12.0}) == []
    assert progress.match_ended("B", backfill=False)[-1][1]["maps_a"] == 1


@given(st.lists(st.sampled_from(["A", "B"]), min_size=1, max_size=7))
def test_series_progress_never_ends_a_match_twice_nor_counts_past_the_majority(
    winners: list[str],
) -> None:
    progress = SeriesProgress(TrackedMatch("m", Game.LOL, 5, ("X", "Y"), "p"))
    ended = 0
    for number, winner in enumerate(winners, start=1):
        for kind, payload in progress.map_ended(number, winner):
            if kind is MatchEventType.MATCH_ENDED:
                ended += 1
                assert max(payload["maps_a"], payload["maps_b"]) == 3
    assert ended == (1 if progress.ended else 0)
    assert progress.maps_a <= 3 and progress.maps_b <= 3


def test_team_sides_resolve_names_loosely_and_learn_ids() -> None:
    sides = TeamSides(("Gen.G", "T1"))
    assert normalize_team_name(" GEN-G ") == "geng"
    assert sides.learn("77", "GenG") == "A"
    assert sides.learn("77", None) == "A"
    assert sides.side_of_id("77") == "A"
    assert sides.learn("88", "Somebody Else") is None
    assert sides.side_of_name(3) is None


def test_match_directory_maps_comma_separated_ids_and_shares_a_match() -> None:
    markets = (
        market("m1", Game.DOTA2, ("A1", "B1"), opendota="100, 101"),
        market("m1", Game.DOTA2, ("A1", "B1"), index=1, opendota="101"),
        market("m2", Game.DOTA2, ("A2", "B2"), index=2),
    )
    directory = MatchDirectory(markets, "opendota")
    assert directory.ids() == ["100", "101"]
    assert directory.lookup(" 101 ").match_id == "m1"  # type: ignore[union-attr]
    assert directory.lookup("999") is None
    assert len(directory) == 1
