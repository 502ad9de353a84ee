"""Unit tests of the simulated venue's pure matching core (manual clock, no I/O)."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from sim.venue.clock import ManualClock
from sim.venue.core import Venue, taker_fee_u
from sim.venue.models import (
    MICRO,
    BookEvent,
    OrderEvent,
    OrderRequest,
    OrderType,
    ResolvedEvent,
    Side,
    TradeEvent,
    VenueError,
)
from sim.venue.testing import SampleMarket

MARKET = SampleMarket()
YES, NO = MARKET.token_ids
USER = "0x00000000000000000000000000000000000000A1"


def make_venue(delay: float = 0.0, seed: int = 1) -> tuple[Venue, ManualClock, list]:
    clock = ManualClock(start_wall_ms=1_700_000_000_000)
    venue = Venue([MARKET], clock, seed=seed, default_collateral_usdc=100, matching_delay_s=delay)
    events: list = []
    venue.add_event_listener(events.append)
    return venue, clock, events


def user_order(
    oid: str, token: str, side: str, price: float, size: float, kind: str = "GTC"
) -> OrderRequest:
    return OrderRequest(
        order_id=oid,
        owner="user-key",
        address=USER,
        signer=USER,
        token_id=token,
        side=Side(side),
        price_u=round(price * MICRO),
        size_u=round(size * MICRO),
        order_type=OrderType(kind),
    )


def test_taker_fee_formula_is_shares_times_rate_times_p_times_one_minus_p() -> None:
    assert taker_fee_u(100 * MICRO, 500_000, 0.03) == 750_000  # 100 × 0.03 × 0.25
    assert taker_fee_u(10 * MICRO, 550_000, 0.03) == 74_250
    assert taker_fee_u(10 * MICRO, 550_000, 0.0) == 0


def test_taker_buy_pays_price_plus_fee_and_maker_pays_nothing() -> None:
    venue, _, _ = make_venue()
    venue.place_internal("mm", YES, "SELL", 0.55, 100)
    result = venue.submit(user_order("0x1", YES, "BUY", 0.55, 10))
    assert result.status == "matched"
    assert venue.collateral_u(USER) == 100 * MICRO - 5_500_000 - 74_250
    assert venue.position_u(USER, YES) == 10 * MICRO
    maker = venue.agent_address("mm")
    # agents start at 0; the maker receives the price plus its rebate, 25 % of the taker fee
    assert venue.collateral_u(maker) == 5_500_000 + round(74_250 * 0.25)
    assert venue.book(YES) == ([], [(0.55, 90.0)])


def test_taker_sell_fee_is_deducted_from_proceeds() -> None:
    venue, _, _ = make_venue()
    venue.account(USER).positions[YES] = 20 * MICRO
    venue.place_internal("mm", YES, "BUY", 0.40, 100)
    venue.submit(user_order("0x1", YES, "SELL", 0.40, 20))
    fee = taker_fee_u(20 * MICRO, 400_000, 0.03)
    assert venue.collateral_u(USER) == 100 * MICRO + 8 * MICRO - fee
    assert venue.position_u(USER, YES) == 0


def test_price_time_priority_and_partial_fill_leave_the_rest_resting() -> None:
    venue, _, _ = make_venue()
    first = venue.place_internal("a", YES, "SELL", 0.50, 10)
    second = venue.place_internal("b", YES, "SELL", 0.50, 10)
    venue.place_internal("c", YES, "SELL", 0.49, 5)
    result = venue.submit(user_order("0x1", YES, "BUY", 0.50, 12))
    assert result.status == "matched"
    assert venue.order(first).size_matched_u == 7 * MICRO  # 5 @0.49 first, then oldest @0.50
    assert venue.order(second).size_matched_u == 0
    assert venue.book(YES)[1] == [(0.5, 13.0)]
    rest = venue.submit(user_order("0x2", YES, "BUY", 0.45, 10))
    assert rest.status == "live"
    assert venue.book(YES)[0] == [(0.45, 10.0)]


def test_the_two_books_mirror_each_other() -> None:
    venue, _, _ = make_venue()
    venue.place_internal("mm", YES, "BUY", 0.40, 10)
    venue.place_internal("mm", NO, "BUY", 0.55, 20)  # = SELL YES at 0.45
    assert venue.book(YES) == ([(0.4, 10.0)], [(0.45, 20.0)])
    assert venue.book(NO) == ([(0.55, 20.0)], [(0.6, 10.0)])


def test_buy_yes_matches_buy_no_by_minting_a_pair() -> None:
    venue, _, _ = make_venue()
    venue.place_internal("mm", NO, "BUY", 0.47, 50)  # asks YES at 0.53
    result = venue.submit(user_order("0x1", YES, "BUY", 0.53, 10))
    assert result.status == "matched"
    maker = venue.agent_address("mm")
    assert venue.position_u(USER, YES) == 10 * MICRO
    assert venue.position_u(maker, NO) == 10 * MICRO
    # agent paid 0.47 per NO share and got 25 % of the taker's fee (paid at 0.53) back
    rebate = round(taker_fee_u(10 * MICRO, 530_000, 0.03) * 0.25)
    assert venue.collateral_u(maker) == -4_700_000 + rebate
    trade = venue.trades(USER)[0]
    assert trade.maker_orders[0].asset_id == NO
    assert trade.maker_orders[0].price_u == 470_000


def test_sell_yes_matches_sell_no_by_merging_a_pair() -> None:
    venue, _, _ = make_venue()
    venue.account(USER).positions[YES] = 10 * MICRO
    venue.place_internal("mm", NO, "SELL", 0.45, 10)  # bids YES at 0.55
    venue.submit(user_order("0x1", YES, "SELL", 0.55, 10))
    fee = taker_fee_u(10 * MICRO, 550_000, 0.03)
    assert venue.collateral_u(USER) == 100 * MICRO + 5_500_000 - fee
    assert venue.collateral_u(venue.agent_address("mm")) == 4_500_000 + round(fee * 0.25)


def test_marketable_order_is_delayed_until_the_manual_clock_passes_the_delay() -> None:
    venue, clock, _ = make_venue(delay=3.0)
    venue.place_internal("mm", YES, "SELL", 0.50, 100)  # resting orders are not delayed
    result = venue.submit(user_order("0x1", YES, "BUY", 0.50, 10))
    assert result.status == "delayed"
    assert venue.order("0x1").status == "DELAYED"
    clock.advance(2.9)
    venue.poll()
    assert venue.position_u(USER, YES) == 0
    clock.advance(0.2)
    venue.poll()
    assert venue.order("0x1").status == "MATCHED"
    assert venue.position_u(USER, YES) == 10 * MICRO


def test_delayed_fok_is_killed_when_liquidity_left_during_the_delay() -> None:
    venue, clock, events = make_venue(delay=3.0)
    maker = venue.place_internal("mm", YES, "SELL", 0.50, 10)
    venue.submit(user_order("0x1", YES, "BUY", 0.50, 10, "FOK"))
    venue.cancel_internal("mm", maker)
    clock.advance(3.0)
    venue.poll()
    kills = [e for e in events if isinstance(e, OrderEvent) and e.order.id == "0x1"]
    assert kills[-1].kind == "CANCELLATION"
    assert kills[-1].status_text.startswith("CANCELED_order couldn't be fully filled")
    assert venue.account(USER).reserved_u == 0


def test_fok_without_enough_liquidity_is_refused_and_fak_fills_what_it_can() -> None:
    venue, _, _ = make_venue()
    venue.place_internal("mm", YES, "SELL", 0.50, 10)
    with pytest.raises(VenueError, match="FOK orders are fully filled or killed"):
        venue.submit(user_order("0x1", YES, "BUY", 0.50, 20, "FOK"))
    result = venue.submit(user_order("0x2", YES, "BUY", 0.50, 20, "FAK"))
    assert result.status == "matched" and result.taking_u == 10 * MICRO
    assert venue.book(YES) == ([], [])
    with pytest.raises(VenueError, match="no orders found to match with FAK order"):
        venue.submit(user_order("0x3", YES, "BUY", 0.50, 20, "FAK"))


@pytest.mark.parametrize(
    ("price", "size", "message"),
    [
        (0.5005, 10, "breaks minimum tick size rule: 0.001"),
        (0.0, 10, "breaks minimum tick size rule"),
        (0.5, 4.99, "lower than the minimum: 5"),
        (0.5, 500, "not enough balance / allowance"),
    ],
)
def test_bad_orders_get_the_venue_error_text(price: float, size: float, message: str) -> None:
    venue, _, _ = make_venue()
    with pytest.raises(VenueError, match=message) as info:
        venue.submit(user_order("0x9", YES, "BUY", price, size))
    assert info.value.status == 400
    assert venue.account(USER).reserved_u == 0


def test_open_buy_orders_lock_collateral_and_cancel_releases_it() -> None:
    venue, _, _ = make_venue()
    venue.submit(user_order("0x1", YES, "BUY", 0.50, 150))
    with pytest.raises(VenueError, match="not enough balance"):
        venue.submit(user_order("0x2", YES, "BUY", 0.50, 60))
    canceled, not_canceled = venue.cancel(USER, ["0x1", "0xunknown"])
    assert canceled == ["0x1"] and not_canceled == {"0xunknown": "already canceled or matched"}
    assert venue.account(USER).reserved_u == 0
    venue.submit(user_order("0x2", YES, "BUY", 0.50, 60))


def test_heartbeat_silence_cancels_every_order_of_the_account() -> None:
    venue, clock, _ = make_venue()
    venue.submit(user_order("0x1", YES, "BUY", 0.40, 10))
    venue.heartbeat(USER)
    clock.advance(9.0)
    venue.heartbeat(USER)
    clock.advance(9.0)
    venue.poll()
    assert venue.order("0x1").status == "LIVE"
    clock.advance(1.5)
    venue.poll()
    assert venue.order("0x1").status == "CANCELED"
    assert venue.book(YES) == ([], [])


def test_resolution_cancels_orders_and_pays_winners_and_half_on_fifty_fifty() -> None:
    venue, _, events = make_venue()
    venue.place_internal("mm", YES, "SELL", 0.50, 100)
    venue.submit(user_order("0x1", YES, "BUY", 0.50, 10))
    venue.submit(user_order("0x2", YES, "BUY", 0.30, 10))
    before = venue.collateral_u(USER)
    venue.resolve_market(MARKET.condition_id, YES)
    assert venue.order("0x2").status == "CANCELED_MARKET_RESOLVED"
    assert venue.collateral_u(USER) == before + 10 * MICRO
    assert any(isinstance(e, ResolvedEvent) for e in events)
    with pytest.raises(VenueError):
        venue.submit(user_order("0x3", YES, "BUY", 0.30, 10))

    other, _, _ = make_venue()
    other.place_internal("mm", YES, "SELL", 0.50, 100)
    other.submit(user_order("0x1", YES, "BUY", 0.50, 10))
    before = other.collateral_u(USER)
    other.resolve_market(MARKET.condition_id, None)
    assert other.collateral_u(USER) == before + 5 * MICRO


def test_trades_progress_matched_mined_confirmed_and_listeners_see_them() -> None:
    venue, clock, events = make_venue()
    seen = []
    venue.add_trade_listener(seen.append)
    venue.place_internal("mm", YES, "SELL", 0.50, 100)
    venue.place_internal("taker", YES, "BUY", 0.50, 10)
    assert len(seen) == 1 and seen[0].status == "MATCHED"
    clock.advance(5)
    venue.poll()
    statuses = [e.trade.status for e in events if isinstance(e, TradeEvent)]
    assert statuses == ["MATCHED", "MINED", "CONFIRMED"]
    assert venue.trades()[0].status == "CONFIRMED"


def test_book_events_carry_both_tokens_with_absolute_sizes() -> None:
    venue, _, events = make_venue()
    venue.place_internal("mm", YES, "BUY", 0.40, 10)
    venue.place_internal("mm", YES, "BUY", 0.40, 5)
    book_events = [e for e in events if isinstance(e, BookEvent)]
    last = book_events[-1].changes
    assert {(c.token_id, c.side, c.price_u, c.size_u) for c in last} == {
        (YES, "BUY", 400_000, 15 * MICRO),
        (NO, "SELL", 600_000, 15 * MICRO),
    }


def _scripted_run(seed: int) -> str:
    venue, clock, events = make_venue(delay=1.0, seed=seed)
    venue.place_internal("mm", YES, "SELL", 0.52, 50)
    venue.place_internal("mm", NO, "BUY", 0.47, 50)
    venue.submit(user_order("0x1", YES, "BUY", 0.53, 20))
    clock.advance(1.5)
    venue.place_internal("taker", NO, "SELL", 0.45, 5, "FAK")
    clock.advance(5)
    venue.poll()
    return json.dumps([(type(e).__name__, asdict(e)) for e in events], default=str)


def test_same_seed_and_inputs_give_the_same_event_sequence() -> None:
    assert _scripted_run(7) == _scripted_run(7)
    assert _scripted_run(7) != _scripted_run(8)
