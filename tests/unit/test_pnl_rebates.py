"""Maker rebates in the ledger: a paper maker fill's negative fee is a rebate, kept apart from
fees and inside realized P&L; a fee that cannot be one is refused with what was wrong."""

from __future__ import annotations

import math

import pytest

from engine.pnl.ledger import Ledger, LedgerError
from polyloly.domain import Outcome, Side, Strategy
from polyloly.fees import MAKER_REBATE_RATE, maker_rebate_usdc, taker_fee_usdc


def _fill(ledger: Ledger, side: Side, price: float, size: float, fee: float) -> float:
    return ledger.apply_fill(market_id="m", token_id="1", outcome=Outcome.YES, side=side,
                             price=price, size=size, fee_usdc=fee, strategy=Strategy.TEMPORAL_ARB)


def test_rebate_is_apart_from_fees_and_in_realized_pnl() -> None:
    ledger = Ledger()
    rebate = maker_rebate_usdc(100, 0.4, 0.03)  # 0.25 × 100 × 0.03 × 0.4 × 0.6 = 0.18
    assert rebate == pytest.approx(MAKER_REBATE_RATE * taker_fee_usdc(100, 0.4, 0.03))
    assert rebate == pytest.approx(0.18)
    assert _fill(ledger, Side.BUY, 0.4, 100, -rebate) == pytest.approx(0.18)  # maker buy
    fee = taker_fee_usdc(100, 0.5, 0.03)  # 0.75, a taker sell
    assert _fill(ledger, Side.SELL, 0.5, 100, fee) == pytest.approx(100 * 0.1 - 0.75)
    summary = ledger.summary({})
    assert summary.fees_usdc == pytest.approx(0.75)
    assert summary.rebates_usdc == pytest.approx(0.18)
    # realized = trading 10 − fees 0.75 + rebates 0.18, and the cash flow says the same
    assert summary.realized_usdc == pytest.approx(10 - 0.75 + 0.18)
    assert ledger.cash_flow_usdc == pytest.approx(summary.realized_usdc)
    assert ledger.realized_by_strategy() == {"temporal_arb": pytest.approx(9.43)}
    position = ledger.position("1")
    assert position is not None
    assert (position.fees_usdc, position.rebates_usdc) == (pytest.approx(0.75),
                                                           pytest.approx(0.18))


def test_rebate_on_a_settled_position_adds_to_the_settlement() -> None:
    ledger = Ledger()
    _fill(ledger, Side.BUY, 0.4, 100, -maker_rebate_usdc(100, 0.4, 0.03))
    assert ledger.settle("m", Outcome.YES) == pytest.approx(60.0)
    assert ledger.realized_usdc == pytest.approx(60.18)


@pytest.mark.parametrize("fee", [math.nan, 10.0, -10.0, math.inf])
def test_a_fee_that_is_neither_a_fee_nor_a_rebate_is_refused(fee: float) -> None:
    ledger = Ledger()
    with pytest.raises(LedgerError, match=r"fill fee: expected a fee \(>= 0\) or a rebate"):
        _fill(ledger, Side.BUY, 0.5, 10, fee)
    assert ledger.positions() == []  # nothing booked
