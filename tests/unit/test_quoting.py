"""shards/quoting.py: a buy priced through the book, shared by pair and temporal arbitrage."""

from __future__ import annotations

import pytest

from polyloly.domain import Outcome
from shards.quoting import quote_buy
from shm import BookSnapshot


def book(levels: list[tuple[float, float]]) -> BookSnapshot:
    return BookSnapshot(
        slot=0, token_id="1", seq=1, t_recv_ns=0, exchange_ts_ms=0, tick_size=0.001,
        best_bid=None, best_ask=levels[0][0], flags=0, book_hash="",
        bid_prices=(), bid_sizes=(), ask_prices=tuple(p for p, _ in levels),
        ask_sizes=tuple(s for _, s in levels), bid_levels_total=0,
        ask_levels_total=len(levels))


def test_a_buy_walks_the_asks_and_pays_the_taker_fee_at_its_effective_price() -> None:
    quote = quote_buy(book([(0.40, 10.0), (0.50, 10.0)]), Outcome.NO, 15.0, 0.03)
    assert quote is not None
    assert quote.outcome is Outcome.NO and quote.shares == 15.0
    assert quote.effective_price == pytest.approx((10 * 0.40 + 5 * 0.50) / 15)
    assert quote.limit_price == 0.50  # the worst level used is the order's limit
    p = quote.effective_price
    assert quote.fee_per_share == pytest.approx(0.03 * p * (1 - p))
    assert quote.cost_per_share == pytest.approx(p + quote.fee_per_share)
    assert quote.notional_usdc == pytest.approx(15.0 * 0.50)


def test_no_quote_beyond_the_visible_depth_or_for_nothing() -> None:
    asks = book([(0.40, 10.0)])
    assert quote_buy(asks, Outcome.YES, 10.01, 0.03) is None
    assert quote_buy(asks, Outcome.YES, 0.0, 0.03) is None
