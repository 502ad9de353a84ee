"""The real executor learns our maker rebates from the venue's ``GET /rebates/current`` (VENUE §5)
— the local CLOB V2 (sim/venue) on 127.0.0.1, through the executor's own client — and refuses a
malformed answer with what was wrong."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from engine.executors.base import SubmitOutcome, VenueFill
from engine.executors.polymarket.executor import RealExecutor, _rebates_of
from engine.executors.polymarket.reports import ReportError
from polyloly.domain import Side
from polyloly.fees import maker_rebate_usdc
from sim.venue.testing import ThreadedVenue
from tests.integration.test_engine_real_executor import (
    ENV,
    MARKET,
    NO,
    YES,
    _admin,
    _config,
    _events_until,
    _order,
)


@pytest.fixture()
def venue() -> Iterator[ThreadedVenue]:
    sim = ThreadedVenue([MARKET], matching_delay_s=0.0).start()
    try:
        yield sim
    finally:
        sim.stop()


def test_a_maker_fill_s_rebate_is_learnt_from_the_venue(venue: ThreadedVenue) -> None:
    async def main() -> None:
        executor = await RealExecutor.create(_config(), environ=ENV, host=venue.url,
                                             start_heartbeat=True)
        try:
            await executor.poll_rebates(executor._now_ms())
            assert executor.rebates_usdc() == 0.0  # nothing provided yet
            result = await executor.submit(_order(Side.BUY, 0.45, 10, token=NO))
            assert result.outcome is SubmitOutcome.LIVE
            await asyncio.to_thread(  # a taker buys YES at 0.55: mint against our NO bid
                _admin, venue, "place",
                {"owner": "taker", "token_id": YES, "side": "BUY", "price": 0.55, "size": 10},
            )
            events = await _events_until(
                executor, lambda seen: any(isinstance(e, VenueFill) for e in seen))
            fill = next(e for e in events if isinstance(e, VenueFill))
            assert fill.is_maker and fill.fee_usdc == 0  # the venue pays the rebate apart
            await executor.poll_rebates(executor._now_ms())
            expected = maker_rebate_usdc(10, 0.45, MARKET.taker_fee_rate)  # 0.25 × 0.07425
            assert expected > 0
            assert executor.rebates_usdc_by_market() == {
                MARKET.condition_id: pytest.approx(expected, abs=1e-6)}
            assert executor.rebates_usdc() == pytest.approx(expected, abs=1e-6)
        finally:
            await executor.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_rebate_entries_are_summed_per_day_and_market() -> None:
    answer = [{"date": "2026-12-02", "condition_id": "0xa", "rebated_fees_usdc": "0.010000"},
              {"date": "2026-12-02", "condition_id": "0xb", "rebated_fees_usdc": "0.5"}]
    assert _rebates_of(answer, "2026-12-02") == {("2026-12-02", "0xa"): 0.01,
                                                 ("2026-12-02", "0xb"): 0.5}
    assert _rebates_of([], "2026-12-02") == {}


@pytest.mark.parametrize(("answer", "message"), [
    ({"error": "x"}, r"rebates/current: expected a list"),
    ([{"condition_id": "0xa"}], r"rebates/current\[0\]: expected condition_id and a numeric"),
    ([{"condition_id": "0xa", "rebated_fees_usdc": "n/a"}], r"rebates/current\[0\]"),
    ([{"condition_id": "0xa", "rebated_fees_usdc": "-1"}],
     r"rebates/current\[0\]\.rebated_fees_usdc: expected >= 0"),
])
def test_a_malformed_rebates_answer_names_what_was_wrong(answer: object, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        _rebates_of(answer, "2026-12-02")
