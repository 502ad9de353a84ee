"""Issue 15 (truth part): one scenario per cause found in the code, each failing before the fix,
and the bad-fact rules. Spec: specs/02 "Per-source state", "Conflicts", "Bad facts"; specs/06."""

from __future__ import annotations

import json

import pytest

from gateway.esports.grid import GridParser
from gateway.esports.ids import MatchDirectory
from polyloly.config import TruthConfig
from polyloly.domain import Game, MatchEventType, Outcome, SourceTier, Strategy, TruthStatus
from polyloly.messages import (
    MatchEvent,
    OrderIntent,
    PayloadError,
    TruthDelta,
    TruthFinal,
    payload_from_dict,
)
from shards.truth import MatchTruth, PauseReason
from tests.unit.test_gateway_esports_common import fixture_bytes, market, stamp
from tests.unit.test_shard_core import MARKET, MATCH, NO, YES, book, intents, temporal_core

MS = 1_000_000
A, B, C = SourceTier.A, SourceTier.B, SourceTier.C
GS, MAP_END, END = MatchEventType.GAME_STATE, MatchEventType.MAP_ENDED, MatchEventType.MATCH_ENDED


def ev(kind: MatchEventType, t_source_ms: int, source: str, tier: SourceTier,
       t_recv_ms: int | None = None, match_id: str = "m", **payload: object) -> MatchEvent:
    recv = t_source_ms if t_recv_ms is None else t_recv_ms
    return MatchEvent(match_id=match_id, source=source, tier=tier, event_type=kind,
                      payload=payload_from_dict(kind, dict(payload)),
                      t_event_ms=t_source_ms, t_recv_ns=recv * MS,
                      t_recv_ms=recv)


def live(truth: MatchTruth | None = None) -> MatchTruth:
    truth = truth or MatchTruth("m", TruthConfig())
    truth.on_event(ev(MatchEventType.MATCH_STARTED, 0, "grid", A), 0)
    return truth


def finals(messages: list[object]) -> list[TruthFinal]:
    return [m for m in messages if isinstance(m, TruthFinal)]


def changes(messages: list[object]) -> list[str]:
    return [m.change for m in messages if isinstance(m, TruthDelta)]


# ---- cause 1: a slower source's report overwrote a newer one (merged by arrival) ----------


def test_truth_slower_source_never_overwrites_a_newer_fact_by_source_time() -> None:
    truth = live()
    truth.on_event(ev(GS, 10_000, "grid", A, 10_300, game_number=1, rounds_a=10, rounds_b=5,
                      maps_a=0, maps_b=0), 10_300 * MS)
    # PandaScore's frame, older by its own clock, arrives later
    result = truth.on_event(ev(GS, 9_000, "pandascore", B, 11_000, game_number=1, rounds_a=8,
                               rounds_b=5, maps_a=0, maps_b=0), 11_000 * MS)
    assert (truth.score.rounds_a, truth.score.rounds_b) == (10, 5)
    assert result.refusal is None  # kept in PandaScore's own view, not merged over GRID's
    assert truth.views["pandascore"].facts["1:rounds_a"].value == 8


def test_truth_a_repeated_fact_is_identified_not_counted() -> None:
    truth = live()
    frame = dict(game_number=1, rounds_a=3, rounds_b=2, maps_a=0, maps_b=0)
    truth.on_event(ev(GS, 1000, "pandascore", B, **frame), 1000 * MS)
    signal = truth.signal
    again = truth.on_event(ev(GS, 3000, "pandascore", B, **frame), 3000 * MS)
    assert again.refusal == "duplicate_fact" and truth.signal == signal


# ---- cause 2: GRID counted a round twice (the state poll and the late live event) ---------


def test_truth_grid_round_in_the_poll_and_the_late_live_event_counts_once() -> None:
    markets = (market("cs-ccc-ddd", Game.CS2, ("Team CCC", "Team DDD"), index=1,
                      grid="2800002"),)
    grid = GridParser(MatchDirectory(markets, "grid"))
    grid.parse_series_state(fixture_bytes("grid/example_series_state_response.synthetic.json"),
                            stamp("grid"))  # updatedAt 12:20:44.018, game 2 at 6-8
    late = {"id": "x", "occurredAt": "2025-06-01T12:20:40.000Z", "seriesId": "2800002",
            "sequenceNumber": 7, "events": [{"id": "round-14", "type": "team-won-round",
                                             "actor": {"type": "team", "id": "3211"}}]}
    result = grid.parse_events_message(json.dumps(late).encode(), stamp("grid"))
    assert result.events == []  # the poll already had that round: 6-8 stays 6-8
    newer = dict(late, sequenceNumber=8, occurredAt="2025-06-01T12:20:50.000Z",
                 events=[{"id": "round-15", "type": "team-won-round",
                          "actor": {"type": "team", "id": "3211"}}])
    result = grid.parse_events_message(json.dumps(newer).encode(), stamp("grid"))
    assert [(e.payload.rounds_a, e.payload.rounds_b) for e in result.events] == [(6, 9)]


# ---- cause 3: a map-winner disagreement was not a conflict ---------------------------------


def test_truth_map_winner_disagreement_between_equal_tiers_is_a_conflict() -> None:
    truth = live(MatchTruth("m", TruthConfig()))
    truth.on_event(ev(MAP_END, 1000, "pandascore", B, game_number=1, winner="A", maps_a=1,
                      maps_b=0), 1000 * MS)
    out = truth.on_event(ev(MAP_END, 1200, "polymarket_sports", B, game_number=1, winner="B",
                            maps_a=0, maps_b=1), 1200 * MS)
    assert "conflict" in changes(out.messages)
    assert truth.status is TruthStatus.PAUSED and truth.pause_reason is PauseReason.CONFLICT
    # a tier-A source settles it (SPEC §6.2 tier_a_single): the match resumes on B's side
    out = truth.on_event(ev(MAP_END, 1300, "grid", A, game_number=1, winner="B", maps_a=0,
                            maps_b=1), 1300 * MS)
    assert "conflict_resolved" in changes(out.messages) and truth.status is TruthStatus.LIVE
    assert (truth.score.maps_a, truth.score.maps_b) == (0, 1)


# ---- cause 4: the fallback finalized on one tier-B source during a tier-A outage ----------


def test_truth_fallback_never_finalizes_while_a_tier_a_source_is_silent_or_stale() -> None:
    truth = live()  # GRID (tier A) was heard on this match, then goes quiet (outage)
    truth.on_event(ev(GS, 5000, "grid", A, game_number=3, rounds_a=4, rounds_b=4, maps_a=1,
                      maps_b=1), 5000 * MS)
    truth.set_stale("grid", True, 6000 * MS)
    truth.on_event(ev(END, 7000, "pandascore", B, winner="A", maps_a=2, maps_b=1), 7000 * MS)
    truth.on_event(ev(END, 7500, "liquipedia", C, winner="A", maps_a=2, maps_b=1), 7500 * MS)
    assert truth.status is TruthStatus.PENDING_CONFIRM
    assert finals(truth.on_time(60_000 * MS).messages) == []  # one tier B (+ C): never
    out = truth.on_event(ev(END, 61_000, "grid", A, winner="A", maps_a=2, maps_b=1),
                         61_000 * MS)
    assert [f.rule for f in finals(out.messages)] == ["tier_a_single"]


def test_truth_fallback_final_is_flagged_and_traded_with_its_own_smaller_limit() -> None:
    core = temporal_core()  # pandascore only: no higher tier to wait for
    core.refresh_book(MARKET, YES, book(YES, [(0.97, 2000)]))  # no edge while PENDING
    core.on_match_event(ev(MatchEventType.MATCH_STARTED, 1000, "pandascore", B,
                           match_id=MATCH), 1000 * MS)
    core.on_match_event(ev(END, 2000, "pandascore", B, match_id=MATCH, winner="A", maps_a=2,
                           maps_b=0), 2000 * MS)
    for _ in range(100):  # a slow market (60 s window): the edge is still open at 12 s
        core.markets[MARKET].latency.record(60_000)
    out = core.on_time(12_000 * MS)
    final = [m for m in out if isinstance(m, TruthFinal)]
    assert [f.rule for f in final] == ["timeout_fallback"]
    assert core.truths[MATCH].final_by_fallback
    limit = core.config.temporal_arb.fallback_max_size_usdc
    core.refresh_book(MARKET, NO, book(NO, [(0.52, 2000)]))
    buys = intents(core.on_book(MARKET, YES, book(YES, [(0.50, 2000)]), 12_500 * MS))
    assert buys and buys[0].outcome is Outcome.YES
    assert buys[0].price * buys[0].size <= limit + 1e-6 < 200.0
    assert buys[0].truth is not None and buys[0].truth.rule == "timeout_fallback"


def test_truth_end_from_tier_b_is_retracted_when_tier_a_shows_the_next_map_running() -> None:
    truth = live()
    truth.on_event(ev(GS, 1000, "grid", A, game_number=2, rounds_a=3, rounds_b=3, maps_a=1,
                      maps_b=0), 1000 * MS)
    truth.on_event(ev(END, 2000, "pandascore", B, winner="A", maps_a=2, maps_b=0), 2000 * MS)
    assert truth.status is TruthStatus.PENDING_CONFIRM
    out = truth.on_event(ev(MatchEventType.MAP_STARTED, 2500, "grid", A, game_number=3,
                            maps_a=1, maps_b=1), 2500 * MS)
    assert "end_retracted" in changes(out.messages) and truth.status is TruthStatus.LIVE
    assert finals(truth.on_time(30_000 * MS).messages) == []


# ---- cause 5: every repeat report restarted the reaction clock -----------------------------


def test_truth_repeat_reports_never_restart_the_signal_clock() -> None:
    truth = live()
    truth.on_event(ev(MAP_END, 1000, "grid", A, 1300, game_number=1, winner="A", maps_a=1,
                      maps_b=0), 1300 * MS)
    first = truth.signal
    assert first is not None and first.origin_ns == 1000 * MS
    truth.on_event(ev(MAP_END, 1100, "pandascore", B, 3000, game_number=1, winner="A",
                      maps_a=1, maps_b=0), 3000 * MS)
    assert truth.signal == first  # same fact from a slower source: same clock


def test_truth_reaction_watch_survives_a_repeat_and_needs_samples_before_trading() -> None:
    core = temporal_core()
    trader = core.markets[MARKET]
    trader.latency = type(trader.latency)(100, 3)  # a market that has measured nothing yet
    core.refresh_book(MARKET, YES, book(YES, [(0.51, 2000)], [(0.49, 2000)]))
    core.on_match_event(ev(MatchEventType.MATCH_STARTED, 500, "grid", A, match_id=MATCH),
                        500 * MS)
    out = core.on_match_event(ev(MAP_END, 1000, "grid", A, match_id=MATCH, game_number=1,
                                 winner="A", maps_a=1, maps_b=0), 1000 * MS)
    assert intents(out) == []  # no default window: the market learns first
    watch = trader.reaction
    assert watch is not None
    core.on_match_event(ev(MAP_END, 1100, "pandascore", B, 2500, match_id=MATCH,
                           game_number=1, winner="A", maps_a=1, maps_b=0), 2500 * MS)
    assert trader.reaction is watch and watch.start_price == 0.50  # not restarted
    core.refresh_book(MARKET, NO, book(NO, [(0.40, 2000)]))
    core.on_book(MARKET, YES, book(YES, [(0.58, 2000)], [(0.56, 2000)]), 6000 * MS)
    assert trader.latency.samples == 1 and trader.reaction is None  # 5 s from the first report


def test_truth_reaction_faster_than_the_fastest_feed_is_discarded() -> None:
    core = temporal_core()
    trader = core.markets[MARKET]
    before = trader.latency.samples
    core.refresh_book(MARKET, YES, book(YES, [(0.51, 2000)], [(0.49, 2000)]))
    core.on_match_event(ev(MAP_END, 1000, "grid", A, 1800, match_id=MATCH, game_number=1,
                           winner="A", maps_a=1, maps_b=0), 1800 * MS)
    assert trader.reaction is not None
    core.refresh_book(MARKET, NO, book(NO, [(0.40, 2000)]))
    # the mid moves 0.1 s after the source time: no feed (fastest 800 ms) could have told it
    core.on_book(MARKET, YES, book(YES, [(0.58, 2000)], [(0.56, 2000)]), 1100 * MS)
    assert trader.latency.samples == before and trader.reaction is None


# ---- bad facts ------------------------------------------------------------------------------


def test_truth_bad_facts_are_dead_lettered_and_a_repeat_offender_is_unhealthy() -> None:
    truth = live()
    truth.on_event(ev(GS, 1000, "pandascore", B, game_number=1, rounds_a=5, rounds_b=5,
                      maps_a=0, maps_b=0), 1000 * MS)
    future = truth.on_event(ev(GS, 9000, "pandascore", B, 2000, game_number=1, rounds_a=6,
                               rounds_b=5, maps_a=0, maps_b=0), 2000 * MS)
    assert future.refusal == "fact_from_future" and future.bad_fact is not None
    assert future.bad_fact.source == "pandascore" and "bad_fact" in changes(future.messages)
    backwards = truth.on_event(ev(GS, 2500, "pandascore", B, game_number=1, rounds_a=4,
                                  rounds_b=5, maps_a=0, maps_b=0), 2500 * MS)
    assert backwards.refusal == "score_backwards"
    assert truth.score.rounds_a == 5  # never applied
    not_started = truth.on_event(ev(MAP_END, 3000, "pandascore", B, game_number=3,
                                    winner="A", maps_a=1, maps_b=0), 3000 * MS)
    assert not_started.refusal == "map_not_started"
    assert "source_unhealthy" in changes(not_started.messages)
    assert truth.on_event(ev(GS, 4000, "pandascore", B, game_number=1, rounds_a=9,
                             rounds_b=5, maps_a=0, maps_b=0), 4000 * MS).refusal == (
        "source_unhealthy")
    with pytest.raises(PayloadError, match="winner"):  # an unknown team is refused where the
        ev(END, 5000, "grid", A, winner="team-42")  # payload is built: never reaches the shard


# ---- truth on every intent ----------------------------------------------------------------


def test_truth_every_temporal_intent_names_the_facts_it_used() -> None:
    core = temporal_core()
    out = core.on_match_event(ev(END, 2000, "grid", A, 2300, match_id=MATCH, winner="A",
                                 maps_a=2, maps_b=0), 2300 * MS)
    buys: list[OrderIntent] = intents(out)
    assert len(buys) == 1 and buys[0].strategy is Strategy.TEMPORAL_ARB
    truth = buys[0].truth
    assert truth is not None and truth.status is TruthStatus.FINAL
    used = {(f.field, f.source, f.t_source_ms) for f in truth.facts}
    assert ("end", "grid", 2000) in used and ("series", "grid", 2000) in used
    values = {f.field: f.value for f in truth.facts}  # what the truth audit compares
    assert values["end"] == "A" and values["series"] == "2-0"
