"""The shard's maker quotes and accumulation bids (issue 17; specs/06 §maker, specs/05): quotes
posted post-only around the market-anchored fair value, kept while they stand, replaced or
cancelled on a fair-value move, a stale source, a book through the price, the truth leaving
PRE_MATCH/LIVE (before FINAL), re-placed a tick back after a crossing refusal; resting quotes
never trigger the intent-timeout resync; a quote restored after a restart is cancelled."""

from __future__ import annotations

import pytest

from polyloly.config import Config, ConfigError, validate
from polyloly.domain import (
    MatchEventType,
    OrderStatus,
    OrderType,
    Outcome,
    Side,
    SourceTier,
    Strategy,
    TradingState,
)
from polyloly.messages import (
    CancelIntent,
    ExecutionReport,
    IntentAck,
    MatchEvent,
    Message,
    OrderIntent,
    OrderView,
    PositionView,
    SourceHealth,
    StateQuery,
    StateSnapshot,
    payload_from_dict,
)
from shards.core import ShardCore
from shm import BookSnapshot

MARKET = "0x" + "ab" * 32
YES, NO = "1001", "1002"
MATCH = "m1"
MS = 1_000_000
S = 1_000_000_000


def config(**overrides: object) -> Config:
    data: dict[str, object] = {
        "shards": {"count": 1},
        "markets": [{"market_id": MARKET, "token_ids": [YES, NO], "match_id": MATCH,
                     "game": "lol", "best_of": 3, "tick_size": 0.01}],
        "maker": {"enabled": True, "half_width": 0.02, "volatility_width_mult": 0.0,
                  "live_width_mult": 2.0, "reprice_threshold": 0.01, "cooldown_ms": 0},
        "pair_arb": {"enabled": False},
        "temporal_arb": {"enabled": False},
    }
    data.update(overrides)
    return validate(data)


def book(token: str, bid: float, ask: float, ts_ms: int = 1_767_312_000_000) -> BookSnapshot:
    return BookSnapshot(
        slot=0 if token == YES else 1, token_id=token, seq=1, t_recv_ns=1,
        exchange_ts_ms=ts_ms, tick_size=0.01, best_bid=bid, best_ask=ask, flags=0,
        book_hash="", bid_prices=(bid,), bid_sizes=(500.0,), ask_prices=(ask,),
        ask_sizes=(500.0,), bid_levels_total=1, ask_levels_total=1)


def snapshot(**kw: object) -> StateSnapshot:
    fields: dict[str, object] = {"shard_id": 0, "positions": (), "open_orders": (),
                                 "halted_markets": (), "kill_switch": False, "t_ns": 0}
    fields.update(kw)
    return StateSnapshot(**fields)  # type: ignore[arg-type]


def event(kind: MatchEventType, t_ms: int, **payload: object) -> MatchEvent:
    return MatchEvent(match_id=MATCH, source="pandascore", tier=SourceTier.B, event_type=kind,
                      payload=payload_from_dict(kind, dict(payload)), t_event_ms=t_ms,
                      t_recv_ns=t_ms * MS, t_recv_ms=t_ms)


def quotes(out: list[Message]) -> list[OrderIntent]:
    return [m for m in out if isinstance(m, OrderIntent)]


def cancels(out: list[Message]) -> list[CancelIntent]:
    return [m for m in out if isinstance(m, CancelIntent)]


def quoting_core(yes_bid: float = 0.48, yes_ask: float = 0.52, **overrides: object
                 ) -> tuple[ShardCore, list[OrderIntent]]:
    """A ready shard whose market quotes pre-match on a 0.48/0.52 unified book (fair 0.50)."""
    core = ShardCore(config(**overrides), 0)
    core.start(0)
    core.on_state_snapshot(snapshot(), 0)
    core.refresh_book(MARKET, NO, book(NO, round(1 - yes_ask, 2), round(1 - yes_bid, 2)))
    out = core.on_book(MARKET, YES, book(YES, yes_bid, yes_ask), 1 * S)
    return core, quotes(out)


def live_quoting_core() -> tuple[ShardCore, list[OrderIntent]]:
    """The match live with a known score (map 1 started) and the market quoting (acked)."""
    core, posted = quoting_core()
    core.on_match_event(event(MatchEventType.MATCH_STARTED, 1500), 1500 * MS)
    posted = quotes(core.on_match_event(event(MatchEventType.MAP_STARTED, 1600, game_number=1,
                                              maps_a=0, maps_b=0), 1600 * MS))
    assert len(posted) == 2
    for q in posted:
        ack(core, q, 1600 * MS)
    return core, posted


def ack(core: ShardCore, intent: OrderIntent, t_ns: int) -> None:
    core.on_intent_ack(IntentAck(intent_id=intent.intent_id,
                                 idempotency_key=intent.idempotency_key, accepted=True,
                                 t_ns=t_ns, order_id="o-" + intent.intent_id), t_ns)


def report(intent: OrderIntent, status: OrderStatus, reason: str = "",
           filled: float = 0.0) -> ExecutionReport:
    return ExecutionReport(
        order_id="o-" + intent.intent_id, intent_id=intent.intent_id,
        idempotency_key=intent.idempotency_key, shard_id=0, market_id=MARKET,
        token_id=intent.token_id, outcome=intent.outcome, side=intent.side,
        strategy=intent.strategy, status=status, price=intent.price, size=intent.size,
        filled_size=filled, avg_fill_price=intent.price if filled else 0.0, t_ns=0,
        last_fill_size=filled, last_fill_price=intent.price if filled else 0.0, reason=reason)


def test_pre_match_quotes_are_post_only_bids_inside_the_book_on_both_outcomes() -> None:
    core, posted = quoting_core()
    assert [(q.outcome, q.side, q.price) for q in posted] == [
        (Outcome.YES, Side.BUY, 0.48), (Outcome.NO, Side.BUY, 0.48)]
    for q in posted:
        assert q.post_only and q.order_type is OrderType.GTC and q.strategy is Strategy.MAKER
        assert q.expiration_s == 0 and q.expected_edge > 0
    assert core.markets[MARKET].trading.state is TradingState.IDLE
    # the same book again: the quotes stand, nothing is sent
    assert core.on_book(MARKET, YES, book(YES, 0.48, 0.52), 2 * S) == []


def test_a_truth_event_that_moves_fair_value_cancels_and_replaces_every_quote() -> None:
    core, posted = quoting_core()
    for q in posted:
        ack(core, q, 1 * S)
    out = core.on_match_event(event(MatchEventType.MATCH_STARTED, 2000), 2 * S)
    # live without a known series score: no fair value to quote around, the quotes go
    assert {i for c in cancels(out) for i in c.intent_ids} == {q.intent_id for q in posted}
    out = core.on_match_event(event(MatchEventType.MAP_STARTED, 2100, game_number=1, maps_a=0,
                                    maps_b=0), 2100 * MS)
    posted = quotes(out)  # live: wider (live_width_mult) around the same fair value
    assert [q.price for q in posted] == [0.46, 0.46]
    for q in posted:
        ack(core, q, 2100 * MS)
    out = core.on_match_event(event(MatchEventType.MAP_ENDED, 3000, winner="A", game_number=1,
                                    maps_a=1, maps_b=0), 3 * S)
    (cancel,) = [c for c in cancels(out) if set(c.intent_ids) & {q.intent_id for q in posted}]
    assert set(cancel.intent_ids) == {q.intent_id for q in posted}
    assert cancel.reason == "fair_value_moved"
    fair = core.markets[MARKET].fair_for_quotes()
    assert fair is not None and fair > 0.55  # team A took map 1 of a Bo3
    replaced = quotes(out)
    assert replaced and all(q.post_only for q in replaced)
    # never crossing: the YES bid stays below the 0.52 ask, whatever fair value says
    assert all(q.price < 0.52 for q in replaced if q.outcome is Outcome.YES)


def test_a_stale_source_cancels_the_quotes() -> None:
    core, posted = live_quoting_core()
    out = core.on_source_health(SourceHealth(source="pandascore", tier=SourceTier.B,
                                             stale=True, last_event_age_ms=40_000,
                                             stale_threshold_ms=30_000, t_ns=1), 2 * S)
    (cancel,) = cancels(out)
    assert set(cancel.intent_ids) == {q.intent_id for q in posted}
    assert cancel.reason == "quotes_off:no_fair_value"
    assert quotes(out) == []


def test_the_quotes_go_before_the_match_is_final() -> None:
    core, posted = live_quoting_core()
    out = core.on_match_event(event(MatchEventType.MATCH_ENDED, 3000, winner="A", maps_a=2,
                                    maps_b=0), 3 * S)
    assert core.truths[MATCH].status.value == "PENDING_CONFIRM"  # one source: not FINAL yet
    (cancel,) = cancels(out)
    assert set(cancel.intent_ids) == {q.intent_id for q in posted}
    assert quotes(out) == []


def test_a_book_moving_through_a_bid_cancels_it() -> None:
    core, posted = live_quoting_core()  # live: the prior needs 5 s of a mid to move
    yes_bid = next(q for q in posted if q.outcome is Outcome.YES)
    core.refresh_book(MARKET, NO, book(NO, 0.58, 0.62))
    out = core.on_book(MARKET, YES, book(YES, 0.38, 0.42), 2 * S)  # mid 0.40 < our 0.46
    reasons = {i: c.reason for c in cancels(out) for i in c.intent_ids}
    assert reasons[yes_bid.intent_id] == "book_through_price"


def test_a_crossing_refusal_re_places_the_quote_one_tick_back() -> None:
    core, posted = quoting_core(yes_bid=0.47, yes_ask=0.55)
    yes_bid = next(q for q in posted if q.outcome is Outcome.YES)
    ack(core, yes_bid, 1 * S)
    out = core.on_execution_report(
        report(yes_bid, OrderStatus.REJECTED,
               "VENUE_REJECTED: invalid post-only order: order crosses book"), 1 * S + 1)
    again = [q for q in quotes(out) if q.outcome is Outcome.YES]
    assert [q.price for q in again] == [round(yes_bid.price - 0.01, 2)]
    assert again[0].post_only  # never a taker


def test_resting_quotes_do_not_trigger_the_intent_timeout_resync() -> None:
    core, posted = quoting_core()
    for q in posted:
        ack(core, q, 1 * S)
    out = core.on_time(60 * S)
    assert not any(isinstance(m, StateQuery) for m in out) and core.ready


def test_a_quote_restored_after_a_restart_is_cancelled_and_quoted_afresh() -> None:
    core = ShardCore(config(), 0)
    core.start(0)
    order = OrderView(order_id="o1", intent_id="old-quote", market_id=MARKET, token_id=YES,
                      side=Side.BUY, price=0.45, size=10, filled_size=0,
                      status=OrderStatus.LIVE, strategy=Strategy.MAKER,
                      order_type=OrderType.GTC)
    out = core.on_state_snapshot(snapshot(open_orders=(order,)), 0)
    assert [c.intent_ids for c in cancels(out)] == [("old-quote",)]
    assert core.markets[MARKET].trading.state is TradingState.IDLE
    core.refresh_book(MARKET, NO, book(NO, 0.48, 0.52))
    out = core.on_book(MARKET, YES, book(YES, 0.48, 0.52), 1 * S)
    assert cancels(out) == [] and len(quotes(out)) == 2


def test_gtd_quotes_expire_after_the_venue_time_of_the_book() -> None:
    core, posted = quoting_core(maker={"enabled": True, "gtd_s": 120,
                                       "volatility_width_mult": 0.0, "cooldown_ms": 0})
    assert posted and all(q.order_type is OrderType.GTD for q in posted)
    assert {q.expiration_s for q in posted} == {1_767_312_000 + 120}


def test_accumulation_takes_a_dip_then_completes_the_pair_under_one() -> None:
    core, posted = quoting_core(
        maker={"enabled": False}, pair_arb={"enabled": True, "size_usdc": 10,
                                            "first_leg": "dip", "entry_edge": 0.03,
                                            "safety_margin": 0.02})
    assert posted == []  # fair 0.50 at the mid: no dip, and a first leg never rests as a bid
    market = core.markets[MARKET]
    core.on_match_event(event(MatchEventType.MATCH_STARTED, 1500), 1500 * MS)
    core.on_match_event(event(MatchEventType.MAP_STARTED, 1600, game_number=1, maps_a=0,
                              maps_b=0), 1600 * MS)
    out = core.on_match_event(event(MatchEventType.MAP_ENDED, 2000, winner="A", game_number=1,
                                    maps_a=1, maps_b=0), 2 * S)
    # fair value of YES jumped above the 0.52 ask by more than entry_edge: the dip is taken
    (first,) = quotes(out)
    assert (first.outcome, first.price, first.post_only) == (Outcome.YES, 0.52, False)
    assert first.strategy is Strategy.PAIR_ARB and first.order_type is OrderType.FAK
    assert market.trading.state is TradingState.BUILDING_PAIR
    ack(core, first, 2 * S)
    out = core.on_execution_report(report(first, OrderStatus.FILLED, filled=first.size), 3 * S)
    # the lagging NO leg: a resting bid at the most that keeps the pair under 1 − margin
    (no_bid,) = quotes(out)
    assert no_bid.outcome is Outcome.NO and no_bid.post_only
    assert no_bid.price <= 1 - 0.02 - market.position.cost_yes / market.position.shares_yes + 1e-9
    ack(core, no_bid, 3 * S)
    # YES rallies: NO is cheap now; the pair completes (taker) and the NO bid is cancelled
    core.refresh_book(MARKET, NO, book(NO, 0.20, 0.22))
    out = core.on_book(MARKET, YES, book(YES, 0.78, 0.80), 5 * S)
    (leg,) = quotes(out)
    assert [c.intent_ids for c in cancels(out)] == [(no_bid.intent_id,)]
    assert leg.outcome is Outcome.NO and leg.strategy is Strategy.REBALANCE
    assert not leg.post_only and leg.price + first.price < 1 - 0.02
    ack(core, leg, 5 * S)
    core.on_execution_report(report(leg, OrderStatus.FILLED, filled=leg.size), 6 * S)
    assert market.trading.state is TradingState.BUILDING_PAIR  # the bid's cancel not yet done
    core.on_execution_report(report(no_bid, OrderStatus.CANCELLED), 6 * S + 1)
    assert market.trading.state is TradingState.LOCKED_PAIR
    assert market.position.imbalance_shares < 5


def test_a_gtd_lifetime_the_venue_would_refuse_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"maker.gtd_s: expected 0 \(GTC\) or at least 61"):
        config(maker={"enabled": True, "gtd_s": 30})


def test_a_temporal_signal_outranks_a_pair_being_built_and_its_bids_wait() -> None:
    core = ShardCore(config(maker={"enabled": False}, pair_arb={"enabled": True},
                            temporal_arb={"enabled": True}), 0)
    core.start(0)
    held = PositionView(market_id=MARKET, token_id=YES, outcome=Outcome.YES, shares=20,
                        cost_usdc=9.6, fees_usdc=0.0)
    core.on_state_snapshot(snapshot(positions=(held,)), 0)
    market = core.markets[MARKET]
    assert market.trading.state is TradingState.BUILDING_PAIR  # a YES leg waits for its NO
    for _ in range(core.config.temporal_arb.min_reaction_samples):
        market.latency.record(8000.0)
    core.refresh_book(MARKET, NO, book(NO, 0.48, 0.52))
    (no_bid,) = quotes(core.on_book(MARKET, YES, book(YES, 0.48, 0.52), 1 * S))
    assert no_bid.outcome is Outcome.NO and no_bid.post_only  # avg YES 0.48: NO up to 0.51
    ack(core, no_bid, 1 * S)
    core.on_match_event(event(MatchEventType.MATCH_STARTED, 1500), 1500 * MS)
    out = core.on_match_event(event(MatchEventType.MATCH_ENDED, 2000, winner="A", maps_a=2,
                                    maps_b=0), 2 * S)
    (buy,) = quotes(out)
    assert buy.strategy is Strategy.TEMPORAL_ARB and buy.outcome is Outcome.YES
    assert market.trading.state is TradingState.TEMPORAL_ACTIVE
    assert [(c.intent_ids, c.reason) for c in cancels(out)] == [
        ((no_bid.intent_id,), "temporal_signal")]


def test_a_crossing_refusal_of_an_accumulation_bid_re_places_it_a_tick_back() -> None:
    core = ShardCore(config(maker={"enabled": False}, pair_arb={"enabled": True}), 0)
    core.start(0)
    held = PositionView(market_id=MARKET, token_id=YES, outcome=Outcome.YES, shares=20,
                        cost_usdc=9.6, fees_usdc=0.0)
    core.on_state_snapshot(snapshot(positions=(held,)), 0)
    core.refresh_book(MARKET, NO, book(NO, 0.48, 0.52))
    (no_bid,) = quotes(core.on_book(MARKET, YES, book(YES, 0.48, 0.52), 1 * S))
    assert (no_bid.outcome, no_bid.price, no_bid.post_only) == (Outcome.NO, 0.51, True)
    ack(core, no_bid, 1 * S)
    out = core.on_execution_report(
        report(no_bid, OrderStatus.REJECTED,
               "VENUE_REJECTED: invalid post-only order: order crosses book"), 1 * S + 1)
    assert quotes(out) == []  # one pair decision per pair_arb.cooldown_ms (1 s)
    (again,) = quotes(core.on_time(2 * S))  # our book view still says ask 0.52
    assert (again.outcome, again.price, again.post_only) == (Outcome.NO, 0.50, True)


def test_a_quote_cancelled_and_wanted_again_in_the_same_second_is_not_sent_twice() -> None:
    core, posted = quoting_core()
    yes_bid = next(q for q in posted if q.outcome is Outcome.YES)
    ack(core, yes_bid, 1 * S)
    market = core.markets[MARKET]
    # the book moves through the bid (cancelled) and straight back, within the same second
    core.refresh_book(MARKET, NO, book(NO, 0.58, 0.62))
    out = core.on_book(MARKET, YES, book(YES, 0.38, 0.42), 1 * S + 100 * MS)
    assert yes_bid.intent_id in {i for c in cancels(out) for i in c.intent_ids}
    core.refresh_book(MARKET, NO, book(NO, 0.48, 0.52))
    out = core.on_book(MARKET, YES, book(YES, 0.48, 0.52), 1 * S + 500 * MS)
    # the same quote (same key: market, order, second) would be the engine's DUPLICATE
    assert yes_bid.intent_id not in {q.intent_id for q in quotes(out)}
    assert core.refusals["quote_already_sent"] >= 1
    assert market.inflight[yes_bid.intent_id].cancelling  # the old one stays on its way out

