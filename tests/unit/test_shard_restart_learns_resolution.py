"""A shard restarted after the venue resolved a market learns it from
the engine's StateSnapshot (``resolved_markets``) and goes straight to RESOLVED, sending nothing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from polyloly.domain import OrderStatus, Outcome, Side, Strategy, TradingState
from polyloly.messages import (
    CancelIntent,
    MarketStatus,
    Message,
    OrderIntent,
    OrderView,
    PositionView,
    ResolvedMarketView,
    StateSnapshot,
    decode_json,
    encode_json,
)
from shards.core import ShardCore
from tests.unit.test_shard_core import MARKET, MS, NO, YES, book, empty_snapshot, make_config
from tests.unit.test_shard_resolution_is_terminal import mispriced, resolved


def _restarted(resolved_markets: tuple[ResolvedMarketView, ...], **kw: object) -> tuple[
        ShardCore, list[Message]]:
    core = ShardCore(make_config(), 0)  # type: ignore[arg-type]
    core.start(0)
    out = core.on_state_snapshot(empty_snapshot(resolved_markets=resolved_markets, **kw), 5)
    return core, out


def _sent_intents(out: list[Message]) -> list[Message]:
    return [m for m in out if isinstance(m, (OrderIntent, CancelIntent))]


def test_restarted_shard_learns_the_resolution_and_sends_nothing() -> None:
    order = OrderView(order_id="o1", intent_id="i1", market_id=MARKET, token_id=YES,
                      side=Side.BUY, price=0.5, size=10, filled_size=0,
                      status=OrderStatus.LIVE, strategy=Strategy.PAIR_ARB)
    leg = PositionView(market_id=MARKET, token_id=YES, outcome=Outcome.YES, shares=20,
                       cost_usdc=9.0, fees_usdc=0.1)
    core, out = _restarted((ResolvedMarketView(market_id=MARKET, winning_token_id=NO),),
                           positions=(leg,), open_orders=(order,))
    assert core.ready
    assert core.markets[MARKET].trading.state is TradingState.RESOLVED
    assert _sent_intents(out) == []  # no cancel: the engine and venue own what is left
    statuses = [m for m in out if isinstance(m, MarketStatus) and m.market_id == MARKET]
    assert statuses and statuses[-1].trading_state is TradingState.RESOLVED
    assert core.status_details(MARKET)["venue_winner"] == "NO"
    assert _sent_intents(mispriced(core, 10 * MS)) == []
    assert _sent_intents(core.on_time(10 * 60_000 * MS)) == []  # no resync, no timeout
    assert core.ready


def test_a_fifty_fifty_resolution_from_the_snapshot_resolves_without_a_winner() -> None:
    core, _ = _restarted((ResolvedMarketView(market_id=MARKET, winning_token_id=None),))
    assert core.markets[MARKET].trading.state is TradingState.RESOLVED
    assert core.status_details(MARKET)["venue_winner"] is None


def test_bad_resolved_entries_are_refused_and_change_nothing() -> None:
    core, out = _restarted((ResolvedMarketView(market_id="0xother", winning_token_id=None),
                            ResolvedMarketView(market_id=MARKET, winning_token_id="999")))
    assert core.refusals["snapshot_unknown_market"] == 1
    assert core.refusals["resolution_token_mismatch"] == 1
    assert core.ready and core.markets[MARKET].trading.state is TradingState.IDLE
    assert len(_sent_intents(mispriced(core, 10 * MS))) == 2  # the market still trades


def test_first_resolution_wins_across_resyncs() -> None:
    core, _ = _restarted((ResolvedMarketView(market_id=MARKET, winning_token_id=YES),))
    core.on_state_snapshot(empty_snapshot(
        resolved_markets=(ResolvedMarketView(market_id=MARKET, winning_token_id=NO),)), 6)
    core.on_state_snapshot(empty_snapshot(), 7)  # an older engine's snapshot: still RESOLVED
    assert core.markets[MARKET].trading.state is TradingState.RESOLVED
    assert core.status_details(MARKET)["venue_winner"] == "YES"
    assert core.on_market_resolved(resolved(NO), 8) == []


@settings(max_examples=40, deadline=None)
@given(winner=st.sampled_from([YES, NO, None]), booked=st.booleans())
def test_snapshot_resolution_matches_the_live_resolution(winner: str | None,
                                                         booked: bool) -> None:
    live = ShardCore(make_config(), 0)  # type: ignore[arg-type]
    live.start(0)
    live.on_state_snapshot(empty_snapshot(), 1)
    live.on_market_resolved(resolved(winner), 2)
    restarted, out = _restarted((ResolvedMarketView(market_id=MARKET, winning_token_id=winner),))
    if booked:
        restarted.on_book(MARKET, YES, book(YES, [(0.45, 500)]), 3)
    assert restarted.markets[MARKET].trading.state is live.markets[MARKET].trading.state
    assert restarted.status_details(MARKET) == live.status_details(MARKET)
    assert restarted.market_status(MARKET, 9) == live.market_status(MARKET, 9)
    assert _sent_intents(out) == []


def test_a_snapshot_without_the_field_still_decodes() -> None:
    wire = encode_json(empty_snapshot())
    old = wire.replace(b',"resolved_markets":[]', b"")
    assert old != wire and b"resolved_markets" not in old
    decoded = decode_json(old)
    assert isinstance(decoded, StateSnapshot) and decoded.resolved_markets == ()
