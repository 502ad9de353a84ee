"""Truth Engine: the whole transition table, the confirmation rules and their time boundaries."""

from __future__ import annotations

import itertools

import orjson
import pytest

from polyloly.config import TruthConfig
from polyloly.domain import MatchEventType, SourceTier, TruthStatus
from polyloly.fsm import InvalidTransition, StateMachine
from polyloly.messages import (
    MatchEvent,
    MessageDecodeError,
    PayloadError,
    TruthFinal,
    decode_json,
    payload_from_dict,
)
from shards.truth import (
    TRUTH_TRANSITIONS,
    ConfirmRule,
    EndReport,
    MatchTruth,
    PauseReason,
    TruthTrigger,
    evaluate_confirmation,
)

MS = 1_000_000
PARAMS = TruthConfig()

EXPECTED = {
    (TruthStatus.PRE_MATCH, TruthTrigger.START): TruthStatus.LIVE,
    (TruthStatus.PRE_MATCH, TruthTrigger.UPDATE): TruthStatus.LIVE,
    (TruthStatus.PRE_MATCH, TruthTrigger.PAUSE): TruthStatus.PAUSED,
    (TruthStatus.PRE_MATCH, TruthTrigger.END_REPORTED): TruthStatus.PENDING_CONFIRM,
    (TruthStatus.PRE_MATCH, TruthTrigger.CONFLICT): TruthStatus.PAUSED,
    (TruthStatus.LIVE, TruthTrigger.START): TruthStatus.LIVE,
    (TruthStatus.LIVE, TruthTrigger.UPDATE): TruthStatus.LIVE,
    (TruthStatus.LIVE, TruthTrigger.PAUSE): TruthStatus.PAUSED,
    (TruthStatus.LIVE, TruthTrigger.RESUME): TruthStatus.LIVE,
    (TruthStatus.LIVE, TruthTrigger.SILENCE_TIMEOUT): TruthStatus.PAUSED,
    (TruthStatus.LIVE, TruthTrigger.END_REPORTED): TruthStatus.PENDING_CONFIRM,
    (TruthStatus.LIVE, TruthTrigger.CONFLICT): TruthStatus.PAUSED,
    (TruthStatus.PAUSED, TruthTrigger.PAUSE): TruthStatus.PAUSED,
    (TruthStatus.PAUSED, TruthTrigger.UPDATE): TruthStatus.PAUSED,
    (TruthStatus.PAUSED, TruthTrigger.RESUME): TruthStatus.LIVE,
    (TruthStatus.PAUSED, TruthTrigger.END_REPORTED): TruthStatus.PENDING_CONFIRM,
    (TruthStatus.PAUSED, TruthTrigger.CONFLICT): TruthStatus.PAUSED,
    (TruthStatus.PENDING_CONFIRM, TruthTrigger.UPDATE): TruthStatus.PENDING_CONFIRM,
    (TruthStatus.PENDING_CONFIRM, TruthTrigger.CORROBORATE): TruthStatus.PENDING_CONFIRM,
    (TruthStatus.PENDING_CONFIRM, TruthTrigger.CONFIRM): TruthStatus.FINAL,
    (TruthStatus.PENDING_CONFIRM, TruthTrigger.CONFLICT): TruthStatus.PAUSED,
    (TruthStatus.PENDING_CONFIRM, TruthTrigger.RETRACT): TruthStatus.LIVE,
}


@pytest.mark.parametrize(("state", "trigger"),
                         list(itertools.product(TruthStatus, TruthTrigger)))
def test_truth_table_every_state_and_trigger_pair(state: TruthStatus,
                                                  trigger: TruthTrigger) -> None:
    machine = StateMachine("truth", TRUTH_TRANSITIONS, state)
    if (state, trigger) in EXPECTED:
        assert machine.trigger(trigger) is EXPECTED[(state, trigger)]
    else:
        with pytest.raises(InvalidTransition):
            machine.trigger(trigger)
        assert machine.state is state  # a refused trigger changes nothing


def test_truth_table_is_exactly_the_specified_table() -> None:
    assert TRUTH_TRANSITIONS == EXPECTED
    assert not any(state is TruthStatus.FINAL for state, _ in TRUTH_TRANSITIONS)


def event(kind: MatchEventType, t_ms: int, source: str = "pandascore",
          tier: SourceTier = SourceTier.B, seq: int = 0, **payload: object) -> MatchEvent:
    return MatchEvent(match_id="m", source=source, tier=tier, event_type=kind,
                      payload=payload_from_dict(kind, dict(payload)),
                      t_event_ms=t_ms, t_recv_ns=t_ms * MS,
                      t_recv_ms=t_ms, seq=seq)


def ended(t_ms: int, source: str, tier: SourceTier, winner: str = "A") -> MatchEvent:
    return event(MatchEventType.MATCH_ENDED, t_ms, source, tier, winner=winner)


def live_truth() -> MatchTruth:
    truth = MatchTruth("m", PARAMS)
    truth.on_event(event(MatchEventType.MATCH_STARTED, 0), 0)
    return truth


def finals(messages: list[object]) -> list[TruthFinal]:
    return [m for m in messages if isinstance(m, TruthFinal)]


def test_truth_engine_first_tier_b_end_is_pending_at_0_80() -> None:
    truth = live_truth()
    truth.on_event(ended(1000, "pandascore", SourceTier.B), 1000 * MS)
    assert truth.status is TruthStatus.PENDING_CONFIRM and truth.confidence == 0.8


def test_truth_engine_tier_a_single_source_finalizes_at_once() -> None:
    truth = live_truth()
    out = truth.on_event(ended(1000, "grid", SourceTier.A), 1000 * MS).messages
    assert truth.status is TruthStatus.FINAL
    (final,) = finals(out)
    assert final.rule == ConfirmRule.TIER_A_SINGLE and final.confidence == pytest.approx(0.85)


@pytest.mark.parametrize(("delta_ms", "finalizes"), [(4999, True), (5000, True), (5001, False)])
def test_truth_engine_two_tier_b_sources_within_5s_finalize(delta_ms: int,
                                                             finalizes: bool) -> None:
    truth = live_truth()
    truth.on_event(ended(1000, "pandascore", SourceTier.B), 1000 * MS)
    out = truth.on_event(ended(1000 + delta_ms, "polymarket_sports", SourceTier.B),
                         (1000 + delta_ms) * MS).messages
    if finalizes:
        (final,) = finals(out)
        assert final.rule == ConfirmRule.TIER_B_CONSENSUS
        assert final.confidence == pytest.approx(0.9)
        assert final.sources == ("pandascore", "polymarket_sports")
    else:
        assert finals(out) == [] and truth.status is TruthStatus.PENDING_CONFIRM
        assert truth.confidence == pytest.approx(0.8)


@pytest.mark.parametrize(("wait_ms", "finalizes"),
                         [(9999, False), (10_000, True), (10_001, True)])
def test_truth_engine_single_source_timeout_fallback_at_10s(wait_ms: int,
                                                            finalizes: bool) -> None:
    truth = live_truth()
    truth.on_event(ended(1000, "pandascore", SourceTier.B), 1000 * MS)
    out = truth.on_time((1000 + wait_ms) * MS).messages
    if finalizes:
        (final,) = finals(out)
        assert final.rule == ConfirmRule.TIMEOUT_FALLBACK and final.confidence == 0.8
    else:
        assert finals(out) == [] and truth.status is TruthStatus.PENDING_CONFIRM


def test_truth_engine_tier_a_confirmation_adds_0_05() -> None:
    verdict = evaluate_confirmation(
        [EndReport("pandascore", SourceTier.B, "A", 0),
         EndReport("polymarket_sports", SourceTier.B, "A", 1 * MS),
         EndReport("grid", SourceTier.A, "A", 2 * MS)], 2 * MS, PARAMS)
    assert verdict.confidence == pytest.approx(0.95)
    assert verdict.rule is ConfirmRule.TIER_A_SINGLE


def test_truth_engine_tier_c_alone_never_signals_nor_finalizes() -> None:
    truth = live_truth()
    truth.on_event(ended(1000, "liquipedia", SourceTier.C), 1000 * MS)
    assert truth.status is TruthStatus.LIVE and truth.confidence == 0.0
    assert finals(truth.on_time(60_000 * MS).messages) == []
    assert truth.winner is None


def test_truth_engine_tier_c_corroborates_but_is_no_consensus() -> None:
    # issue 15: one tier-B plus one tier-C report used to pass as tier_b_consensus
    truth = live_truth()
    truth.on_event(ended(1000, "pandascore", SourceTier.B), 1000 * MS)
    out = truth.on_event(ended(3000, "liquipedia", SourceTier.C), 3000 * MS).messages
    assert finals(out) == [] and truth.status is TruthStatus.PENDING_CONFIRM
    assert truth.confidence == pytest.approx(0.80)  # tier C adds no confidence
    final = finals(truth.on_time(11_000 * MS).messages)  # no higher tier heard: fallback
    assert [f.rule for f in final] == ["timeout_fallback"]
    assert "liquipedia" in final[0].sources and truth.final_by_fallback


def test_truth_engine_disagreeing_sources_pause_until_a_tier_a_settles_it() -> None:
    truth = live_truth()
    truth.on_event(ended(1000, "pandascore", SourceTier.B, "A"), 1000 * MS)
    out = truth.on_event(ended(1500, "polymarket_sports", SourceTier.B, "B"), 1500 * MS)
    assert truth.status is TruthStatus.PAUSED and truth.pause_reason is PauseReason.CONFLICT
    assert any(getattr(m, "change", "") == "conflict" for m in out.messages)
    assert finals(truth.on_time(60_000 * MS).messages) == []  # B against B: never settles
    later = truth.on_event(ended(61_000, "grid", SourceTier.A, "A"), 61_000 * MS)
    changes = [getattr(m, "change", "") for m in later.messages]
    assert "conflict_resolved" in changes  # SPEC §6.2: one tier-A source decides
    assert truth.status is TruthStatus.FINAL and truth.winner == "A"
    assert truth.rule is ConfirmRule.TIER_A_SINGLE


def test_truth_engine_silence_pauses_and_the_next_event_resumes() -> None:
    truth = live_truth()
    assert truth.on_time(59_999 * MS).messages == []
    truth.on_time(60_000 * MS)
    assert truth.status is TruthStatus.PAUSED and truth.pause_reason is PauseReason.SILENCE
    truth.on_event(event(MatchEventType.GAME_STATE, 61_000, gold_diff_a=1500.0,
                         game_time_s=900), 61_000 * MS)
    assert truth.status is TruthStatus.LIVE and truth.score.gold_diff_a == 1500.0


def test_truth_engine_provider_pause_and_resume() -> None:
    truth = live_truth()
    truth.on_event(event(MatchEventType.MATCH_PAUSED, 10), 10 * MS)
    assert truth.status is TruthStatus.PAUSED
    truth.on_event(event(MatchEventType.MATCH_RESUMED, 20), 20 * MS)
    assert truth.status is TruthStatus.LIVE


def test_truth_engine_duplicate_and_out_of_order_events_are_refused() -> None:
    truth = live_truth()
    first = event(MatchEventType.GAME_STATE, 100, seq=5, gold_diff_a=100.0)
    assert truth.on_event(first, 100 * MS).refusal is None
    assert truth.on_event(first, 101 * MS).refusal == "duplicate_or_out_of_order"
    older = event(MatchEventType.GAME_STATE, 90, source="grid", tier=SourceTier.A)
    newer = event(MatchEventType.GAME_STATE, 95, source="grid", tier=SourceTier.A)
    truth.on_event(newer, 102 * MS)
    assert truth.on_event(older, 103 * MS).refusal == "out_of_order"


def test_truth_engine_events_after_final_are_ignored_or_flag_conflict() -> None:
    truth = live_truth()
    truth.on_event(ended(1000, "grid", SourceTier.A, "A"), 1000 * MS)
    same = truth.on_event(ended(1100, "pandascore", SourceTier.B, "A"), 1100 * MS)
    assert same.refusal == "after_final" and not same.conflict_after_final
    other = truth.on_event(ended(1200, "opendota", SourceTier.B, "B"), 1200 * MS)
    assert other.conflict_after_final and truth.status is TruthStatus.FINAL


@pytest.mark.parametrize(("payload", "field"), [
    ({"winner": "C"}, "winner"), ({"winner": None}, "winner"),
    ({"winner": "A", "maps_a": -1}, "maps_a"),
    ({"winner": "A", "maps_a": True}, "maps_a"),
    ({"winner": "A", "maps_b": "2"}, "maps_b"),
])
def test_bad_payloads_never_reach_the_truth_engine(payload: dict, field: str) -> None:
    # validated once, where the payload is built (the gateway) or decoded (an older dict
    # payload): the shard only ever sees a typed, valid payload (issue 14)
    with pytest.raises(PayloadError, match=f"MATCH_ENDED payload: {field}:"):
        payload_from_dict(MatchEventType.MATCH_ENDED, payload)
    old = {"kind": "match_event", "match_id": "m", "source": "s", "tier": "B",
           "event_type": "MATCH_ENDED", "payload": payload, "t_event_ms": 1, "t_recv_ns": 1,
           "t_recv_ms": 1, "v": 1}
    with pytest.raises(MessageDecodeError, match=field):
        decode_json(orjson.dumps(old))


def test_a_non_finite_game_state_number_is_refused_where_it_is_built() -> None:
    with pytest.raises(PayloadError, match="gold_diff_a: expected a finite number"):
        payload_from_dict(MatchEventType.GAME_STATE, {"gold_diff_a": float("nan")})


def test_truth_engine_map_ended_counts_maps_and_resets_the_map() -> None:
    truth = live_truth()
    truth.on_event(event(MatchEventType.GAME_STATE, 100, game_number=1, gold_diff_a=3000.0,
                         game_time_s=1200), 100 * MS)
    truth.on_event(event(MatchEventType.MAP_ENDED, 200, game_number=1, winner="A"), 200 * MS)
    assert (truth.score.maps_a, truth.score.maps_b) == (1, 0)
    assert truth.score.gold_diff_a is None


def test_truth_engine_end_after_silence_pause_goes_pending() -> None:
    truth = live_truth()
    truth.on_time(60_000 * MS)
    truth.on_event(ended(61_000, "pandascore", SourceTier.B), 61_000 * MS)
    assert truth.status is TruthStatus.PENDING_CONFIRM
