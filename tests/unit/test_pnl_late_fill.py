"""A fill learnt after its market resolved is paid out at once (the venue matched it before
the resolution; only the report came late), so P&L always equals fills + settlement."""

from __future__ import annotations

import pytest

from engine.pnl.ledger import Ledger
from polyloly.domain import Outcome, Side, Strategy

MARKET, YES, NO = "0x" + "c" * 64, "11", "22"


def _buy(ledger: Ledger, token: str, outcome: Outcome, size: float, price: float) -> None:
    ledger.apply_fill(market_id=MARKET, token_id=token, outcome=outcome, side=Side.BUY,
                      price=price, size=size, fee_usdc=0.1, strategy=Strategy.TEMPORAL_ARB)


@pytest.mark.parametrize(("winner", "payout"), [(Outcome.NO, 100.0), (Outcome.YES, 0.0),
                                                (None, 50.0)])
def test_a_fill_after_settlement_is_paid_out_like_one_before(
    winner: Outcome | None, payout: float
) -> None:
    before, after = Ledger(), Ledger()
    _buy(before, NO, Outcome.NO, 100, 0.8)
    before.settle(MARKET, winner)
    after.settle(MARKET, winner)
    _buy(after, NO, Outcome.NO, 100, 0.8)
    for ledger in (before, after):
        assert ledger.realized_usdc == pytest.approx(payout - 80.0 - 0.1)
        assert ledger.position(NO).shares == 0.0
        assert ledger.unrealized_usdc({}) == 0.0
    assert after.realized_by_market() == pytest.approx(before.realized_by_market())
