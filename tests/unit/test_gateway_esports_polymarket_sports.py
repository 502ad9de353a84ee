"""Polymarket sports WS sport_result → MatchEvents, and the lead over it."""

from __future__ import annotations

import json

import pytest

from gateway.esports.ids import MatchDirectory
from gateway.esports.json_fields import ParseError
from gateway.esports.lead import LeadTracker
from gateway.esports.polymarket_sports import PolymarketSportsParser, SportsScore, parse_score
from polyloly import metrics
from polyloly.domain import Game, MatchEventType, SourceTier
from polyloly.messages import MatchEvent, payload_fields, payload_from_dict
from tests.unit.test_gateway_esports_common import fixture_json, market, stamp, summary

SPORT = "polymarket_sports_ws/example_cs2_sport_result.synthetic.json"


def parser(teams: tuple[str, str] = ("Team CCC", "Team DDD")) -> PolymarketSportsParser:
    markets = (market("cs", Game.CS2, teams, polymarket_sports="1400001"),)
    return PolymarketSportsParser(MatchDirectory(markets, "polymarket_sports"))


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("006-008|1-0|Bo3", SportsScore(6, 8, 1, 0)),
        ("000-000|2-0|Bo3", SportsScore(0, 0, 2, 0)),
        ("1-2", SportsScore(None, None, 1, 2)),
    ],
)
def test_sports_score_formats(text: str, score: SportsScore) -> None:
    assert parse_score(text) == score


@pytest.mark.parametrize("text", ["", "6-8|1", None, "a-b"])
def test_sports_bad_scores_are_named(text: object) -> None:
    with pytest.raises(ParseError) as caught:
        parse_score(text)
    assert caught.value.reason == "bad_score"


def test_sports_fixture_in_progress_then_ended_gives_state_map_and_match_end() -> None:
    live, ended = fixture_json(SPORT)
    sports = parser()
    first = sports.parse_frame(json.dumps(live).encode(), stamp("polymarket_sports"))
    assert summary(first.events) == [
        ("cs", "MATCH_STARTED", {}),
        ("cs", "GAME_STATE", {"game_number": 2, "rounds_a": 6, "rounds_b": 8, "maps_a": 1,
                              "maps_b": 0}),
    ]
    second = sports.parse_frame(json.dumps(ended).encode(), stamp("polymarket_sports"))
    assert summary(second.events) == [
        ("cs", "MAP_ENDED", {"game_number": 2, "winner": "A", "maps_a": 2, "maps_b": 0}),
        ("cs", "MATCH_ENDED", {"winner": "A", "maps_a": 2, "maps_b": 0}),
    ]
    assert second.events[-1].t_event_ms == 1748783100000


def test_sports_list_frames_other_sports_and_away_team_a() -> None:
    sports = parser(("Team DDD", "Team CCC"))
    frames = [{"gameId": 77, "homeTeam": "Lakers", "awayTeam": "Celtics", "score": "1-2"},
              *fixture_json(SPORT)]
    result = sports.parse_frame(json.dumps(frames).encode(), stamp("polymarket_sports"))
    assert sports.ignored == 1
    assert payload_fields(result.events[-1].payload) == {"winner": "B", "maps_a": 0, "maps_b": 2}
    late = parser().parse_frame(json.dumps(fixture_json(SPORT)[1]).encode(), stamp("p"))
    assert payload_fields(late.events[-1].payload) == {"winner": "A", "maps_a": 2, "maps_b": 0,
                                       "backfill": True}


def test_sports_garbage_and_strange_teams() -> None:
    result = parser().parse_frame(b'[3, {"gameId": 1400001, "homeTeam": "Team CCC", '
                                  b'"awayTeam": "Team DDD", "score": "?"}]', stamp("p"))
    assert [r.reason for r in result.rejections] == ["bad_shape", "bad_score"]
    strangers = parser(("X", "Y")).parse_frame(json.dumps(fixture_json(SPORT)[0]).encode(),
                                                stamp("p"))
    assert [r.reason for r in strangers.rejections] == ["unknown_team"]
    with pytest.raises(ParseError):
        parser().parse_frame(b"PING?", stamp("p"))


def _event(source: str, kind: MatchEventType, t_recv_ms: int, **payload: object) -> MatchEvent:
    return MatchEvent(match_id="cs", source=source, tier=SourceTier.A, event_type=kind,
                      payload=payload_from_dict(kind, dict(payload)),
                      t_event_ms=t_recv_ms, t_recv_ns=0,
                      t_recv_ms=t_recv_ms)


def test_lead_tracker_measures_our_first_result_against_the_sports_ws() -> None:
    tracker = LeadTracker()
    first = _event("grid", MatchEventType.MAP_ENDED, 1000, game_number=1, winner="A")
    assert tracker.compare(first) is None
    assert tracker.compare(_event("pandascore", MatchEventType.MAP_ENDED, 1500,
                                  game_number=1, winner="A")) is None
    lead = tracker.compare(_event("polymarket_sports", MatchEventType.MAP_ENDED, 4000,
                                  game_number=1, winner="A"))
    assert lead is not None and (lead.first_source, lead.lead_ms) == ("grid", 3000)
    market_first = _event("polymarket_sports", MatchEventType.MATCH_ENDED, 5000, winner="A")
    assert tracker.compare(market_first) is None
    late = tracker.compare(_event("opendota", MatchEventType.MATCH_ENDED, 9000, winner="A"))
    assert late is not None and late.lead_ms == -4000
    backfill = _event("grid", MatchEventType.MATCH_ENDED, 1, winner="A", backfill=True)
    assert tracker.compare(backfill) is None


def test_lead_tracker_records_the_metrics() -> None:
    tracker = LeadTracker()
    before = metrics.event_lag_ms.labels(source="polymarket_sports_lead")._sum.get()
    tracker.observe(_event("grid", MatchEventType.MAP_ENDED, 1000, game_number=3, winner="B"))
    tracker.observe(_event("polymarket_sports", MatchEventType.MAP_ENDED, 1250, game_number=3,
                            winner="B"))
    after = metrics.event_lag_ms.labels(source="polymarket_sports_lead")._sum.get()
    assert after - before == 250
    assert metrics.sports_ws_lead_seconds.labels(event_type="MAP_ENDED")._value.get() == 0.25
