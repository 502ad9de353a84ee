"""Maker quoting and pair accumulation properties (issue 17; specs/05, specs/06 §maker).

A maker plan never crosses the book (nor our own quotes on the unified book), stays on tick
and within its inventory limits, and every resting quote is cancelled once fair value moved
past the threshold; accumulation never lets avg_yes + avg_no + fees exceed 1 − margin on the
matched part, nor the leg imbalance grow past its limits.
"""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from polyloly.config import MakerConfig, PairArbConfig
from polyloly.domain import Outcome, Side
from polyloly.fees import MAKER_REBATE_RATE
from polyloly.venue_rules import on_tick
from shards.maker_quoting import (
    Quote,
    RestingQuote,
    plan_quotes,
    review_quotes,
    yes_equivalent,
)
from shards.pair_arb import (
    AccumulationBuy,
    PairPosition,
    accumulation_ok,
    averages_after,
    pair_cost,
    plan_accumulation,
)
from shm import BookSnapshot

TICK = 0.01
MIN_SIZE = 5.0


def book(token: str, bids: list[tuple[float, float]], asks: list[tuple[float, float]]
         ) -> BookSnapshot:
    bids = sorted(bids, reverse=True)
    asks = sorted(asks)
    return BookSnapshot(
        slot=0, token_id=token, seq=1, t_recv_ns=0, exchange_ts_ms=0, tick_size=TICK,
        best_bid=bids[0][0] if bids else None, best_ask=asks[0][0] if asks else None,
        flags=0, book_hash="", bid_prices=tuple(p for p, _ in bids),
        bid_sizes=tuple(s for _, s in bids), ask_prices=tuple(p for p, _ in asks),
        ask_sizes=tuple(s for _, s in asks), bid_levels_total=len(bids),
        ask_levels_total=len(asks))


@st.composite
def unified_books(draw: st.DrawFn) -> dict[Outcome, BookSnapshot]:
    """A YES book and its mirror (NO bids = 1 − YES asks, NO asks = 1 − YES bids)."""
    bid_tick = draw(st.integers(1, 97))
    spread = draw(st.integers(1, 10))
    ask_tick = min(99, bid_tick + spread)
    depth = draw(st.floats(5, 500))
    bids = [(round(bid_tick * TICK, 2), depth)] if draw(st.booleans()) or True else []
    asks = [(round(ask_tick * TICK, 2), depth)]
    if draw(st.booleans()):
        bids = []
    if draw(st.booleans()):
        asks = []
    yes = book("y", bids, asks)
    no = book("n", [(round(1 - p, 2), s) for p, s in asks],
              [(round(1 - p, 2), s) for p, s in bids])
    return {Outcome.YES: yes, Outcome.NO: no}


maker_params = st.builds(
    MakerConfig, enabled=st.just(True), size_shares=st.floats(1, 100),
    half_width=st.floats(0, 0.1), live_width_mult=st.floats(1, 3),
    volatility_width_mult=st.floats(0, 3), skew_per_share=st.floats(0, 0.005),
    max_inventory_shares=st.floats(1, 200), max_inventory_usdc=st.floats(1, 200),
    reprice_threshold=st.floats(0.001, 0.1))
positions = st.builds(
    PairPosition, shares_yes=st.floats(0, 200), shares_no=st.floats(0, 200),
    cost_yes=st.floats(0, 150), cost_no=st.floats(0, 150))


@settings(max_examples=400, deadline=None)
@given(st.floats(0.01, 0.99), unified_books(), positions, maker_params, st.floats(0, 0.05),
       st.booleans())
def test_maker_plan_never_crosses_and_stays_within_limits(
    fair: float, books: dict[Outcome, BookSnapshot], position: PairPosition,
    params: MakerConfig, volatility: float, live: bool,
) -> None:
    plan = plan_quotes(fair, books, position, params, TICK, MIN_SIZE, volatility, live)
    for quote in plan.quotes:
        b = books[quote.outcome]
        assert on_tick(quote.price, TICK) and TICK - 1e-9 <= quote.price <= 1 - TICK + 1e-9
        assert quote.size >= MIN_SIZE
        held = position.shares(quote.outcome)
        unmatched = max(0.0, held - position.shares(quote.outcome.other))
        if quote.side is Side.BUY:
            assert b.best_ask is None or quote.price < b.best_ask - 1e-9  # post-only: rests
            assert quote.price <= quote.fair + 1e-9 or params.skew_per_share > 0
            assert unmatched + quote.size <= params.max_inventory_shares + 1e-6
        else:
            assert b.best_bid is None or quote.price > b.best_bid + 1e-9
            assert quote.size <= unmatched + 1e-9  # never sells a matched pair's leg
    # no two of our quotes match each other on the unified book
    bids = [p for q in plan.quotes for is_bid, p in [yes_equivalent(q)] if is_bid]
    asks = [p for q in plan.quotes for is_bid, p in [yes_equivalent(q)] if not is_bid]
    if bids and asks:
        assert max(bids) < min(asks) - 1e-9


@settings(max_examples=300, deadline=None)
@given(st.floats(0.02, 0.98), st.floats(-0.5, 0.5), unified_books(), maker_params,
       st.sampled_from(list(Outcome)), st.sampled_from(list(Side)), st.floats(0.01, 0.99))
def test_every_quote_is_cancelled_on_a_fair_value_move_past_the_threshold(
    fair_then: float, move: float, books: dict[Outcome, BookSnapshot], params: MakerConfig,
    outcome: Outcome, side: Side, price: float,
) -> None:
    fair_now = min(0.99, max(0.01, fair_then + move))
    resting = [RestingQuote("q1", outcome, side, round(price, 2), fair_then)]
    plan = plan_quotes(fair_now, books, PairPosition(), params, TICK, MIN_SIZE, 0.0, True)
    review = review_quotes(plan, resting, fair_now, books, params.reprice_threshold)
    cancelled = {intent for intent, _ in review.cancel}
    if abs(fair_now - fair_then) >= params.reprice_threshold:
        assert cancelled == {"q1"}
        assert dict(review.cancel)["q1"] == "fair_value_moved"
    # a side keeps at most one quote: a kept one is never posted again
    kept = {(r.outcome, r.side) for r in resting if r.intent_id not in cancelled}
    assert not kept & {(q.outcome, q.side) for q in review.post}


def test_review_keeps_a_standing_quote_and_posts_the_missing_side() -> None:
    yes = book("y", [(0.48, 100)], [(0.52, 100)])
    no = book("n", [(0.48, 100)], [(0.52, 100)])
    books = {Outcome.YES: yes, Outcome.NO: no}
    params = MakerConfig(enabled=True, half_width=0.03, volatility_width_mult=0.0)
    plan = plan_quotes(0.5, books, PairPosition(), params, TICK, MIN_SIZE, 0.0, False)
    assert [(q.outcome, q.side, q.price) for q in plan.quotes] == [
        (Outcome.YES, Side.BUY, 0.47), (Outcome.NO, Side.BUY, 0.47)]
    resting = [RestingQuote("a", Outcome.YES, Side.BUY, 0.47, 0.5)]
    review = review_quotes(plan, resting, 0.505, books, params.reprice_threshold)
    assert review.cancel == ()
    assert [q.outcome for q in review.post] == [Outcome.NO]
    # the book moves through our bid (mid below it): cancelled
    down = book("y", [(0.40, 100)], [(0.44, 100)])
    review = review_quotes(plan, resting, 0.505, {Outcome.YES: down, Outcome.NO: no},
                           params.reprice_threshold)
    assert review.cancel == (("a", "book_through_price"),)


def test_a_crossed_refusal_moves_the_next_quote_one_tick_back() -> None:
    yes = book("y", [(0.48, 100)], [(0.52, 100)])
    books = {Outcome.YES: yes, Outcome.NO: book("n", [(0.48, 100)], [(0.52, 100)])}
    params = MakerConfig(enabled=True, half_width=0.0, volatility_width_mult=0.0)
    plan = plan_quotes(0.7, books, PairPosition(), params, TICK, MIN_SIZE, 0.0, False,
                       crossed_at={(Outcome.YES, Side.BUY): 0.50})
    quote = plan.wanted(Outcome.YES, Side.BUY)
    assert isinstance(quote, Quote) and quote.price == 0.49


def test_asks_only_against_unmatched_inventory() -> None:
    yes = book("y", [(0.48, 100)], [(0.52, 100)])
    books = {Outcome.YES: yes, Outcome.NO: book("n", [(0.48, 100)], [(0.52, 100)])}
    params = MakerConfig(enabled=True, half_width=0.02, volatility_width_mult=0.0,
                         skew_per_share=0.0)
    matched = PairPosition(20, 20, 9, 9)
    assert plan_quotes(0.5, books, matched, params, TICK, MIN_SIZE, 0, False).wanted(
        Outcome.YES, Side.SELL) is None
    long_yes = PairPosition(32, 20, 15, 9)
    ask = plan_quotes(0.5, books, long_yes, params, TICK, MIN_SIZE, 0, False).wanted(
        Outcome.YES, Side.SELL)
    assert ask is not None and ask.size == 10 and ask.price == 0.52  # fair + width, > bid


# ---- accumulation ----------------------------------------------------------------------

pair_params = st.builds(
    PairArbConfig, size_usdc=st.floats(2, 200), safety_margin=st.floats(0, 0.05),
    max_leg_imbalance_usdc=st.floats(5, 300), max_leg_imbalance_shares=st.floats(5, 300),
    max_position_usdc=st.floats(5, 1000), entry_edge=st.floats(0, 0.1),
    first_leg=st.sampled_from(["none", "dip"]))


@settings(max_examples=400, deadline=None)
@given(unified_books(), positions, pair_params, st.floats(0, 0.1),
       st.one_of(st.none(), st.floats(0.02, 0.98)))
def test_accumulation_keeps_the_matched_part_below_one_minus_margin(
    books: dict[Outcome, BookSnapshot], position: PairPosition, params: PairArbConfig,
    fee_rate: float, fair: float | None,
) -> None:
    assume(accumulation_ok(position, params))  # a held position that already breaks it is
    # the market's doing; the planner only promises not to make it worse
    buy = plan_accumulation(books, position, params, fee_rate, MIN_SIZE, TICK, fair)
    if not isinstance(buy, AccumulationBuy):
        assert isinstance(buy, str) and buy
        return
    after = averages_after(position, buy.outcome, buy.shares, buy.cost_per_share)
    missing = position.shares(buy.outcome.other) - position.shares(buy.outcome)
    if missing >= MIN_SIZE:  # completing: never beyond the missing shares
        assert buy.shares <= missing + 1e-9
    else:  # opening exposure: only a dip taken, entry_edge below fair, with first_leg "dip"
        assert params.first_leg == "dip" and fair is not None and not buy.maker
        leg_fair = fair if buy.outcome is Outcome.YES else 1 - fair
        assert buy.cost_per_share <= leg_fair - params.entry_edge + 1e-9
    cost = pair_cost(after)
    assert cost is None or cost <= 1 - params.safety_margin + 1e-9
    assert buy.shares >= MIN_SIZE and on_tick(buy.limit_price, TICK)
    grew = after.imbalance_shares > position.imbalance_shares
    assert not grew or after.imbalance_shares <= params.max_leg_imbalance_shares + 1e-9
    assert after.total_cost <= params.max_position_usdc + 1e-9
    ask = books[buy.outcome].best_ask
    if buy.maker:
        assert ask is None or buy.limit_price < ask - 1e-9  # a post-only bid rests
    else:
        assert ask is not None and buy.limit_price >= ask - 1e-9


def test_accumulation_builds_a_pair_over_time_on_a_unified_book() -> None:
    params = PairArbConfig(size_usdc=10, safety_margin=0.02, first_leg="dip")
    # YES cheap against fair 0.55: bid the first leg below fair
    yes = book("y", [(0.39, 100)], [(0.41, 100)])
    no = book("n", [(0.59, 100)], [(0.61, 100)])
    buy = plan_accumulation({Outcome.YES: yes, Outcome.NO: no}, PairPosition(), params, 0.03,
                            MIN_SIZE, TICK, 0.55)
    assert isinstance(buy, AccumulationBuy) and buy.outcome is Outcome.YES
    assert not buy.maker  # 0.41 + fee is a dip below 0.55 − 0.02: taken
    held = averages_after(PairPosition(), Outcome.YES, buy.shares, buy.cost_per_share)
    # later YES rallies to 0.70: NO now costs 0.30, the pair completes under 1
    yes2 = book("y", [(0.69, 100)], [(0.71, 100)])
    no2 = book("n", [(0.29, 100)], [(0.31, 100)])
    buy2 = plan_accumulation({Outcome.YES: yes2, Outcome.NO: no2}, held, params, 0.03,
                             MIN_SIZE, TICK, 0.70)
    assert isinstance(buy2, AccumulationBuy) and buy2.outcome is Outcome.NO
    done = averages_after(held, Outcome.NO, buy2.shares, buy2.cost_per_share)
    cost = pair_cost(done)
    assert cost is not None and cost < 0.98


def test_a_quote_edge_is_its_distance_from_fair_plus_the_maker_rebate() -> None:
    yes = book("y", [(0.48, 100)], [(0.52, 100)])
    books = {Outcome.YES: yes, Outcome.NO: book("n", [(0.48, 100)], [(0.52, 100)])}
    params = MakerConfig(enabled=True, half_width=0.03, volatility_width_mult=0.0)
    plan = plan_quotes(0.5, books, PairPosition(), params, TICK, MIN_SIZE, 0.0, False,
                       fee_rate=0.03)
    bid = plan.wanted(Outcome.YES, Side.BUY)
    assert bid is not None and bid.price == 0.47
    rebate = MAKER_REBATE_RATE * 0.03 * 0.47 * 0.53  # polyloly/fees.py: 25 % of the taker fee
    assert abs(bid.edge_per_share - (0.03 + rebate)) < 1e-12


def test_accumulation_opens_no_first_leg_unless_configured() -> None:
    yes = book("y", [(0.39, 100)], [(0.41, 100)])
    no = book("n", [(0.59, 100)], [(0.61, 100)])
    books = {Outcome.YES: yes, Outcome.NO: no}
    # a dip (0.41 + fee against a fair value of 0.55) with first_leg "none": nothing
    refused = plan_accumulation(books, PairPosition(), PairArbConfig(), 0.03, MIN_SIZE, TICK,
                                0.55)
    assert refused == "no_first_leg"
    taken = plan_accumulation(books, PairPosition(), PairArbConfig(first_leg="dip"), 0.03,
                              MIN_SIZE, TICK, 0.55)
    assert isinstance(taken, AccumulationBuy) and taken.outcome is Outcome.YES
    # with YES held, the NO leg is planned under either setting
    held = PairPosition(shares_yes=20, cost_yes=8.2)
    nxt = plan_accumulation(books, held, PairArbConfig(), 0.03, MIN_SIZE, TICK, 0.55)
    assert isinstance(nxt, AccumulationBuy) and nxt.outcome is Outcome.NO
