"""P&L properties: realized + unrealized equals cash flow plus marked holdings; settlement pays
1.0 per winning share (0.5 on a 50-50); fees are always a cost; maker rebates (negative fees of
paper maker fills) are counted apart from fees and are in realized P&L."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.pnl.ledger import Ledger
from polyloly.domain import Outcome, Side, Strategy
from polyloly.fees import maker_rebate_usdc, taker_fee_usdc

TOKENS = {Outcome.YES: "1", Outcome.NO: "2"}
prices = st.integers(1, 99).map(lambda n: n / 100)
fills = st.lists(
    st.tuples(st.sampled_from(list(Outcome)), st.sampled_from(list(Side)), prices,
              st.integers(1, 500).map(float), st.booleans()),
    max_size=30,
)


def _run(sequence: list) -> Ledger:
    ledger = Ledger()
    for outcome, side, price, size, is_taker in sequence:
        position = ledger.position(TOKENS[outcome])
        held = position.shares if position else 0.0
        if side is Side.SELL:
            size = min(size, held)
            if size <= 0:
                continue
        fee = (taker_fee_usdc(size, price, 0.03) if is_taker
               else -maker_rebate_usdc(size, price, 0.03))
        ledger.apply_fill(market_id="m", token_id=TOKENS[outcome], outcome=outcome, side=side,
                          price=price, size=size, fee_usdc=fee, strategy=Strategy.PAIR_ARB)
    return ledger


@settings(max_examples=150, deadline=None)
@given(fills, prices, prices)
def test_realized_plus_unrealized_equals_cash_flow_plus_marked_holdings(sequence, mark_yes,
                                                                        mark_no) -> None:
    ledger = _run(sequence)
    marks = {"1": mark_yes, "2": mark_no}
    held_value = sum(p.shares * marks[p.token_id] for p in ledger.positions())
    summary = ledger.summary(marks)
    assert summary.total_usdc == pytest.approx(ledger.cash_flow_usdc + held_value, abs=1e-6)
    assert summary.fees_usdc >= 0 and summary.rebates_usdc >= 0
    assert summary.fees_usdc == pytest.approx(sum(p.fees_usdc for p in ledger.positions()))
    assert summary.rebates_usdc == pytest.approx(sum(p.rebates_usdc for p in ledger.positions()))
    assert sum(ledger.realized_by_strategy().values()) == pytest.approx(summary.realized_usdc)


@settings(max_examples=150, deadline=None)
@given(fills, st.sampled_from([Outcome.YES, Outcome.NO, None]))
def test_settlement_pays_one_per_winning_share_and_flattens(sequence, winner) -> None:
    ledger = _run(sequence)
    shares = {o: (ledger.position(t).shares if ledger.position(t) else 0.0)
              for o, t in TOKENS.items()}
    before = ledger.cash_flow_usdc
    ledger.settle("m", winner)
    expected = 0.5 * (shares[Outcome.YES] + shares[Outcome.NO]) if winner is None \
        else shares[winner]
    assert ledger.cash_flow_usdc - before == pytest.approx(expected, abs=1e-6)
    assert all(p.shares == 0 for p in ledger.positions())
    assert ledger.realized_usdc == pytest.approx(ledger.cash_flow_usdc, abs=1e-6)
    assert ledger.settle("m", winner) == 0.0


@given(st.floats(0.01, 10_000), prices, st.floats(0, 0.1))
def test_taker_fee_is_symmetric_and_largest_at_half(shares, price, rate) -> None:
    fee = taker_fee_usdc(shares, price, rate)
    # p and 1 - p differ in the last float bit, so the rounded fees may differ by one step
    assert fee == pytest.approx(taker_fee_usdc(shares, 1 - price, rate), abs=1e-5)
    assert 0 <= fee <= taker_fee_usdc(shares, 0.5, rate) + 1e-12


def test_locked_pair_settles_to_the_known_profit() -> None:
    ledger = Ledger()
    for outcome, price in ((Outcome.YES, 0.45), (Outcome.NO, 0.50)):
        ledger.apply_fill(market_id="m", token_id=TOKENS[outcome], outcome=outcome,
                          side=Side.BUY, price=price, size=100, fee_usdc=0.5,
                          strategy=Strategy.PAIR_ARB)
    ledger.settle("m", Outcome.NO)
    assert ledger.realized_usdc == pytest.approx(100 - 95 - 1.0)
