"""No false bad facts (issue 15 follow-up): what a demo of cs2_bo3_outage_disagreement and
dota2_bo1_stomp refused although every source told the truth.

* OpenDota's ``start_time + duration`` (a finished game's end) must not lie in the future: the
  simulator counted ``duration`` (scaled game seconds) from the compressed map's wall start.
* Polymarket sports: between maps the ``period`` still names the finished map while the rounds
  restart at 000-000: those rounds are the next map's, not map 1's 13 going back to 0.
* PandaScore: a ``round_end`` of map 2 arriving before map 2's first frame was applied to the
  last frame's snapshot (map 1, series 0-0): "maps 1-0 then 0-0".

Each case is fed through the adapter's parser into a MatchTruth: no bad fact may come out.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.esports.events import INVALID_PAYLOAD, ParseResult
from gateway.esports.ids import MatchDirectory
from gateway.esports.opendota import OpenDotaParser
from gateway.esports.pandascore import PandaScoreParser
from gateway.esports.polymarket_sports import PolymarketSportsParser
from gateway.esports.transport import AdapterBase, AdapterIO
from polyloly.clock import Clock
from polyloly.config import ProviderConfig, TruthConfig
from polyloly.domain import Game, MatchEventType, SourceTier
from polyloly.messages import GameStatePayload, MatchEvent
from shards.truth import MatchTruth
from sim.feeds.context import FeedContext
from sim.feeds.opendota import finished_match
from sim.scenario import load_scenario
from tests.unit.test_gateway_esports_common import market, stamp

MS = 1_000_000


def _truth_of(events: list[MatchEvent], match_id: str) -> MatchTruth:
    """Feed ``events`` (seq per source, as the shell does) and assert none is a bad fact."""
    truth = MatchTruth(match_id, TruthConfig())
    seq: dict[str, int] = {}
    for event in events:
        seq[event.source] = seq.get(event.source, 0) + 1
        numbered = MatchEvent(**{**{f: getattr(event, f) for f in event.__struct_fields__},
                                 "seq": seq[event.source]})
        result = truth.on_event(numbered, event.t_recv_ns)
        assert result.bad_fact is None, (result.bad_fact, event)
    return truth


# ---- (b) Polymarket sports: rounds are per map ---------------------------------------------


def _sport(score: str, period: str) -> bytes:
    return json.dumps({"gameId": 1400001, "homeTeam": "Team CCC", "awayTeam": "Team DDD",
                       "score": score, "period": period, "live": True,
                       "ended": False}).encode()


def test_sports_rounds_restarting_between_maps_belong_to_the_next_map() -> None:
    sports = PolymarketSportsParser(MatchDirectory(
        (market("cs", Game.CS2, ("Team CCC", "Team DDD"), polymarket_sports="1400001"),),
        "polymarket_sports"))
    events: list[MatchEvent] = []
    frames = [("000-000|0-0|Bo3", "1/3"), ("005-003|0-0|Bo3", "1/3"),
              ("013-010|0-0|Bo3", "1/3"),
              ("000-000|1-0|Bo3", "1/3"),  # map 1 over, the period not yet moved on
              ("001-000|1-0|Bo3", "2/3")]
    for offset, (score, period) in enumerate(frames):
        events += sports.parse_frame(_sport(score, period),
                                     stamp("polymarket_sports", offset_ms=offset * 100)).events
    states = [e.payload for e in events if isinstance(e.payload, GameStatePayload)]
    assert [(s.game_number, s.rounds_a, s.rounds_b) for s in states] == [
        (1, 0, 0), (1, 5, 3), (1, 13, 10), (2, 0, 0), (2, 1, 0)]
    truth = _truth_of(events, "cs")
    assert (truth.score.maps_a, truth.score.game_number, truth.score.rounds_a) == (1, 2, 1)


def test_rounds_going_back_within_one_map_are_still_a_bad_fact() -> None:
    truth = MatchTruth("cs", TruthConfig())
    for t_ms, rounds_a in ((1000, 13), (2000, 0)):
        result = truth.on_event(MatchEvent(
            match_id="cs", source="grid", tier=SourceTier.A,
            event_type=MatchEventType.GAME_STATE,
            payload=GameStatePayload(game_number=1, rounds_a=rounds_a, rounds_b=10, maps_a=0,
                                     maps_b=0),
            t_event_ms=t_ms, t_recv_ns=t_ms * MS, t_recv_ms=t_ms), t_ms * MS)
    assert result.refusal == "score_backwards"  # the same map: a real contradiction


# ---- (c) PandaScore: an event of the next map -----------------------------------------------


def _cs_frame(game_id: int, rounds: tuple[int, int], maps: tuple[int, int], finished: bool,
              winner_id: int | None = None) -> bytes:
    return json.dumps({
        "current_timestamp": 40, "paused": False, "round": sum(rounds) + 1,
        "game": {"id": game_id, "finished": finished, "winner_id": winner_id},
        "match": {"id": 1100002},
        "counter_terrorists": {"id": 3210, "name": "Team CCC", "round_score": rounds[0],
                               "score": maps[0]},
        "terrorists": {"id": 3211, "name": "Team DDD", "round_score": rounds[1],
                       "score": maps[1]},
    }).encode()


def _round_end(game_id: int, rounds: tuple[int, int], ts: int) -> bytes:
    return json.dumps({
        "type": "round_end", "ts": ts, "game": {"id": game_id}, "match": {"id": 1100002},
        "payload": {"round_score": {
            "counter_terrorists": {"team_id": 3210, "team_name": "Team CCC", "score": rounds[0]},
            "terrorists": {"team_id": 3211, "team_name": "Team DDD", "score": rounds[1]}}},
    }).encode()


def test_pandascore_round_end_of_the_next_map_carries_the_new_series_and_map() -> None:
    ps = PandaScoreParser(MatchDirectory(
        (market("cs", Game.CS2, ("Team CCC", "Team DDD"), pandascore="1100002"),),
        "pandascore"))
    source = stamp("pandascore")
    events = ps.parse_frame(_cs_frame(170001, (12, 9), (0, 0), False), source).events
    events += ps.parse_frame(_cs_frame(170001, (13, 9), (1, 0), True, winner_id=3210),
                             stamp("pandascore", offset_ms=100)).events
    ts = source.t_recv_ms + 200  # the events socket is faster than the 2 s frames
    events += ps.parse_event(_round_end(170002, (1, 0), ts), stamp("pandascore", 200)).events
    events += ps.parse_event(_round_end(170002, (1, 1), ts + 100), stamp("pandascore", 300)).events
    last = events[-1].payload
    assert isinstance(last, GameStatePayload)
    assert (last.game_number, last.maps_a, last.maps_b, last.rounds_a, last.rounds_b) == (
        2, 1, 0, 1, 1)
    truth = _truth_of(events, "cs")
    assert (truth.score.maps_a, truth.score.game_number, truth.score.rounds_b) == (1, 2, 1)


# ---- (a) OpenDota: a finished game's end is not in the future ---------------------------------


def test_opendota_match_end_is_no_later_than_when_the_simulator_serves_it() -> None:
    scenario = load_scenario("dota2_bo1_stomp")
    ctx = FeedContext(scenario, speed=4.0, epoch_ms=1_700_000_000_000)
    match = scenario.matches[0]
    game_id = match.provider_ids.opendota_match_id
    served = next(t / 2 for t in range(0, int(scenario.duration_s * 2) + 1)
                  if finished_match(ctx, game_id, t / 2) is not None)
    body = finished_match(ctx, game_id, served)
    assert body is not None
    served_ms = ctx.wall_ms(served)
    # the real API: start_time + duration is when the game ended, before anyone can serve it
    assert (body["start_time"] + body["duration"]) * 1000 <= served_ms
    od = OpenDotaParser(MatchDirectory(
        (market("dota", Game.DOTA2, tuple(match.teams), best_of=match.best_of,
                opendota=str(game_id)),), "opendota"))
    received = stamp("opendota")
    at_serving = type(received)(received.source, received.tier, served_ms * MS, served_ms)
    events = od.parse_match(json.dumps(body).encode(), at_serving).events
    assert [e.event_type for e in events] == [
        MatchEventType.MATCH_STARTED, MatchEventType.MAP_ENDED, MatchEventType.MATCH_ENDED]
    truth = MatchTruth("dota", TruthConfig())
    for event in events:
        assert truth.on_event(event, event.t_recv_ns).bad_fact is None


# ---- invalid payload fields are dead-lettered in the gateway ---------------------------------


def test_an_adapter_emission_with_an_invalid_field_is_dead_lettered_naming_provider_and_field(
) -> None:
    result = ParseResult().add_events(stamp("grid", SourceTier.A), "cs", [
        (MatchEventType.GAME_STATE, {"game_number": 1, "rounds_a": -2, "rounds_b": 3}),
        (MatchEventType.MAP_ENDED, {"game_number": 1, "winner": "Team CCC"}),
        (MatchEventType.MATCH_STARTED, {}),
    ], 1000)
    assert [e.event_type for e in result.events] == [MatchEventType.MATCH_STARTED]
    assert [(r.reason, r.dead_letter) for r in result.rejections] == [
        (INVALID_PAYLOAD, True), (INVALID_PAYLOAD, True)]
    assert result.rejections[0].detail.startswith("grid cs: GAME_STATE payload: rounds_a:")
    assert result.rejections[1].detail.startswith("grid cs: MAP_ENDED payload: winner:")

    dead: list[tuple[str, str, str]] = []
    emitted: list[MatchEvent] = []

    class _Clock(Clock):
        def monotonic_ns(self) -> int:
            return 5 * MS

        def wall_ms(self) -> int:
            return 5

    adapter = AdapterBase("grid", SourceTier.A, ProviderConfig(), _Clock())
    io = AdapterIO(emitted.append, lambda *_: None,
                   lambda source, raw, reason, detail: dead.append((source, reason, detail)))

    def parse(raw: bytes, received: Any) -> ParseResult:
        return ParseResult().add_events(received, "cs", [
            (MatchEventType.GAME_STATE, {"game_number": 1, "kills_a": "many"})], 5)

    adapter.handle(b"{}", parse, io)
    assert emitted == []
    assert dead == [("grid", INVALID_PAYLOAD,
                     "grid cs: GAME_STATE payload: kills_a: Expected `int | null`, got `str`")]
