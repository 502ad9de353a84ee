"""Live vs replayed intents: equal prefix per market and the cause of the first difference."""

from __future__ import annotations

from polyloly.domain import OrderStatus, OrderType, Outcome, Side, Strategy
from polyloly.messages import ExecutionReport, OrderIntent
from replay.compare import compare_intents

MARKET = "0xmarket"
TOKEN = "111"


def _intent(price: float, origin: int, decision: int, key: str = "") -> OrderIntent:
    return OrderIntent(
        intent_id=f"i-{key or price}", idempotency_key=key or f"k{price}", shard_id=0,
        market_id=MARKET, token_id=TOKEN, outcome=Outcome.YES, side=Side.BUY, price=price,
        size=10.0, order_type=OrderType.FAK, strategy=Strategy.TEMPORAL_ARB,
        t_origin_ns=origin, t_decision_ns=decision, t_sent_ns=decision)


def _fill(size: float, t_ns: int) -> ExecutionReport:
    return ExecutionReport(
        order_id="o", intent_id="i", idempotency_key="k", shard_id=0, market_id=MARKET,
        token_id=TOKEN, outcome=Outcome.YES, side=Side.BUY, strategy=Strategy.PAIR_ARB,
        status=OrderStatus.FILLED, price=0.5, size=size, filled_size=size,
        avg_fill_price=0.5, t_ns=t_ns, last_fill_size=size, last_fill_price=0.5)


def test_identical_sequences_hold_with_a_full_prefix() -> None:
    intents = [_intent(0.5, 100, 100), _intent(0.6, 200, 200)]
    result = compare_intents(intents, intents, {}, {100, 200})
    (market,) = result.markets
    assert market.identical and market.equal_prefix == 2 and result.holds


def test_a_frame_inside_the_live_lag_window_is_a_book_race() -> None:
    live = [_intent(0.5, 100, 100), _intent(0.61, 200, 260)]
    replayed = [_intent(0.5, 100, 100), _intent(0.60, 200, 200)]
    result = compare_intents(live, replayed, {TOKEN: [150, 230]}, {100, 200})
    (market,) = result.markets
    assert market.equal_prefix == 1 and market.cause == "book_race" and market.race_frames >= 1
    assert result.holds


def test_different_fills_before_the_difference_are_fill_timing() -> None:
    live, replayed = [_intent(0.61, 500, 500)], [_intent(0.60, 500, 500)]
    result = compare_intents(live, replayed, {}, {500}, live_fills=[_fill(5.0, 300)],
                             replay_fills=[_fill(8.0, 300)])
    assert result.markets[0].cause == "fill_timing" and result.holds


def test_a_difference_not_decided_on_a_recorded_input_is_timer_phase() -> None:
    live, replayed = [_intent(0.61, 777, 777)], [_intent(0.60, 500, 500)]
    result = compare_intents(live, replayed, {}, {500})
    assert result.markets[0].cause == "timer_phase" and result.holds


def test_a_difference_with_no_known_cause_breaks_the_property() -> None:
    live, replayed = [_intent(0.61, 500, 500)], [_intent(0.60, 500, 500)]
    result = compare_intents(live, replayed, {TOKEN: [10, 9_000_000]}, {500})
    assert result.markets[0].cause == "unexplained" and not result.holds


def test_intents_after_the_recording_ends_are_left_out() -> None:
    live = [_intent(0.5, 100, 100), _intent(0.9, 900, 900)]
    result = compare_intents(live, live[:1], {}, {100, 900}, until_ns=500)
    assert result.markets[0].identical
