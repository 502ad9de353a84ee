"""PandaScore frames and events → MatchEvents."""

from __future__ import annotations

import json

import pytest

from gateway.esports.ids import MatchDirectory
from gateway.esports.json_fields import ParseError
from gateway.esports.pandascore import PandaScoreParser
from polyloly.domain import Game
from polyloly.messages import payload_fields
from tests.unit.test_gateway_esports_common import (
    fixture_bytes,
    fixture_json,
    market,
    stamp,
    summary,
)

FRAME = "pandascore/example_lol_frame.synthetic.json"
KILL = "pandascore/example_lol_event_kill_feed.synthetic.json"
ROUND = "pandascore/example_cs_event_round_end.synthetic.json"


def parser(teams: tuple[str, str] = ("Team AAA", "Team BBB")) -> PandaScoreParser:
    markets = (
        market("lol", Game.LOL, teams, pandascore="1100001"),
        market("cs", Game.CS2, ("Team CCC", "Team DDD"), index=1, pandascore="1100002"),
        market("dota", Game.DOTA2, ("Rad", "Dir"), best_of=1, index=2, pandascore="1100003"),
    )
    return PandaScoreParser(MatchDirectory(markets, "pandascore"))


LOL_STATE = {
    "game_number": 2, "gold_diff_a": 4160.0, "kills_a": 9, "kills_b": 5, "towers_a": 4,
    "towers_b": 1, "inhibitors_a": 0, "inhibitors_b": 0, "barons_a": 0, "barons_b": 0,
    "dragons_a": 2, "dragons_b": 1, "maps_a": 1, "maps_b": 0, "game_time_s": 1402.0,
}


def test_pandascore_lol_frame_fixture_gives_the_game_state() -> None:
    result = parser().parse_frame(fixture_bytes(FRAME), stamp("pandascore"))
    assert summary(result.events) == [
        ("lol", "MATCH_STARTED", {}),
        ("lol", "MAP_STARTED", {"game_number": 2, "maps_a": 1, "maps_b": 0}),
        ("lol", "GAME_STATE", LOL_STATE),
    ]
    assert parser().parse_frame(b'{"type": "hello", "payload": {}}', stamp("p")).events == []


def test_pandascore_kill_feed_bumps_the_count_before_the_next_frame() -> None:
    ps = parser()
    ps.parse_frame(fixture_bytes(FRAME), stamp("pandascore"))
    result = ps.parse_event(fixture_bytes(KILL), stamp("pandascore"))
    assert summary(result.events) == [("lol", "GAME_STATE", {**LOL_STATE, "dragons_a": 3})]
    assert result.events[0].t_event_ms == 1748770290114


def test_pandascore_finished_game_with_winner_id_ends_the_map_and_pause_flips() -> None:
    ps = parser()
    ps.parse_frame(fixture_bytes(FRAME), stamp("pandascore"))
    paused = fixture_json(FRAME)
    paused["paused"] = True
    assert [e.event_type.value for e in ps.parse_frame(
        json.dumps(paused).encode(), stamp("pandascore")).events] == ["MATCH_PAUSED"]
    done = fixture_json(FRAME)
    done["game"].update(finished=True, winner_id=126062)
    result = ps.parse_frame(json.dumps(done).encode(), stamp("pandascore"))
    assert summary(result.events) == [
        ("lol", "MATCH_RESUMED", {}),
        ("lol", "MAP_ENDED", {"game_number": 2, "winner": "B", "maps_a": 1, "maps_b": 1,
                              "winner_team": "Team BBB", "winner_team_id": "126062"}),
    ]


def test_pandascore_cs_frame_and_round_end_give_round_scores() -> None:
    ps = parser()
    frame = {
        "current_timestamp": 40, "paused": False, "round": 18, "map": {"id": 1, "name": "Mirage"},
        "game": {"id": 170001, "finished": False, "winner_id": None},
        "match": {"id": 1100002},
        "counter_terrorists": {"id": 3210, "name": "Team CCC", "round_score": 9, "score": 0},
        "terrorists": {"id": 3211, "name": "Team DDD", "round_score": 7, "score": 0},
    }
    first = ps.parse_frame(json.dumps(frame).encode(), stamp("pandascore"))
    assert payload_fields(first.events[-1].payload) == {
        "game_number": 1, "rounds_a": 9, "rounds_b": 7, "maps_a": 0, "maps_b": 0,
    }
    result = ps.parse_event(fixture_bytes(ROUND), stamp("pandascore"))
    assert summary(result.events) == [
        ("cs", "GAME_STATE", {"game_number": 1, "rounds_a": 10, "rounds_b": 7, "maps_a": 0,
                              "maps_b": 0}),
    ]


def test_pandascore_dota_frame_orients_towers_and_kills_and_bo1_ends_the_match() -> None:
    ps = parser()
    frame = {
        "current_timestamp": 1500, "game": {"id": 9, "finished": False, "winner_id": None},
        "match": {"id": 1100003},
        "radiant": {"id": 1, "name": "Dir", "score": 20, "towers": {"destroyed": 2}},
        "dire": {"id": 2, "name": "Rad", "score": 11, "towers": {"destroyed": 5}},
    }
    result = ps.parse_frame(json.dumps(frame).encode(), stamp("pandascore"))
    assert payload_fields(result.events[-1].payload) == {
        "game_number": 1, "kills_a": 11, "kills_b": 20, "towers_a": 2, "towers_b": 5,
        "maps_a": 0, "maps_b": 0, "game_time_s": 1500.0,
    }
    frame["game"] = {"id": 9, "finished": True, "winner_id": 1}
    ended = ps.parse_frame(json.dumps(frame).encode(), stamp("pandascore"))
    assert [e.event_type.value for e in ended.events] == ["MAP_ENDED", "MATCH_ENDED"]
    assert ended.events[-1].payload.winner == "B"


def test_pandascore_unknown_match_and_strange_teams_are_bad_input() -> None:
    ps = parser()
    other = fixture_bytes(FRAME).replace(b'"id": 1100001', b'"id": 5')
    assert [r.reason for r in ps.parse_frame(other, stamp("p")).rejections] == [
        "unknown_provider_id"
    ]
    strangers = parser(("X", "Y")).parse_frame(fixture_bytes(FRAME), stamp("p"))
    assert strangers.events == [] and [r.reason for r in strangers.rejections] == [
        "unknown_team"
    ]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe", "not_json"),
        (b'"text"', "bad_shape"),
        (b'{"match": {"id": 1100001}}', "bad_shape"),
        (b'{"blue": {}, "red": {}}', "missing_field"),
    ],
)
def test_pandascore_garbage_raises_a_named_parse_error(raw: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parser().parse_frame(raw, stamp("pandascore"))
    assert caught.value.reason == reason
