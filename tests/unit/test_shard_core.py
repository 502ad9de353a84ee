"""ShardCore: rebuild from StateSnapshot, pair and temporal intents, halts, bad input."""

from __future__ import annotations

from polyloly.config import validate
from polyloly.domain import (
    MatchEventType,
    OrderStatus,
    Outcome,
    Side,
    SourceTier,
    Strategy,
    TradingState,
    TruthStatus,
)
from polyloly.messages import (
    CancelIntent,
    ExecutionReport,
    IntentAck,
    MarketResolved,
    MatchEvent,
    MatchStartedPayload,
    OrderIntent,
    OrderView,
    PositionView,
    RiskState,
    SourceHealth,
    StateQuery,
    StateSnapshot,
    TruthFinal,
    encode,
    payload_from_dict,
)
from shards.core import ShardCore
from shm import BookSnapshot, SlotFlags

MARKET = "0x" + "ab" * 32
YES, NO = "1001", "1002"
MATCH = "m1"
MS = 1_000_000


def make_config(**overrides: object) -> object:
    data: dict[str, object] = {
        "shards": {"count": 1},
        "markets": [{"market_id": MARKET, "token_ids": [YES, NO], "match_id": MATCH,
                     "game": "lol", "best_of": 3}],
    }
    data.update(overrides)
    return validate(data)


def book(token: str, asks: list[tuple[float, float]], bids: list[tuple[float, float]] = (),
         flags: int = 0, t_recv_ns: int = 1) -> BookSnapshot:
    asks = sorted(asks)
    bids = sorted(bids, reverse=True)
    return BookSnapshot(
        slot=0 if token == YES else 1, token_id=token, seq=1, t_recv_ns=t_recv_ns,
        exchange_ts_ms=0, tick_size=0.001,
        best_bid=bids[0][0] if bids else None, best_ask=asks[0][0] if asks else None,
        flags=flags, book_hash="", bid_prices=tuple(p for p, _ in bids),
        bid_sizes=tuple(s for _, s in bids), ask_prices=tuple(p for p, _ in asks),
        ask_sizes=tuple(s for _, s in asks), bid_levels_total=len(bids),
        ask_levels_total=len(asks))


def empty_snapshot(**kw: object) -> StateSnapshot:
    fields: dict[str, object] = {"shard_id": 0, "positions": (), "open_orders": (),
                                 "halted_markets": (), "kill_switch": False, "t_ns": 0}
    fields.update(kw)
    return StateSnapshot(**fields)  # type: ignore[arg-type]


def ready_core(**overrides: object) -> ShardCore:
    core = ShardCore(make_config(**overrides), 0)  # type: ignore[arg-type]
    core.start(0)
    core.on_state_snapshot(empty_snapshot(), 0)
    return core


def event(kind: MatchEventType, t_ms: int, source: str = "pandascore",
          tier: SourceTier = SourceTier.B, seq: int = 0, **payload: object) -> MatchEvent:
    return MatchEvent(match_id=MATCH, source=source, tier=tier, event_type=kind,
                      payload=payload_from_dict(kind, dict(payload)),
                      t_event_ms=t_ms, t_recv_ns=t_ms * MS,
                      t_recv_ms=t_ms, seq=seq)


def intents(out: list[object]) -> list[OrderIntent]:
    return [m for m in out if isinstance(m, OrderIntent)]


def test_shard_core_sends_state_query_and_trades_nothing_before_the_snapshot() -> None:
    core = ShardCore(make_config(), 0)  # type: ignore[arg-type]
    out = core.start(0)
    assert isinstance(out[0], StateQuery) and out[0].market_ids == (MARKET,)
    core.refresh_book(MARKET, NO, book(NO, [(0.40, 500)]))
    assert intents(core.on_book(MARKET, YES, book(YES, [(0.45, 500)]), 1)) == []
    assert not core.ready


def test_shard_core_resends_state_query_until_the_engine_answers() -> None:
    core = ShardCore(make_config(), 0)  # type: ignore[arg-type]
    core.start(0)
    assert core.on_time(4999 * MS) == []
    assert isinstance(core.on_time(5000 * MS)[0], StateQuery)


def test_shard_core_mispriced_pair_sends_both_legs_with_deterministic_keys() -> None:
    outputs = []
    for _ in range(2):
        core = ready_core()
        core.refresh_book(MARKET, NO, book(NO, [(0.40, 500)]))
        out = core.on_book(MARKET, YES, book(YES, [(0.45, 500)]), 10, 7)
        outputs.append([encode(m) for m in intents(out)])
        legs = intents(out)
        assert {leg.outcome for leg in legs} == {Outcome.YES, Outcome.NO}
        assert all(leg.strategy is Strategy.PAIR_ARB and leg.side is Side.BUY for leg in legs)
        assert all(leg.t_origin_ns == 7 and leg.size >= 5 for leg in legs)
        assert core.markets[MARKET].trading.state is TradingState.BUILDING_PAIR
    assert outputs[0] == outputs[1]  # same inputs, same bytes


def test_shard_core_fairly_priced_pair_sends_nothing() -> None:
    core = ready_core()
    core.refresh_book(MARKET, NO, book(NO, [(0.50, 500)]))
    assert intents(core.on_book(MARKET, YES, book(YES, [(0.49, 500)]), 10)) == []
    assert core.markets[MARKET].trading.state is TradingState.IDLE


def test_shard_core_stale_book_is_counted_and_never_traded() -> None:
    core = ready_core()
    core.refresh_book(MARKET, NO, book(NO, [(0.40, 500)]))
    stale = book(YES, [(0.45, 500)], flags=int(SlotFlags.STALE))
    assert intents(core.on_book(MARKET, YES, stale, 10)) == []
    resync = book(YES, [(0.45, 500)], flags=int(SlotFlags.RESYNCING))
    assert intents(core.on_book(MARKET, YES, resync, 11)) == []
    assert core.refusals["book_not_tradable"] == 2


def test_shard_core_pair_partial_fill_rebalances_then_locks() -> None:
    core = ready_core()
    core.refresh_book(MARKET, NO, book(NO, [(0.40, 500)]))
    legs = intents(core.on_book(MARKET, YES, book(YES, [(0.45, 500)]), 10))
    yes_leg = next(leg for leg in legs if leg.outcome is Outcome.YES)
    no_leg = next(leg for leg in legs if leg.outcome is Outcome.NO)
    for leg in legs:
        core.on_intent_ack(IntentAck(intent_id=leg.intent_id, idempotency_key=leg.idempotency_key,
                                     accepted=True, t_ns=11, order_id="o-" + leg.outcome), 11)
    core.on_execution_report(report(yes_leg, "o-YES", yes_leg.size, 0.45), 12)
    out = core.on_execution_report(report(no_leg, "o-NO", 20.0, 0.40), 13)
    assert core.markets[MARKET].trading.state is TradingState.BUILDING_PAIR
    assert intents(out) == []  # cooldown since the pair decision
    out = core.on_time(10 + 1000 * MS)
    rebalance = intents(out)
    assert len(rebalance) == 1 and rebalance[0].strategy is Strategy.REBALANCE
    assert rebalance[0].outcome is Outcome.NO
    assert abs(rebalance[0].size - (yes_leg.size - 20.0)) < 1e-9
    core.on_execution_report(report(rebalance[0], "o-R", rebalance[0].size, 0.40), 2000 * MS)
    assert core.markets[MARKET].trading.state is TradingState.LOCKED_PAIR


def report(intent: OrderIntent, order_id: str, filled: float, price: float,
           status: OrderStatus = OrderStatus.FILLED) -> ExecutionReport:
    return ExecutionReport(
        order_id=order_id, intent_id=intent.intent_id, idempotency_key=intent.idempotency_key,
        shard_id=0, market_id=MARKET, token_id=intent.token_id, outcome=intent.outcome,
        side=Side.BUY, strategy=intent.strategy, status=status, price=intent.price,
        size=intent.size, filled_size=filled, avg_fill_price=price, t_ns=0,
        last_fill_size=filled, last_fill_price=price)


def test_shard_core_duplicate_execution_report_counts_the_fill_once() -> None:
    core = ready_core()
    core.refresh_book(MARKET, NO, book(NO, [(0.40, 500)]))
    leg = intents(core.on_book(MARKET, YES, book(YES, [(0.45, 500)]), 10))[0]
    partial = report(leg, "o1", 10.0, 0.45, OrderStatus.PARTIALLY_FILLED)
    core.on_execution_report(partial, 11)
    core.on_execution_report(partial, 12)
    assert core.markets[MARKET].position.shares(leg.outcome) == 10.0


def test_shard_core_rebuilds_positions_orders_and_halts_from_snapshot() -> None:
    core = ShardCore(make_config(), 0)  # type: ignore[arg-type]
    core.start(0)
    snapshot = empty_snapshot(
        positions=(PositionView(market_id=MARKET, token_id=YES, outcome=Outcome.YES,
                                shares=50, cost_usdc=22.5, fees_usdc=0.2),
                   PositionView(market_id=MARKET, token_id=NO, outcome=Outcome.NO,
                                shares=50, cost_usdc=20.0, fees_usdc=0.2)))
    core.on_state_snapshot(snapshot, 1)
    assert core.ready and core.markets[MARKET].trading.state is TradingState.LOCKED_PAIR
    assert abs(core.markets[MARKET].position.cost_yes - 22.7) < 1e-9
    core = ShardCore(make_config(), 0)  # type: ignore[arg-type]
    order = OrderView(order_id="o1", intent_id="i1", market_id=MARKET, token_id=YES,
                      side=Side.BUY, price=0.5, size=10, filled_size=0,
                      status=OrderStatus.LIVE, strategy=Strategy.TEMPORAL_ARB)
    core.on_state_snapshot(empty_snapshot(open_orders=(order,)), 1)
    assert core.markets[MARKET].trading.state is TradingState.TEMPORAL_ACTIVE
    core = ShardCore(make_config(), 0)  # type: ignore[arg-type]
    core.on_state_snapshot(empty_snapshot(halted_markets=(MARKET,)), 1)
    assert core.markets[MARKET].trading.state is TradingState.HALT


def test_shard_core_risk_halt_cancels_and_release_returns_to_idle() -> None:
    core = ready_core()
    out = core.on_risk_state(RiskState(halted=True, kill_switch=False, reason="loss", t_ns=1,
                                       market_id=MARKET), 1)
    assert any(isinstance(m, CancelIntent) for m in out)
    assert core.markets[MARKET].trading.state is TradingState.HALT
    core.refresh_book(MARKET, NO, book(NO, [(0.40, 500)]))
    assert intents(core.on_book(MARKET, YES, book(YES, [(0.45, 500)]), 10)) == []
    core.on_risk_state(RiskState(halted=False, kill_switch=False, reason="", t_ns=2,
                                 market_id=MARKET), 2 * 10**9)
    assert core.markets[MARKET].trading.state is not TradingState.HALT


def test_shard_core_kill_switch_halts_every_market() -> None:
    core = ready_core()
    core.on_risk_state(RiskState(halted=True, kill_switch=True, reason="kill", t_ns=1), 1)
    assert core.markets[MARKET].trading.state is TradingState.HALT


def test_shard_core_unknown_market_match_and_token_are_counted_not_fatal() -> None:
    core = ready_core()
    assert core.on_book("0xother", YES, book(YES, [(0.4, 10)]), 1) == []
    assert core.on_book(MARKET, "999", book("999", [(0.4, 10)]), 1) == []
    bad = MatchEvent(match_id="nope", source="s", tier=SourceTier.B,
                     event_type=MatchEventType.MATCH_STARTED,
                     payload=MatchStartedPayload(), t_event_ms=0,
                     t_recv_ns=0, t_recv_ms=0)
    assert core.on_match_event(bad, 1) == []
    assert core.refusals["unknown_market"] == 1
    assert core.refusals["unknown_token"] == 1
    assert core.refusals["unknown_match"] == 1


def temporal_core() -> ShardCore:
    core = ready_core(pair_arb={"enabled": False})
    core.refresh_book(MARKET, NO, book(NO, [(0.52, 2000)]))
    core.on_book(MARKET, YES, book(YES, [(0.50, 2000)]), 0)
    learn_reaction_window(core, 8000.0)
    return core


def learn_reaction_window(core: ShardCore, window_ms: float) -> None:
    """The market measured its reaction window on earlier events (spec 06: no temporal trade
    before ``min_reaction_samples`` reactions)."""
    for market in core.markets.values():
        for _ in range(core.config.temporal_arb.min_reaction_samples):
            market.latency.record(window_ms)


def test_shard_core_match_end_inside_the_window_buys_the_winner() -> None:
    core = temporal_core()
    core.on_match_event(event(MatchEventType.MATCH_STARTED, 1000), 1000 * MS)
    out = core.on_match_event(event(MatchEventType.MATCH_ENDED, 2000, winner="A",
                                    maps_a=2, maps_b=0), 2000 * MS)
    buys = intents(out)
    assert len(buys) == 1 and buys[0].outcome is Outcome.YES
    assert buys[0].strategy is Strategy.TEMPORAL_ARB and buys[0].t_origin_ns == 2000 * MS
    assert core.markets[MARKET].trading.state is TradingState.TEMPORAL_ACTIVE


def test_shard_core_match_end_after_the_window_is_not_traded() -> None:
    core = temporal_core()
    late = event(MatchEventType.MATCH_ENDED, 2000, winner="A")
    # received 5 s after the event happened: 5000 + 3000 matching delay >= 8000 window
    late = MatchEvent(**{**{f: getattr(late, f) for f in late.__struct_fields__},
                         "t_recv_ms": 7000, "t_recv_ns": 7000 * MS})
    assert intents(core.on_match_event(late, 7000 * MS)) == []


def test_shard_core_stale_source_stops_temporal_trading() -> None:
    core = temporal_core()
    core.on_match_event(event(MatchEventType.MATCH_STARTED, 1000), 1000 * MS)
    core.on_source_health(SourceHealth(source="pandascore", tier=SourceTier.B, stale=True,
                                       last_event_age_ms=40000, stale_threshold_ms=30000,
                                       t_ns=1), 1500 * MS)
    out = core.on_match_event(event(MatchEventType.MATCH_ENDED, 2000, winner="A"), 2000 * MS)
    assert intents(out) == []


def test_shard_core_truth_final_after_the_window_goes_finalizing_then_resolved() -> None:
    core = temporal_core()
    out = core.on_match_event(event(MatchEventType.MATCH_ENDED, 2000, source="grid",
                                    tier=SourceTier.A, winner="B"), 2000 * MS)
    assert any(isinstance(m, TruthFinal) for m in out)
    assert core.truths[MATCH].status is TruthStatus.FINAL
    leg = intents(out)[0]
    assert leg.outcome is Outcome.NO
    core.on_execution_report(report(leg, "o1", leg.size, 0.52), 2100 * MS)
    core.on_time(20_000 * MS)
    assert core.markets[MARKET].trading.state is TradingState.FINALIZING  # until the venue says
    core.on_market_resolved(MarketResolved(market_id=MARKET, t_exchange_ms=20_000,
                                           t_recv_ns=20_001 * MS, winning_token_id=NO),
                            20_001 * MS)
    assert core.markets[MARKET].trading.state is TradingState.RESOLVED


def test_shard_core_conflict_after_final_halts_the_market() -> None:
    core = temporal_core()
    core.on_match_event(event(MatchEventType.MATCH_ENDED, 2000, source="grid",
                              tier=SourceTier.A, winner="A"), 2000 * MS)
    out = core.on_match_event(event(MatchEventType.MATCH_ENDED, 2500, winner="B"), 2500 * MS)
    assert core.markets[MARKET].trading.state is TradingState.HALT
    assert core.refusals["conflict_after_final"] == 1
    assert any(isinstance(m, CancelIntent) for m in out)


def test_shard_core_intent_without_answer_triggers_a_resync() -> None:
    core = ready_core()
    core.refresh_book(MARKET, NO, book(NO, [(0.40, 500)]))
    assert intents(core.on_book(MARKET, YES, book(YES, [(0.45, 500)]), 10))
    out = core.on_time(10 + 30_000 * MS)
    assert any(isinstance(m, StateQuery) for m in out) and not core.ready


def test_shard_core_rejected_intents_return_the_market_to_idle() -> None:
    core = ready_core()
    core.refresh_book(MARKET, NO, book(NO, [(0.40, 500)]))
    for leg in intents(core.on_book(MARKET, YES, book(YES, [(0.45, 500)]), 10)):
        core.on_intent_ack(IntentAck(intent_id=leg.intent_id,
                                     idempotency_key=leg.idempotency_key, accepted=False,
                                     t_ns=11), 11)
    assert core.markets[MARKET].trading.state is TradingState.IDLE
