"""Shard gaps (issue 6): backfilled results, disputes after FINAL, truth after a restart."""

from __future__ import annotations

import pytest

from polyloly.domain import MatchEventType, Outcome, SourceTier, TradingState, TruthStatus
from polyloly.messages import (
    MarketResolved,
    PayloadError,
    PositionView,
    RiskState,
    TruthDelta,
    TruthFinal,
)
from shards.core import ShardCore
from tests.unit.test_shard_core import (
    MARKET,
    MATCH,
    MS,
    NO,
    YES,
    book,
    empty_snapshot,
    event,
    intents,
    learn_reaction_window,
    make_config,
    temporal_core,
)

A, B = SourceTier.A, SourceTier.B


def end(t_ms: int, winner: str, source: str = "pandascore", tier: SourceTier = B,
        backfill: bool | None = None) -> object:
    payload: dict[str, object] = {"winner": winner, "maps_a": 2 if winner == "A" else 0,
                                  "maps_b": 0 if winner == "A" else 2}
    if backfill is not None:
        payload["backfill"] = backfill
    return event(MatchEventType.MATCH_ENDED, t_ms, source=source, tier=tier, **payload)


def strong_game_state(t_ms: int, with_series_score: bool) -> object:
    score = {"maps_a": 0, "maps_b": 0} if with_series_score else {}
    return event(MatchEventType.GAME_STATE, t_ms, game_number=1, gold_diff_a=10_000.0,
                 game_time_s=1200.0, **score)


# ---- backfill ------------------------------------------------------------------------


def test_shard_gaps_fresh_tier_a_end_trades_but_the_same_end_backfilled_does_not() -> None:
    fresh = temporal_core()
    assert len(intents(fresh.on_match_event(end(2000, "A", "grid", A), 2000 * MS))) == 1
    core = temporal_core()
    out = core.on_match_event(end(2000, "A", "grid", A, backfill=True), 2000 * MS)
    assert intents(out) == []
    assert any(isinstance(m, TruthFinal) for m in out)  # a fact: it finalizes
    assert core.truths[MATCH].status is TruthStatus.FINAL
    assert core.markets[MARKET].trading.state is TradingState.FINALIZING
    assert intents(core.on_time(2100 * MS)) == []


def test_shard_gaps_backfilled_tier_b_ends_confirm_by_consensus_without_trading() -> None:
    core = temporal_core()
    out = core.on_match_event(end(2000, "B", backfill=True), 2000 * MS)
    assert intents(out) == [] and core.truths[MATCH].status is TruthStatus.PENDING_CONFIRM
    out = core.on_match_event(end(2500, "B", "liquipedia", backfill=True), 2500 * MS)
    assert intents(out) == [] and core.truths[MATCH].status is TruthStatus.FINAL
    assert core.truths[MATCH].winner == "B"
    assert core.markets[MARKET].trading.state is TradingState.FINALIZING


def test_shard_gaps_backfilled_map_end_supersedes_an_earlier_live_signal() -> None:
    core = temporal_core()
    core.on_match_event(event(MatchEventType.MATCH_STARTED, 1000), 1000 * MS)
    core.on_match_event(event(MatchEventType.GAME_STATE, 1500, maps_a=0, maps_b=0,
                              game_number=1, game_time_s=60.0), 1500 * MS)
    assert core.truths[MATCH].signal is not None
    out = core.on_match_event(event(MatchEventType.MAP_ENDED, 2000, winner="A", maps_a=1,
                                    maps_b=0, game_number=1, backfill=True), 2000 * MS)
    assert core.truths[MATCH].signal is None and intents(out) == []
    assert core.truths[MATCH].score.maps_a == 1  # the fact is kept


def test_shard_gaps_backfill_that_is_not_a_boolean_is_refused_where_it_is_built() -> None:
    with pytest.raises(PayloadError, match="MATCH_ENDED payload: backfill: Expected `bool`"):
        end(2000, "A", "grid", A, backfill="yes")  # type: ignore[arg-type]


# ---- disputes after FINAL ------------------------------------------------------------


def disputed_core() -> ShardCore:
    core = temporal_core()
    core.on_match_event(end(1000, "A", "grid", A), 60_000 * MS)
    core.on_match_event(end(1001, "B"), 61_000 * MS)
    assert core.truths[MATCH].disputed
    assert core.markets[MARKET].trading.state is TradingState.HALT
    return core


def test_shard_gaps_dispute_halt_survives_events_time_and_an_engine_release() -> None:
    core = disputed_core()
    core.on_match_event(end(1002, "B", "liquipedia"), 62_000 * MS)  # more disagreement
    core.on_match_event(end(1003, "A", "opendota", SourceTier.C), 63_000 * MS)
    core.on_time(600_000 * MS)
    core.on_risk_state(RiskState(halted=False, kill_switch=False, reason="released by hand",
                                 t_ns=1, market_id=MARKET), 601_000 * MS)
    assert core.truths[MATCH].disputed
    assert core.markets[MARKET].trading.state is TradingState.HALT
    assert core.implied_yes(MARKET) is None


def test_shard_gaps_dispute_retracted_by_the_dissenter_refinalizes_and_finalizes() -> None:
    core = disputed_core()
    core.refresh_book(MARKET, NO, book(NO, [(0.40, 500)]))
    core.on_book(MARKET, YES, book(YES, [(0.45, 500)]), 61_500 * MS)  # mispriced, halted
    out = core.on_match_event(end(1010, "A"), 62_000 * MS)  # pandascore corrects itself
    finals = [m for m in out if isinstance(m, TruthFinal)]
    assert len(finals) == 1 and finals[0].rule == "dispute_consensus" and finals[0].winner == "A"
    assert any(isinstance(m, TruthDelta) and m.change == "dispute_resolved" for m in out)
    assert not core.truths[MATCH].disputed and core.truths[MATCH].signal is None
    assert intents(out) == []  # no temporal (no signal), no pair (truth FINAL)
    assert core.markets[MARKET].trading.state is TradingState.FINALIZING


def test_shard_gaps_dispute_consensus_on_the_other_winner_changes_the_winner() -> None:
    core = disputed_core()
    out = core.on_match_event(end(1010, "B", "grid", A), 62_000 * MS)  # grid corrects itself
    assert [m.winner for m in out if isinstance(m, TruthFinal)] == ["B"]
    assert core.truths[MATCH].winner == "B"
    assert core.markets[MARKET].trading.state is TradingState.FINALIZING


def test_shard_gaps_tier_c_alone_cannot_settle_a_dispute() -> None:
    core = temporal_core()
    core.on_match_event(end(1000, "A", "grid", A), 60_000 * MS)
    core.on_match_event(end(1001, "B", "liquipedia", SourceTier.C), 61_000 * MS)
    assert core.markets[MARKET].trading.state is TradingState.HALT
    core.on_match_event(end(1010, "A", "liquipedia", SourceTier.C), 62_000 * MS)
    assert core.truths[MATCH].disputed  # one tier A/B source is not a consensus
    core.on_match_event(end(1011, "A"), 63_000 * MS)
    assert not core.truths[MATCH].disputed
    assert core.markets[MARKET].trading.state is TradingState.FINALIZING


def test_shard_gaps_settled_dispute_keeps_the_market_halted_while_the_engine_halts_it() -> None:
    core = disputed_core()
    core.on_risk_state(RiskState(halted=True, kill_switch=True, reason="kill", t_ns=1),
                       61_500 * MS)
    core.on_match_event(end(1010, "A"), 62_000 * MS)
    assert not core.truths[MATCH].disputed
    assert core.markets[MARKET].trading.state is TradingState.HALT
    core.on_risk_state(RiskState(halted=False, kill_switch=False, reason="", t_ns=2),
                       63_000 * MS)
    assert core.markets[MARKET].trading.state is TradingState.FINALIZING


def test_shard_gaps_venue_resolution_ends_a_dispute_halt() -> None:
    core = disputed_core()
    core.on_market_resolved(MarketResolved(market_id=MARKET, t_exchange_ms=1, t_recv_ns=1,
                                           winning_token_id=YES), 70_000 * MS)
    assert core.markets[MARKET].trading.state is TradingState.RESOLVED


# ---- truth after a restart -------------------------------------------------------------


def restarted_core() -> ShardCore:
    """A new process: positions come back from the engine, truth knows nothing yet."""
    core = ShardCore(make_config(pair_arb={"enabled": False}), 0)  # type: ignore[arg-type]
    core.start(0)
    positions = tuple(PositionView(market_id=MARKET, token_id=token, outcome=outcome,
                                   shares=20, cost_usdc=9.0, fees_usdc=0.0)
                      for token, outcome in ((YES, Outcome.YES), (NO, Outcome.NO)))
    core.on_state_snapshot(empty_snapshot(positions=positions), 1000 * MS)
    learn_reaction_window(core, 8000.0)  # spec 06: the market's window, learned before
    core.refresh_book(MARKET, NO, book(NO, [(0.52, 2000)]))
    core.on_book(MARKET, YES, book(YES, [(0.50, 2000)]), 1000 * MS)
    return core


def test_shard_gaps_restarted_shard_is_pre_match_and_never_temporal_trades_unseen() -> None:
    core = restarted_core()
    assert core.truths[MATCH].status is TruthStatus.PRE_MATCH
    assert core.markets[MARKET].trading.state is TradingState.LOCKED_PAIR
    for second in range(2, 60):
        assert intents(core.on_time(second * 1000 * MS)) == []
    assert core.implied_yes(MARKET) is None


def test_shard_gaps_restarted_shard_needs_the_series_score_before_live_trading() -> None:
    core = restarted_core()
    out = core.on_match_event(strong_game_state(61_000, False), 61_000 * MS)
    assert core.truths[MATCH].status is TruthStatus.LIVE and not core.truths[MATCH].score_known
    assert intents(out) == [] and core.implied_yes(MARKET) is None
    out = core.on_match_event(strong_game_state(61_500, True), 61_500 * MS)
    assert core.truths[MATCH].score_known
    buys = intents(out)  # control: with the series score the same state is an edge
    assert len(buys) == 1 and buys[0].outcome is Outcome.YES


def test_shard_gaps_restarted_shard_refinalizes_from_backfills_without_trading() -> None:
    core = restarted_core()
    out = core.on_match_event(end(61_000, "A", "grid", A, backfill=True), 61_000 * MS)
    assert intents(out) == []
    assert core.truths[MATCH].status is TruthStatus.FINAL
    assert core.markets[MARKET].trading.state is TradingState.FINALIZING


def test_shard_gaps_resync_in_the_same_process_keeps_the_truth() -> None:
    core = temporal_core()
    core.on_match_event(end(1000, "A", "grid", A), 60_000 * MS)
    core.start(61_000 * MS)
    core.on_state_snapshot(empty_snapshot(), 61_000 * MS)
    assert core.truths[MATCH].status is TruthStatus.FINAL
    assert core.markets[MARKET].trading.state is TradingState.FINALIZING
