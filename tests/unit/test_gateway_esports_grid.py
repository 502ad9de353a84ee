"""GRID Series Events and Series State → MatchEvents (fixtures, garbage, unknown ids)."""

from __future__ import annotations

import json

import pytest

from gateway.esports.grid import GridParser
from gateway.esports.ids import MatchDirectory
from gateway.esports.json_fields import ParseError
from polyloly.domain import Game, SourceTier
from tests.unit.test_gateway_esports_common import (
    fixture_bytes,
    market,
    stamp,
    summary,
)

EVENTS = "grid/example_series_events_message.synthetic.json"
STATE = "grid/example_series_state_response.synthetic.json"


def parser(teams: tuple[str, str] = ("Team AAA", "Team BBB")) -> GridParser:
    markets = (
        market("lol-aaa-bbb", Game.LOL, teams, grid="2800001"),
        market("cs-ccc-ddd", Game.CS2, ("Team CCC", "Team DDD"), index=1, grid="2800002"),
    )
    return GridParser(MatchDirectory(markets, "grid"))


WON = {"winner_team": "Team AAA", "winner_team_id": "47494"}


@pytest.mark.parametrize(
    ("teams", "expected"),
    [
        (
            ("Team AAA", "Team BBB"),
            [
                ("lol-aaa-bbb", "MATCH_STARTED", {}),
                ("lol-aaa-bbb", "MAP_ENDED",
                 {"game_number": 2, "winner": "A", "maps_a": 2, "maps_b": 0, **WON}),
                ("lol-aaa-bbb", "MATCH_ENDED", {"winner": "A", "maps_a": 2, "maps_b": 0, **WON}),
            ],
        ),
        (
            ("Team BBB", "Team AAA"),
            [
                ("lol-aaa-bbb", "MATCH_STARTED", {}),
                ("lol-aaa-bbb", "MAP_ENDED",
                 {"game_number": 2, "winner": "B", "maps_a": 0, "maps_b": 2, **WON}),
                ("lol-aaa-bbb", "MATCH_ENDED", {"winner": "B", "maps_a": 0, "maps_b": 2, **WON}),
            ],
        ),
    ],
)
def test_grid_team_won_game_fixture_gives_map_and_derived_match_end(
    teams: tuple[str, str], expected: list[object]
) -> None:
    result = parser(teams).parse_events_message(fixture_bytes(EVENTS), stamp("grid"))
    assert summary(result.events) == expected
    assert result.rejections == []
    assert {e.t_event_ms for e in result.events} == {1748774467512}
    assert {e.tier for e in result.events} == {SourceTier.B}


def test_grid_replayed_sequence_number_is_ignored() -> None:
    grid = parser()
    grid.parse_events_message(fixture_bytes(EVENTS), stamp("grid"))
    again = grid.parse_events_message(fixture_bytes(EVENTS), stamp("grid"))
    assert again.events == [] and again.rejections == []
    assert grid.last_sequence("2800001") == 51234


def test_grid_series_state_fixture_is_a_silent_baseline_plus_the_live_game() -> None:
    result = parser().parse_series_state(fixture_bytes(STATE), stamp("grid"))
    assert summary(result.events) == [
        ("cs-ccc-ddd", "MATCH_STARTED", {}),
        ("cs-ccc-ddd", "MAP_STARTED", {"game_number": 2, "maps_a": 1, "maps_b": 0}),
        ("cs-ccc-ddd", "GAME_STATE",
         {"game_number": 2, "rounds_a": 6, "rounds_b": 8, "maps_a": 1, "maps_b": 0}),
    ]
    assert {e.t_event_ms for e in result.events} == {1748780444018}


def test_grid_rounds_from_events_then_game_end_from_the_state() -> None:
    grid = parser()
    grid.parse_series_state(fixture_bytes(STATE), stamp("grid"))
    round_won = {
        "id": "x", "occurredAt": "2025-06-01T12:21:00.000Z", "seriesId": "2800002",
        "sequenceNumber": 7,
        "events": [{"type": "team-won-round", "actor": {"type": "team", "id": "3210"}}],
    }
    result = grid.parse_events_message(json.dumps(round_won).encode(), stamp("grid"))
    assert summary(result.events) == [
        ("cs-ccc-ddd", "GAME_STATE",
         {"game_number": 2, "rounds_a": 7, "rounds_b": 8, "maps_a": 1, "maps_b": 0}),
    ]
    state = json.loads(fixture_bytes(STATE))
    game_2 = state["data"]["seriesState"]["games"][1]
    game_2["finished"] = True
    game_2["teams"][1]["won"] = True
    state["data"]["seriesState"]["teams"][1]["score"] = 1
    result = grid.parse_series_state(json.dumps(state).encode(), stamp("grid"))
    assert summary(result.events) == [
        ("cs-ccc-ddd", "MAP_ENDED", {"game_number": 2, "winner": "B", "maps_a": 1, "maps_b": 1}),
    ]


def test_grid_pause_and_resume_events() -> None:
    grid = parser()
    message = {
        "occurredAt": "2025-06-01T10:00:00Z", "seriesId": "2800001", "sequenceNumber": 1,
        "events": [{"type": "series-paused-game"}, {"type": "series-resumed-game"}],
    }
    result = grid.parse_events_message(json.dumps(message).encode(), stamp("grid"))
    assert [e.event_type.value for e in result.events] == [
        "MATCH_STARTED", "MATCH_PAUSED", "MATCH_RESUMED",
    ]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not_json"),
        (b"[1, 2]", "bad_shape"),
        (b'{"sequenceNumber": 1}', "missing_field"),
        (b'{"seriesId": "2800001", "sequenceNumber": "x"}', "bad_value"),
        (b'{"seriesId": "2800001", "sequenceNumber": 3, "occurredAt": "yesterday"}',
         "bad_timestamp"),
        (b'{"seriesId": "2800001", "sequenceNumber": 3, "occurredAt": "2025-06-01T10:00:00Z",'
         b' "events": 5}', "bad_shape"),
    ],
)
def test_grid_garbage_raises_a_named_parse_error(raw: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parser().parse_events_message(raw, stamp("grid"))
    assert caught.value.reason == reason


def test_grid_garbage_inside_events_is_dead_lettered_and_the_rest_kept() -> None:
    message = {
        "occurredAt": "2025-06-01T10:00:00Z", "seriesId": "2800001", "sequenceNumber": 1,
        "events": [7, {"no": "type"}, {"type": "series-paused-game"}],
    }
    result = parser().parse_events_message(json.dumps(message).encode(), stamp("grid"))
    assert [r.reason for r in result.rejections] == ["bad_shape", "missing_field"]
    assert all(r.dead_letter for r in result.rejections)
    assert [e.event_type.value for e in result.events] == ["MATCH_STARTED", "MATCH_PAUSED"]


def test_grid_unknown_series_and_unknown_team_are_bad_input_not_crashes() -> None:
    raw = fixture_bytes(EVENTS).replace(b'"seriesId": "2800001"', b'"seriesId": "999"')
    result = parser().parse_events_message(raw, stamp("grid"))
    assert result.events == []
    assert [(r.reason, r.dead_letter) for r in result.rejections] == [
        ("unknown_provider_id", False)
    ]
    strangers = parser(("Team X", "Team Y")).parse_events_message(
        fixture_bytes(EVENTS), stamp("grid")
    )
    assert strangers.events == []
    assert {r.reason for r in strangers.rejections} == {"unknown_team"}
