"""Reconciliation core: complete/incomplete answers, cross-match attribution, mismatch → halt."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.executors.base import (
    IncompleteVenueAnswer,
    VenueFill,
    VenueOrder,
    VenueOrders,
    VenueTrades,
    VenueUnavailable,
)
from engine.executors.polymarket.reports import Identity, fills_of_ours, trade_from_rest
from engine.reconciler import (
    IncompleteReconciliation,
    LocalOrder,
    ReconcilePlan,
    VenueSnapshot,
    reconcile,
    reconcile_until_complete,
    reconcile_with_venue,
)
from polyloly.domain import OrderStatus, Side
from tests.helpers.fixtures import load_json, polymarket

MARKET = "0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917"
YES = "21742633143463906290569050155826241533067272736897614950488156847949938836455"
NO = "48331043336612883890938759509493159234755048973500640148014422747788308965732"
TOKENS = {YES: MARKET, NO: MARKET}


def _fill(fill_id: str, token: str, side: Side, size: float, order: str = "o1") -> VenueFill:
    return VenueFill(fill_id, order, token, side, 0.5, size, 0.0, False, 1, MARKET)


def _venue_order(order_id: str, token: str = YES, matched: float = 0.0) -> VenueOrder:
    status = OrderStatus.PARTIALLY_FILLED if matched else OrderStatus.LIVE
    return VenueOrder(order_id, token, MARKET, Side.BUY, 0.4, 10, matched, status)


def _local(
    order_id: str, status: OrderStatus = OrderStatus.LIVE, filled: float = 0.0
) -> LocalOrder:
    return LocalOrder(order_id, MARKET, YES, Side.BUY, 0.4, 10, filled, status)


def _snapshot(
    orders: tuple[VenueOrder, ...] = (),
    fills: tuple[VenueFill, ...] = (),
    positions: dict[str, float] | None = None,
    lookups: dict[str, VenueOrder | None] | None = None,
) -> VenueSnapshot:
    return VenueSnapshot(VenueOrders(orders, 0), VenueTrades(fills, 0), positions, lookups or {})


def test_identical_state_gives_an_empty_plan() -> None:
    plan = reconcile(
        [_local("a")], {YES: 10}, {"f1"},
        _snapshot((_venue_order("a"),), (_fill("f1", YES, Side.BUY, 10),), {YES: 10, NO: 0}),
        TOKENS,
    )
    assert plan.consistent, plan


def test_unknown_venue_orders_are_adopted_and_other_markets_are_foreign() -> None:
    other = VenueOrder("z", "999", "0xother", Side.SELL, 0.5, 5, 0, OrderStatus.LIVE)
    plan = reconcile([], {}, set(), _snapshot((_venue_order("x"), other)), TOKENS)
    assert [o.venue_order_id for o in plan.adopt_orders] == ["x"]
    assert [o.venue_order_id for o in plan.foreign_orders] == ["z"]
    assert plan.halts == ()


def test_new_venue_fills_are_adopted_and_known_ones_are_not() -> None:
    fills = (_fill("f1", YES, Side.BUY, 5), _fill("f2", YES, Side.BUY, 5))
    plan = reconcile([], {YES: 5}, {"f1"}, _snapshot(fills=fills, positions={YES: 10}), TOKENS)
    assert [f.fill_id for f in plan.adopt_fills] == ["f2"]
    assert plan.halts == ()  # 5 ours + 5 adopted = 10 at the venue


def test_missing_open_order_waits_for_a_lookup_before_any_conclusion() -> None:
    plan = reconcile([_local("a")], {}, set(), _snapshot(), TOKENS)
    assert plan.pending_lookups == ("a",)
    assert plan.order_corrections == ()


@pytest.mark.parametrize(
    ("local_status", "fills", "lookup", "expected"),
    [
        (OrderStatus.LIVE, 10.0, None, OrderStatus.FILLED),
        (OrderStatus.LIVE, 4.0, None, OrderStatus.CANCELLED),
        (OrderStatus.LIVE, 0.0, None, OrderStatus.CANCELLED),
        (OrderStatus.UNKNOWN, 0.0, None, OrderStatus.REJECTED),
        (OrderStatus.UNKNOWN, 10.0, None, OrderStatus.FILLED),
        (
            OrderStatus.LIVE, 0.0,
            VenueOrder("a", YES, MARKET, Side.BUY, 0.4, 10, 3, OrderStatus.CANCELLED),
            OrderStatus.CANCELLED,
        ),
    ],
)
def test_missing_open_order_is_concluded_from_lookup_and_fills(
    local_status: OrderStatus, fills: float, lookup: VenueOrder | None, expected: OrderStatus
) -> None:
    venue_fills = (_fill("f", YES, Side.BUY, fills, order="a"),) if fills else ()
    plan = reconcile(
        [_local("a", local_status)], {YES: fills}, {"f"},
        _snapshot(fills=venue_fills, lookups={"a": lookup}), TOKENS,
    )
    (correction,) = plan.order_corrections
    assert (correction.venue_order_id, correction.status) == ("a", expected)


def test_venue_showing_more_matched_than_we_know_corrects_the_order() -> None:
    plan = reconcile(
        [_local("a")], {}, set(), _snapshot((_venue_order("a", matched=4),)), TOKENS
    )
    (correction,) = plan.order_corrections
    assert correction.status is OrderStatus.PARTIALLY_FILLED and correction.size_matched == 4


def test_position_mismatch_halts_the_market_and_rebuilds_from_the_venue() -> None:
    plan = reconcile([], {YES: 10, NO: 0}, set(), _snapshot(positions={YES: 7, NO: 0}), TOKENS)
    (halt,) = plan.halts
    assert halt.market_id == MARKET and "position mismatch" in halt.reason
    (fix,) = plan.position_corrections
    assert (fix.token_id, fix.local_shares, fix.venue_shares) == (YES, 10, 7)


def test_without_balances_no_position_is_judged() -> None:
    plan = reconcile([], {YES: 10}, set(), _snapshot(positions=None), TOKENS)
    assert plan.halts == () and plan.position_corrections == ()


def _fixture(name: str) -> dict:
    return load_json(polymarket("ws_messages", name))


def test_user_trade1_no_maker_leg_is_a_no_buy_at_its_own_price() -> None:
    trade = trade_from_rest(_fixture("user_trade1.json"))
    ours = Identity(
        api_key="78132bc3-22af-6aa2-79ae-11929f821cae", addresses=frozenset(), order_ids=set()
    )
    (fill,) = fills_of_ours(trade, ours)
    assert (fill.token_id, fill.side, fill.price, fill.size, fill.is_maker) == (
        NO, Side.BUY, 0.482, 10.0, True,
    )
    assert fill.fee_usdc == 0.0
    # booked on the right token the venue agrees; booked on the taker's token it would halt
    right = reconcile([], {}, set(), _snapshot(fills=(fill,), positions={NO: 10, YES: 0}), TOKENS)
    assert right.halts == () and right.adopt_fills == (fill,)
    wrong = reconcile([], {YES: 10}, set(), _snapshot(positions={NO: 10, YES: 0}), TOKENS)
    assert {h.market_id for h in wrong.halts} == {MARKET}


def test_user_trade3_maker_leg_with_explicit_side_on_the_other_token() -> None:
    trade = trade_from_rest(_fixture("user_trade3.json"))
    ours = Identity(
        api_key="",
        addresses=frozenset({"0xa3d82ed56f4c68d2328fb8c29e568ba2caf7d7c8"}),
        order_ids=set(),
    )
    (fill,) = fills_of_ours(trade, ours)
    assert (fill.token_id, fill.side, fill.price, fill.size) == (YES, Side.BUY, 0.513, 5.0)


def test_user_trade2_same_token_maker_is_on_the_opposite_side() -> None:
    raw = {**_fixture("user_trade2.json"), "trader_side": "MAKER"}
    leg = raw["maker_orders"][0]
    trade = trade_from_rest(raw)
    ours = Identity(api_key="", addresses=frozenset(), order_ids={leg["order_id"]})
    (fill,) = fills_of_ours(trade, ours)
    assert fill.token_id == raw["asset_id"] and fill.side is Side.SELL
    assert fill.price == float(leg["price"])


def test_taker_fill_is_priced_at_the_makers_prices_in_the_takers_token() -> None:
    raw = _fixture("user_trade1.json")
    raw = {**raw, "trader_side": "TAKER"}
    trade = trade_from_rest(raw)
    ours = Identity(api_key="", addresses=frozenset(), order_ids=set())
    (fill,) = fills_of_ours(trade, ours, fallback_fee_rate=0.03)
    assert (fill.token_id, fill.side, fill.is_maker) == (YES, Side.BUY, False)
    assert fill.price == pytest.approx(0.518)  # the NO leg at 0.482 is 0.518 in YES terms
    assert fill.fee_usdc == pytest.approx(1096.87 * 0.03 * 0.518 * 0.482, abs=1e-5)


def test_a_failed_trade_yields_no_fill() -> None:
    raw = {**_fixture("user_trade1.json"), "status": "FAILED", "trader_side": "TAKER"}
    ours = Identity(api_key="", addresses=frozenset(), order_ids=set())
    assert fills_of_ours(trade_from_rest(raw), ours) == []


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(
        st.tuples(st.sampled_from([YES, NO]), st.sampled_from([Side.BUY, Side.SELL]),
                  st.integers(1, 500)),
        max_size=20,
    ),
    applied=st.integers(0, 20),
    skew=st.sampled_from([0.0, 0.5, -3.0]),
)
def test_positions_built_from_the_same_fills_never_halt_and_any_skew_does(
    sizes: list[tuple[str, Side, int]], applied: int, skew: float
) -> None:
    fills = tuple(
        _fill(f"f{i}", token, side, size / 100) for i, (token, side, size) in enumerate(sizes)
    )
    venue: dict[str, float] = {YES: 0.0, NO: 0.0}
    for fill in fills:
        venue[fill.token_id] += fill.size if fill.side is Side.BUY else -fill.size
    local: dict[str, float] = {YES: 0.0, NO: 0.0}
    for fill in fills[:applied]:
        local[fill.token_id] += fill.size if fill.side is Side.BUY else -fill.size
    venue_seen = {YES: venue[YES] + skew, NO: venue[NO]}
    plan = reconcile(
        [], local, {f.fill_id for f in fills[:applied]},
        _snapshot(fills=fills, positions=venue_seen), TOKENS,
    )
    assert len(plan.adopt_fills) == max(0, len(fills) - applied)
    assert bool(plan.halts) is (skew != 0.0)


class _Venue:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.adopted: list[str] = []

    async def open_orders(self) -> VenueOrders:
        if self.failures:
            raise self.failures.pop(0)
        return VenueOrders((_venue_order("x"),), 0)

    async def trades(self, since_ms: int) -> VenueTrades:
        return VenueTrades((), 0)

    async def order_status(self, venue_order_id: str) -> VenueOrder | None:
        return None

    def adopt(self, venue_order_id: str) -> None:
        self.adopted.append(venue_order_id)


def _run_once(venue: _Venue) -> ReconcilePlan:
    async def flat(tokens: object) -> dict[str, float]:
        return {YES: 0.0, NO: 0.0}

    return asyncio.run(reconcile_with_venue(venue, [_local("a")], {}, set(), TOKENS, 0, flat))


@pytest.mark.parametrize(
    "failure", [IncompleteVenueAnswer("page 2 failed"), VenueUnavailable("refused")]
)
def test_an_incomplete_answer_is_never_read_as_flat(failure: Exception) -> None:
    with pytest.raises(IncompleteReconciliation):
        _run_once(_Venue([failure]))


def test_runner_looks_up_missing_orders_and_adopts_unknown_ones() -> None:
    venue = _Venue([])
    plan = _run_once(venue)
    assert venue.adopted == ["x"]
    assert [(c.venue_order_id, c.status) for c in plan.order_corrections] == [
        ("a", OrderStatus.CANCELLED)
    ]
    assert plan.pending_lookups == ()


def test_reconcile_until_complete_retries_then_gives_up() -> None:
    venue = _Venue([IncompleteVenueAnswer("1"), IncompleteVenueAnswer("2")])
    sleeps: list[float] = []

    async def sleep(delay: float) -> None:
        sleeps.append(delay)

    async def run() -> ReconcilePlan:
        return await reconcile_with_venue(venue, [], {}, set(), TOKENS, 0)

    plan = asyncio.run(reconcile_until_complete(run, attempts=3, delay_s=0.5, sleep=sleep))
    assert sleeps == [0.5, 0.5] and plan.adopt_orders
    venue.failures = [IncompleteVenueAnswer(str(i)) for i in range(3)]
    with pytest.raises(IncompleteReconciliation):
        asyncio.run(reconcile_until_complete(run, attempts=3, delay_s=0.0, sleep=sleep))
