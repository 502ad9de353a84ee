"""OpenDota /api/live and /api/matches/{id} → MatchEvents."""

from __future__ import annotations

import json

import pytest

from gateway.esports.ids import MatchDirectory
from gateway.esports.json_fields import ParseError
from gateway.esports.opendota import OpenDotaParser
from polyloly.domain import Game
from tests.unit.test_gateway_esports_common import (
    fixture_bytes,
    fixture_json,
    market,
    stamp,
    summary,
)

LIVE = "opendota/toplivegames_api.json"
RESULT = "opendota/3254426673_output.json"


def parser() -> OpenDotaParser:
    markets = (
        market("live-bo3", Game.DOTA2, ("Team Spirit", "Gaimin Gladiators"), opendota="8591964706"),
        market("ti-bo1", Game.DOTA2, ("Newbee", "Planet Odd"), best_of=1, index=1,
               opendota="3254426673"),
    )
    return OpenDotaParser(MatchDirectory(markets, "opendota"))


def live_list(radiant: str = "Gaimin Gladiators", dire: str = "Team Spirit") -> list[dict]:
    entries = fixture_json(LIVE)["game_list"]
    entries[0].update(team_name_radiant=radiant, team_name_dire=dire,
                      team_id_radiant=11, team_id_dire=22)
    return entries


def test_opendota_live_fixture_gives_an_oriented_game_state_and_ignores_pub_games() -> None:
    od = parser()
    result = od.parse_live(json.dumps(live_list()).encode(), stamp("opendota"))
    assert summary(result.events) == [
        ("live-bo3", "MATCH_STARTED", {}),
        ("live-bo3", "MAP_STARTED", {"game_number": 1, "maps_a": 0, "maps_b": 0}),
        ("live-bo3", "GAME_STATE", {"game_number": 1, "gold_diff_a": 1062.0, "kills_a": 8,
                                    "kills_b": 8, "game_time_s": 752.0, "maps_a": 0,
                                    "maps_b": 0}),
    ]
    assert {e.t_event_ms for e in result.events} == {(1764981500 - 120) * 1000}
    assert od.ignored == 9
    assert result.rejections == []
    assert 8591964706 not in od.games_awaiting_result()


def test_opendota_game_that_left_live_is_asked_for_and_its_result_ends_the_map() -> None:
    od = parser()
    od.parse_live(json.dumps(live_list()).encode(), stamp("opendota"))
    od.parse_live(b"[]", stamp("opendota", offset_ms=60_000))
    assert od.games_awaiting_result() == [8591964706, 3254426673]
    result_body = fixture_json(RESULT)
    result_body.update(match_id=8591964706, radiant_name="Gaimin Gladiators",
                       dire_name="Team Spirit", radiant_team_id=11, dire_team_id=22)
    result = od.parse_match(json.dumps(result_body).encode(), stamp("opendota"))
    assert summary(result.events) == [
        ("live-bo3", "MAP_ENDED", {"game_number": 1, "winner": "A", "maps_a": 1, "maps_b": 0,
                                   "winner_team": "Team Spirit", "winner_team_id": "22"}),
    ]


def test_opendota_result_of_a_game_never_seen_live_is_marked_backfill() -> None:
    result = parser().parse_match(fixture_bytes(RESULT), stamp("opendota"))
    extra = {"winner_team": "Newbee", "winner_team_id": "1375614", "backfill": True}
    assert summary(result.events) == [
        ("ti-bo1", "MATCH_STARTED", {}),
        ("ti-bo1", "MAP_ENDED", {"game_number": 1, "winner": "A", "maps_a": 1, "maps_b": 0,
                                 **extra}),
        ("ti-bo1", "MATCH_ENDED", {"winner": "A", "maps_a": 1, "maps_b": 0, **extra}),
    ]
    assert {e.t_event_ms for e in result.events} == {(1497678766 + 1888) * 1000}


def test_opendota_unknown_result_id_is_bad_input_and_unfinished_is_quiet() -> None:
    od = parser()
    other = fixture_json(RESULT)
    other["match_id"] = 1
    assert [r.reason for r in od.parse_match(json.dumps(other).encode(),
                                             stamp("o")).rejections] == ["unknown_provider_id"]
    pending = fixture_json(RESULT)
    pending["radiant_win"] = None
    assert od.parse_match(json.dumps(pending).encode(), stamp("o")).events == []


def test_opendota_bad_entries_are_dead_lettered_one_by_one() -> None:
    entries: list[object] = [*live_list(), 5, {"match_id": "abc"}]
    result = parser().parse_live(json.dumps(entries).encode(), stamp("opendota"))
    assert [r.reason for r in result.rejections] == ["bad_shape", "bad_value"]
    assert len(result.events) == 3
    with pytest.raises(ParseError):
        parser().parse_live(b'{"game_list": []}', stamp("opendota"))
