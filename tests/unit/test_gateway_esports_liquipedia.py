"""Liquipedia LPDB v3 match rows → MatchEvents (tier C confirmation)."""

from __future__ import annotations

import json

from gateway.esports.ids import MatchDirectory
from gateway.esports.liquipedia import LiquipediaParser, conditions_for
from polyloly.domain import Game, SourceTier
from tests.unit.test_gateway_esports_common import fixture_json, market, stamp, summary

ROW = "liquipedia/example_lpdb_v3_match.synthetic.json"


def parser(provider_id: str = "EXCUP25PO_R01-M001",
           teams: tuple[str, str] = ("Team DDD", "Team CCC")) -> LiquipediaParser:
    markets = (market("cs", Game.CS2, teams, liquipedia=provider_id),)
    return LiquipediaParser(MatchDirectory(markets, "liquipedia"))


def unfinished() -> dict:
    body = fixture_json(ROW)
    row = body["result"][0]
    row.update(finished=0, winner="")
    row["match2opponents"][0]["score"] = 1
    row["match2games"][1].update(winner="", scores=[])
    return body


def test_liquipedia_first_answer_of_a_finished_match_is_a_backfilled_result() -> None:
    lp = parser()
    body = json.dumps(fixture_json(ROW)).encode()
    result = lp.parse_answer(body, stamp("liquipedia", SourceTier.C))
    assert summary(result.events) == [
        ("cs", "MATCH_ENDED", {"winner": "B", "maps_a": 0, "maps_b": 2, "backfill": True}),
    ]
    assert lp.is_final("EXCUP25PO_R01-M001")


def test_liquipedia_later_answers_give_new_maps_and_the_match_end() -> None:
    lp = parser()
    assert lp.parse_answer(json.dumps(unfinished()).encode(), stamp("liquipedia")).events == []
    result = lp.parse_answer(json.dumps(fixture_json(ROW)).encode(), stamp("liquipedia"))
    assert summary(result.events) == [
        ("cs", "MATCH_STARTED", {}),
        ("cs", "MAP_ENDED", {"game_number": 2, "winner": "B", "maps_a": 0, "maps_b": 2}),
        ("cs", "MATCH_ENDED", {"winner": "B", "maps_a": 0, "maps_b": 2}),
    ]


def test_liquipedia_page_names_select_the_row_of_our_teams() -> None:
    lp = parser("Example_Cup/2025/Playoffs", ("Team CCC", "Team DDD"))
    body = fixture_json(ROW)
    other = json.loads(json.dumps(body["result"][0]))
    other["match2opponents"][0]["name"] = "Team ZZZ"
    body["result"].insert(0, other)
    result = lp.parse_answer(json.dumps(body).encode(), stamp("liquipedia"))
    assert [getattr(e.payload, "winner", None) for e in result.events] == ["A"]
    assert result.rejections == []
    assert conditions_for("Example_Cup/2025/Playoffs") == "[[pagename::Example_Cup/2025/Playoffs]]"
    assert conditions_for("EXCUP25PO_R01-M001") == "[[match2id::EXCUP25PO_R01-M001]]"


def test_liquipedia_unknown_rows_and_errors_are_reported() -> None:
    lp = parser("SOMETHING_ELSE")
    result = lp.parse_answer(json.dumps(fixture_json(ROW)).encode(), stamp("liquipedia"))
    assert [(r.reason, r.dead_letter) for r in result.rejections] == [
        ("unknown_provider_id", False)
    ]
    error = parser().parse_answer(b'{"error": "API key invalid"}', stamp("liquipedia"))
    assert [(r.reason, r.dead_letter) for r in error.rejections] == [("provider_error", True)]
    strangers = parser(teams=("X", "Y")).parse_answer(
        json.dumps(fixture_json(ROW)).encode(), stamp("liquipedia")
    )
    assert [r.reason for r in strangers.rejections] == ["unknown_team"]
