"""The venue core with `complementary_matching=False`: one independent book per outcome token."""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import pytest

from sim.cli import _parser
from sim.server import SimServer
from sim.venue.clock import ManualClock
from sim.venue.core import Venue, taker_fee_u
from sim.venue.models import (
    MICRO,
    BookEvent,
    LastTradeEvent,
    OrderRequest,
    OrderType,
    Side,
    TradeEvent,
    VenueError,
)
from sim.venue.testing import SampleMarket

MARKET = SampleMarket()
YES, NO = MARKET.token_ids
USER = "0x00000000000000000000000000000000000000B2"


def make_venue(delay: float = 0.0, complementary: bool = False) -> tuple[Venue, ManualClock, list]:
    clock = ManualClock(start_wall_ms=1_700_000_000_000)
    venue = Venue(
        [MARKET],
        clock,
        seed=3,
        default_collateral_usdc=100,
        matching_delay_s=delay,
        complementary_matching=complementary,
    )
    events: list = []
    venue.add_event_listener(events.append)
    return venue, clock, events


def user_order(oid: str, token: str, side: str, price: float, size: float) -> OrderRequest:
    return OrderRequest(
        order_id=oid,
        owner="user-key",
        address=USER,
        signer=USER,
        token_id=token,
        side=Side(side),
        price_u=round(price * MICRO),
        size_u=round(size * MICRO),
        order_type=OrderType.GTC,
    )


def quote_pair(venue: Venue) -> None:
    """An agent (no inventory) quotes YES and NO asks summing to 0.95."""
    venue.place_internal("mm", YES, "SELL", 0.45, 100)
    venue.place_internal("mm", NO, "SELL", 0.50, 100)


def test_default_is_the_unified_book_where_the_pair_mispricing_crosses_at_once() -> None:
    venue, _, _ = make_venue(complementary=True)
    assert venue.complementary_matching is True
    quote_pair(venue)
    (trade,) = venue.trades()  # SELL NO 0.50 (= YES bid 0.50) merged with SELL YES 0.45
    assert trade.asset_id == NO and trade.maker_orders[0].asset_id == YES
    assert venue.book(YES) == ([], []) and venue.book(NO) == ([], [])


def test_pair_asks_below_one_both_rest_on_independent_books() -> None:
    venue, _, events = make_venue()
    quote_pair(venue)
    assert venue.trades() == []
    assert not any(isinstance(e, TradeEvent) for e in events)
    assert venue.book(YES) == ([], [(0.45, 100.0)])
    assert venue.book(NO) == ([], [(0.50, 100.0)])
    assert venue.best_bid_ask_u(YES) == (None, 450_000)
    assert venue.best_bid_ask_u(NO) == (None, 500_000)
    mm = venue.agent_address("mm")
    assert venue.position_u(mm, YES) == 0 and venue.position_u(mm, NO) == 0


def test_client_buys_of_each_leg_fill_at_the_ask_with_the_taker_fee() -> None:
    venue, _, _ = make_venue()
    quote_pair(venue)
    yes = venue.submit(user_order("0x1", YES, "BUY", 0.45, 10))
    no = venue.submit(user_order("0x2", NO, "BUY", 0.50, 10))
    assert yes.status == "matched" and no.status == "matched"
    fee_yes = taker_fee_u(10 * MICRO, 450_000, 0.03)
    fee_no = taker_fee_u(10 * MICRO, 500_000, 0.03)
    assert fee_yes > 0 and fee_no > 0
    assert venue.collateral_u(USER) == 100 * MICRO - 4_500_000 - fee_yes - 5_000_000 - fee_no
    assert venue.position_u(USER, YES) == 10 * MICRO
    assert venue.position_u(USER, NO) == 10 * MICRO
    trades = venue.trades(address=USER)
    assert [(t.asset_id, t.outcome, t.fee_u) for t in trades] == [
        (YES, MARKET.outcomes[0], fee_yes),
        (NO, MARKET.outcomes[1], fee_no),
    ]
    assert [m.price_u for t in trades for m in t.maker_orders] == [450_000, 500_000]
    assert [m.asset_id for t in trades for m in t.maker_orders] == [YES, NO]
    mm = venue.agent_address("mm")
    assert venue.position_u(mm, YES) == -10 * MICRO  # agents may sell what they do not hold
    assert venue.position_u(mm, NO) == -10 * MICRO
    # the asks' prices plus the maker rebate, 25 % of each leg's taker fee
    assert venue.collateral_u(mm) == 9_500_000 + round(fee_yes * 0.25) + round(fee_no * 0.25)
    assert venue.book(YES) == ([], [(0.45, 90.0)])
    assert venue.book(NO) == ([], [(0.50, 90.0)])
    assert venue.last_trade(YES) == (450_000, "BUY")
    assert venue.last_trade(NO) == (500_000, "BUY")


def test_no_mirroring_or_mint_between_the_two_tokens() -> None:
    venue, _, _ = make_venue()
    venue.place_internal("a", YES, "BUY", 0.60, 10)
    venue.place_internal("b", NO, "BUY", 0.60, 10)  # would mint a pair on the unified book
    assert venue.trades() == []
    assert venue.book(YES) == ([(0.60, 10.0)], [])  # no mirrored 0.40 ask from the NO bid
    assert venue.book(NO) == ([(0.60, 10.0)], [])
    # a SELL of the same token crosses: only orders of the same token match
    venue.place_internal("c", YES, "SELL", 0.60, 5)
    (trade,) = venue.trades()
    assert trade.asset_id == YES and [m.asset_id for m in trade.maker_orders] == [YES]
    assert venue.book(YES) == ([(0.60, 5.0)], [])
    assert venue.book(NO) == ([(0.60, 10.0)], [])


def test_events_name_only_the_token_whose_book_changed() -> None:
    venue, _, events = make_venue()
    quote_pair(venue)
    books = [e for e in events if isinstance(e, BookEvent)]
    assert [[(c.token_id, c.side, c.price_u, c.size_u) for c in e.changes] for e in books] == [
        [(YES, "SELL", 450_000, 100 * MICRO)],
        [(NO, "SELL", 500_000, 100 * MICRO)],
    ]
    events.clear()
    venue.submit(user_order("0x1", NO, "BUY", 0.50, 5))
    books = [e for e in events if isinstance(e, BookEvent)]
    assert [(c.token_id, c.side, c.price_u, c.size_u) for e in books for c in e.changes] == [
        (NO, "SELL", 500_000, 95 * MICRO)
    ]
    last = [e for e in events if isinstance(e, LastTradeEvent)]
    assert [(e.token_id, e.price_u, e.side) for e in last] == [(NO, 500_000, "BUY")]
    assert venue.last_trade(YES) is None


def test_matching_delay_cancel_tick_size_and_resolution_work_per_token() -> None:
    venue, clock, _ = make_venue(delay=3.0)
    quote_pair(venue)
    result = venue.submit(user_order("0x1", NO, "BUY", 0.50, 10))
    assert result.status == "delayed"
    clock.advance(3)
    venue.poll()
    assert venue.position_u(USER, NO) == 10 * MICRO
    assert venue.cancel_all_internal("mm", token_id=YES) == 1
    assert venue.book(YES) == ([], []) and venue.book(NO) == ([], [(0.50, 90.0)])
    venue.set_tick_size(MARKET.condition_id, 0.01)
    assert venue.tick_size_u(YES) == venue.tick_size_u(NO) == 10_000
    with pytest.raises(VenueError, match="tick size"):
        venue.submit(user_order("0x2", NO, "BUY", 0.455, 10))
    before = venue.collateral_u(USER)
    venue.resolve_market(MARKET.condition_id, NO)
    assert venue.is_resolved(MARKET.condition_id) == (True, NO)
    assert venue.book(NO) == ([], [])
    assert venue.collateral_u(USER) == before + 10 * MICRO
    assert venue.position_u(USER, NO) == 0
    with pytest.raises(VenueError, match="No orderbook"):
        venue.submit(user_order("0x3", YES, "BUY", 0.45, 10))


def test_sim_server_reads_the_scenario_field_and_the_cli_flag_forces_independent_books() -> None:
    scenario = SimpleNamespace(
        seed=1, markets=[MARKET], default_collateral_usdc=100, matching_delay_s=0
    )
    assert SimServer(scenario).venue.complementary_matching is True
    scenario.complementary_matching = False
    assert SimServer(scenario).venue.complementary_matching is False
    scenario.complementary_matching = True
    forced = SimServer(scenario, complementary_matching=False)
    assert forced.venue.complementary_matching is False
    args: argparse.Namespace = _parser().parse_args(["--scenario", "x", "--independent-books"])
    assert args.independent_books is True
    assert _parser().parse_args(["--scenario", "x"]).independent_books is False
