"""Maker rebates on the simulated venue: each fill credits the maker the modelled fraction of the
taker fee of that fill, in pUSD, reported by GET /rebates/current as the real venue does."""

from __future__ import annotations

import time

import pytest

from polyloly.fees import taker_fee_usdc
from sim.venue.clock import ManualClock
from sim.venue.core import Venue
from sim.venue.models import MICRO
from sim.venue.testing import SampleMarket

WALL_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.mark.parametrize("rate", [0.25, 0.0, 0.5])
def test_rebate_credited_is_the_modelled_fraction_of_the_taker_fee(rate: float) -> None:
    market = SampleMarket()
    yes, no = market.token_ids
    venue = Venue([market], ManualClock(start_wall_ms=WALL_MS), seed=1,
                  default_collateral_usdc=1000, matching_delay_s=0.0, maker_rebate_rate=rate)
    maker = venue.agent_address("maker")
    venue.place_internal("maker", yes, "SELL", 0.62, 100)  # same-token liquidity
    venue.place_internal("maker", no, "BUY", 0.45, 50)  # mirrored: a YES ask at 0.55
    before = venue.collateral_u(maker)
    venue.place_internal("taker", yes, "BUY", 0.62, 70, "FAK")  # 50 @ 0.55, then 20 @ 0.62
    fee = taker_fee_usdc(50, 0.55, market.taker_fee_rate) + taker_fee_usdc(
        20, 0.62, market.taker_fee_rate)
    expected_u = round(fee * rate * MICRO)
    paid_for_yes = round(20 * 0.62 * MICRO)  # the maker sold 20 YES at 0.62
    paid_for_no = -round(50 * 0.45 * MICRO)  # and bought 50 NO at 0.45 (minted)
    assert venue.collateral_u(maker) - before == paid_for_yes + paid_for_no + expected_u
    rows = venue.rebates(maker, "2026-01-01")
    assert rows == ([("2026-01-01", market.condition_id, expected_u)] if expected_u else [])
    assert venue.rebates(venue.agent_address("taker")) == []  # takers get none


def test_rest_rebates_current_has_the_venue_shape() -> None:
    import json
    import urllib.error
    import urllib.request

    from sim.venue.testing import ThreadedVenue

    market = SampleMarket()
    yes = market.token_ids[0]
    with ThreadedVenue([market], default_collateral_usdc=100) as sim:
        sim.venue.matching_delay_s = 0.0
        sim.call(lambda: sim.venue.place_internal("maker", yes, "SELL", 0.5, 100))
        sim.call(lambda: sim.venue.place_internal("taker", yes, "BUY", 0.5, 40, "FAK"))
        maker = sim.venue.agent_address("maker")
        day = time.strftime("%Y-%m-%d", time.gmtime(sim.venue.clock.wall_ms() / 1000))
        with urllib.request.urlopen(f"{sim.url}/rebates/current?date={day}"
                                    f"&maker_address={maker.lower()}") as answer:
            rows = json.loads(answer.read())
        assert rows == [{"date": day, "condition_id": market.condition_id,
                         "asset_address": rows[0]["asset_address"], "maker_address": maker,
                         "rebated_fees_usdc": f"{0.25 * taker_fee_usdc(40, 0.5, 0.03):.6f}"}]
        with pytest.raises(urllib.error.HTTPError) as bad:
            urllib.request.urlopen(f"{sim.url}/rebates/current?date=yesterday"
                                   f"&maker_address={maker}")
        assert bad.value.code == 400
