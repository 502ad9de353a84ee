"""LoL Esports getLive + livestats windows → MatchEvents (frame diffs, winner from gameWins)."""

from __future__ import annotations

import json

import pytest

from gateway.esports.ids import MatchDirectory
from gateway.esports.json_fields import ParseError
from gateway.esports.lolesports import LolEsportsParser, floor_to_window, rfc3339
from polyloly.domain import Game
from polyloly.messages import GameStatePayload
from tests.unit.test_gateway_esports_common import (
    fixture_bytes,
    fixture_json,
    market,
    stamp,
    summary,
)

LIVE = "lolesports/example_getLive.synthetic.json"
IN_GAME = "lolesports/example_window_in_game.synthetic.json"
FINISHED = "lolesports/example_window_finished.synthetic.json"
MATCH = "110000000000000100"
GAMES = ("110000000000000099", "110000000000000101", "110000000000000102")


def parser(teams: tuple[str, str] = ("Team AAA", "Team BBB")) -> LolEsportsParser:
    markets = (market("lck-aaa-bbb", Game.LOL, teams, lolesports=MATCH,
                      lolesports_game_ids=GAMES),)
    directory = MatchDirectory(markets, "lolesports")
    return LolEsportsParser(directory, {MATCH: GAMES})


def state(gold: float, kills: tuple[int, int], towers: tuple[int, int],
          inhibitors: tuple[int, int], barons: tuple[int, int],
          dragons: tuple[int, int], maps: tuple[int, int] = (1, 0)) -> dict[str, object]:
    return {
        "game_number": 2, "gold_diff_a": gold, "kills_a": kills[0], "kills_b": kills[1],
        "towers_a": towers[0], "towers_b": towers[1], "inhibitors_a": inhibitors[0],
        "inhibitors_b": inhibitors[1], "barons_a": barons[0], "barons_b": barons[1],
        "dragons_a": dragons[0], "dragons_b": dragons[1], "maps_a": maps[0], "maps_b": maps[1],
    }


def test_lolesports_a_whole_game_from_fixtures_diffs_frames_and_names_the_winner() -> None:
    lol = parser()
    live = lol.parse_live(fixture_bytes(LIVE), stamp("lolesports"))
    assert summary(live.events) == [("lck-aaa-bbb", "MATCH_STARTED", {})]
    assert lol.games_to_poll() == ["110000000000000101"]

    in_game = lol.parse_window(fixture_bytes(IN_GAME), stamp("lolesports"))
    assert summary(in_game.events) == [
        ("lck-aaa-bbb", "MAP_STARTED", {"game_number": 2, "maps_a": 1, "maps_b": 0}),
        ("lck-aaa-bbb", "GAME_STATE", state(4160.0, (9, 5), (4, 1), (0, 0), (0, 0), (2, 1))),
        ("lck-aaa-bbb", "GAME_STATE", state(4570.0, (10, 5), (4, 1), (0, 0), (0, 0), (2, 1))),
    ]
    assert [e.t_event_ms for e in in_game.events] == [1748770280114, 1748770280114,
                                                      1748770290121]
    assert lol.parse_window(fixture_bytes(IN_GAME), stamp("lolesports")).events == []

    finished = lol.parse_window(fixture_bytes(FINISHED), stamp("lolesports"))
    assert summary(finished.events) == [
        ("lck-aaa-bbb", "GAME_STATE", state(13110.0, (19, 8), (10, 2), (2, 0), (1, 0), (4, 1))),
    ]
    assert lol.pending_result

    after = fixture_json(LIVE)
    teams = after["data"]["schedule"]["events"][0]["match"]["teams"]
    teams[0]["result"] = {"outcome": "win", "gameWins": 2}
    teams[1]["result"] = {"outcome": "loss", "gameWins": 0}
    after["data"]["schedule"]["events"][0]["state"] = "completed"
    result = lol.parse_live(json.dumps(after).encode(), stamp("lolesports"))
    assert summary(result.events) == [
        ("lck-aaa-bbb", "MAP_ENDED", {"game_number": 2, "winner": "A", "maps_a": 2, "maps_b": 0}),
        ("lck-aaa-bbb", "MATCH_ENDED", {"winner": "A", "maps_a": 2, "maps_b": 0}),
    ]
    assert not lol.pending_result
    assert lol.games_to_poll() == []


def test_lolesports_red_side_team_a_flips_every_difference() -> None:
    lol = parser(("Team BBB", "Team AAA"))
    lol.parse_live(fixture_bytes(LIVE), stamp("lolesports"))
    events = lol.parse_window(fixture_bytes(IN_GAME), stamp("lolesports")).events
    game_state = events[1].payload
    assert isinstance(game_state, GameStatePayload)
    assert game_state.gold_diff_a == -4160.0
    assert (game_state.kills_a, game_state.kills_b) == (5, 9)
    assert (game_state.maps_a, game_state.maps_b) == (0, 1)


def test_lolesports_game_time_is_given_only_when_the_first_frame_was_the_start() -> None:
    lol = parser()
    lol.parse_live(fixture_bytes(LIVE), stamp("lolesports"))
    window = fixture_json(IN_GAME)
    for team in ("blueTeam", "redTeam"):
        window["frames"][0][team].update(totalKills=0, towers=0)
    events = lol.parse_window(json.dumps(window).encode(), stamp("lolesports")).events
    assert [getattr(e.payload, "game_time_s", None) for e in events[1:]] == [0.0, 10.007]


def test_lolesports_window_before_getlive_and_unknown_game_are_bad_input() -> None:
    lol = parser()
    early = lol.parse_window(fixture_bytes(IN_GAME), stamp("lolesports"))
    assert early.events == [] and [r.reason for r in early.rejections] == ["unknown_team"]
    stranger = fixture_bytes(IN_GAME).replace(b"110000000000000101", b"42").replace(
        b'"esportsMatchId": "110000000000000100"', b'"esportsMatchId": "43"'
    )
    result = lol.parse_window(stranger, stamp("lolesports"))
    assert [(r.reason, r.dead_letter) for r in result.rejections] == [
        ("unknown_provider_id", False)
    ]


def test_lolesports_getlive_of_other_matches_is_ignored_and_null_events_are_fine() -> None:
    lol = parser()
    other = fixture_bytes(LIVE).replace(MATCH.encode(), b"1")
    assert lol.parse_live(other, stamp("lolesports")).events == []
    assert lol.ignored == 1
    empty = b'{"data": {"schedule": {"events": null}}}'
    assert lol.parse_live(empty, stamp("lolesports")).events == []


def test_lolesports_event_details_teach_the_game_ids() -> None:
    markets = (market("m", Game.LOL, ("Team AAA", "Team BBB"), lolesports=MATCH),)
    lol = LolEsportsParser(MatchDirectory(markets, "lolesports"))
    lol.parse_live(fixture_bytes(LIVE), stamp("lolesports"))
    assert lol.matches_needing_details() == [MATCH]
    details = {"data": {"event": {"id": MATCH, "match": {"games": [
        {"id": "g2", "number": 2}, {"id": "g1", "number": 1}, {"id": "g3", "number": 3}]}}}}
    lol.parse_event_details(json.dumps(details).encode(), stamp("lolesports"))
    assert lol.games_to_poll() == ["g2"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "not_json"),
        (b'{"data": 3}', "bad_shape"),
        (b'{"esportsGameId": "110000000000000101", "gameMetadata": {"blueTeamMetadata": {}, '
         b'"redTeamMetadata": {}}, "frames": 7}', "bad_shape"),
    ],
)
def test_lolesports_garbage_raises_a_named_parse_error(raw: bytes, reason: str) -> None:
    lol = parser()
    lol.parse_live(fixture_bytes(LIVE), stamp("lolesports"))
    with pytest.raises(ParseError) as caught:
        if b"esportsGameId" in raw:
            window = fixture_json(IN_GAME)
            window["frames"] = 7
            lol.parse_window(json.dumps(window).encode(), stamp("lolesports"))
        else:
            lol.parse_live(raw, stamp("lolesports"))
    assert caught.value.reason == reason


def test_lolesports_starting_time_is_a_multiple_of_ten_seconds() -> None:
    assert floor_to_window(1_748_770_287_654) == 1_748_770_280_000
    assert rfc3339(1_748_770_280_000) == "2025-06-01T09:31:20Z"
