"""``Ledger.set_position``: holdings equal the target, known shares keep their average cost,
and realized + unrealized still equals cash flow + marked holdings."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.pnl.ledger import Ledger, LedgerError
from polyloly.domain import Outcome, Side, Strategy

prices = st.integers(1, 99).map(lambda n: n / 100)
buys = st.lists(st.tuples(prices, st.integers(1, 300).map(float)), min_size=0, max_size=10)
targets = st.integers(0, 600).map(float)


@settings(max_examples=150, deadline=None)
@given(buys, targets, prices, prices)
def test_set_position_keeps_the_identity_and_the_known_average_cost(
        fills: list[tuple[float, float]], target: float, price: float, mark: float) -> None:
    ledger = Ledger()
    for fill_price, size in fills:
        ledger.apply_fill(market_id="m", token_id="1", outcome=Outcome.YES, side=Side.BUY,
                          price=fill_price, size=size, fee_usdc=0.01,
                          strategy=Strategy.PAIR_ARB)
    before = ledger.position("1")
    held = before.shares if before else 0.0
    average = before.average_cost if before else 0.0
    ledger.set_position(market_id="m", token_id="1", outcome=Outcome.YES, shares=target,
                        price=price)
    after = ledger.position("1")
    assert after.shares == pytest.approx(target)
    if target >= held:
        assert after.cost_usdc == pytest.approx(held * average + (target - held) * price)
    else:
        assert after.average_cost == pytest.approx(average if target > 0 else 0.0)
    marks = {"1": mark}
    summary = ledger.summary(marks)
    assert summary.total_usdc == pytest.approx(
        ledger.cash_flow_usdc + after.shares * mark, abs=1e-6)
    assert sum(ledger.realized_by_strategy().values()) == pytest.approx(summary.realized_usdc)


@pytest.mark.parametrize(("shares", "price"), [(-1.0, 0.5), (float("nan"), 0.5),
                                                (float("inf"), 0.5), (5.0, 1.5), (5.0, -0.1)])
def test_set_position_refuses_bad_values(shares: float, price: float) -> None:
    with pytest.raises(LedgerError):
        Ledger().set_position(market_id="m", token_id="1", outcome=Outcome.YES, shares=shares,
                              price=price)
