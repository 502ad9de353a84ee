"""The project's venue vocabulary (polyloly/fees.py, polyloly/venue_rules.py) agrees with the
simulator's own venue (``sim/`` imports nothing of the project, so it keeps its own copy) and
with the tick table of py-clob-client-v2, on grids of prices and sizes."""

from __future__ import annotations

import pytest
from py_clob_client_v2.order_builder.builder import ROUNDING_CONFIG

from polyloly.config import ConfigError, validate
from polyloly.fees import MAKER_REBATE_RATE, maker_rebate_usdc, taker_fee_usdc
from polyloly.venue_rules import MIN_NOTIONAL_USDC, TICK_SIZES, floor_shares, on_tick
from sim.scenario import Scenario
from sim.venue.clock import ManualClock
from sim.venue.core import Venue, taker_fee_u
from sim.venue.models import MICRO, OrderRequest, OrderType, Side, VenueError
from sim.venue.testing import SampleMarket

PRICES = [n / 1000 for n in range(1, 1000)]  # every price on the 0.001 grid
SIZES = [0.01, 0.37, 1, 5, 7.5, 10, 33.33, 100, 1234.56, 99_999.99]
RATES = [0.0, 0.01, 0.0175, 0.03, 0.07, 0.25]
USER = "0x00000000000000000000000000000000000000A1"


def test_taker_fee_equals_the_simulators_on_a_grid() -> None:
    for rate in RATES:
        for size in SIZES:
            for price in PRICES:
                ours = taker_fee_usdc(size, price, rate)
                theirs = taker_fee_u(round(size * MICRO), round(price * MICRO), rate)
                assert round(ours * MICRO) == theirs, (size, price, rate)


def _fak_buy(venue: Venue, oid: str, price: float, size: float) -> None:
    venue.submit(OrderRequest(order_id=oid, owner="user-key", address=USER, signer=USER,
                              token_id=SampleMarket().token_ids[0], side=Side.BUY,
                              price_u=round(price * MICRO), size_u=round(size * MICRO),
                              order_type=OrderType.FAK))


@pytest.mark.parametrize("price", [0.05, 0.2, 0.333, 0.5, 0.999])
def test_min_notional_is_where_the_simulator_refuses_a_marketable_order(price: float) -> None:
    market = SampleMarket()
    venue = Venue([market], ManualClock(start_wall_ms=1_700_000_000_000), seed=1,
                  default_collateral_usdc=1000, matching_delay_s=0.0)
    venue.place_internal("mm", market.token_ids[0], "SELL", price, 10_000)
    at_least = floor_shares(MIN_NOTIONAL_USDC / price + 0.0099)  # smallest size worth ≥ $1
    below = round(at_least - 0.01, 2)
    assert at_least * price >= MIN_NOTIONAL_USDC > below * price
    _fak_buy(venue, "0x1", price, at_least)  # accepted
    with pytest.raises(VenueError, match=r"min size: \$1"):
        _fak_buy(venue, "0x2", price, below)


def test_tick_sizes_are_the_clients_rounding_table_and_cover_the_simulators() -> None:
    assert sorted(TICK_SIZES) == sorted(float(key) for key in ROUNDING_CONFIG)
    assert {0.1, 0.01, 0.001, 0.0001} <= set(TICK_SIZES)  # what sim/scenario.py accepts


@pytest.mark.parametrize("tick", TICK_SIZES)
def test_every_price_on_the_tick_grid_is_on_tick_and_half_a_tick_off_is_not(tick: float) -> None:
    steps = round(1 / tick)
    for n in range(1, steps, max(1, steps // 200)):
        assert on_tick(n * tick, tick)
        assert not on_tick((n + 0.5) * tick, tick)


def test_floor_shares_rounds_down_to_hundredths() -> None:
    assert floor_shares(0.29) == 0.29  # 28.999999999999996 hundredths is still 29
    assert floor_shares(12.349) == 12.34
    assert floor_shares(5.0) == 5.0


def test_config_refuses_a_tick_size_the_venue_does_not_have() -> None:
    market = {"market_id": "0x" + "a" * 64, "token_ids": ["1", "2"], "match_id": "m",
              "game": "lol", "tick_size": 0.003}
    with pytest.raises(ConfigError, match=r"markets\[0\]\.tick_size: expected one of "
                                          r"0\.1, 0\.01, 0\.005, 0\.0025, 0\.001, 0\.0001, "
                                          r"was 0\.003"):
        validate({"markets": [market]})


def test_the_maker_rebate_rate_is_the_simulators_default() -> None:
    """One venue fact, two copies: the venue core's and the scenario's defaults are ours."""
    venue = Venue([SampleMarket()], ManualClock(start_wall_ms=1_700_000_000_000))
    assert venue.maker_rebate_rate == MAKER_REBATE_RATE
    assert Scenario.__dataclass_fields__["maker_rebate_rate"].default == MAKER_REBATE_RATE


@pytest.mark.parametrize("price", [0.2, 0.45, 0.5, 0.777, 0.999])
@pytest.mark.parametrize("size", [5, 7.5, 33.33, 1234.56])
def test_maker_rebate_equals_what_the_simulator_credits(price: float, size: float) -> None:
    """A taker BUY crosses a resting SELL: the maker's collateral grows by the notional plus the
    rebate the simulator credits, which must be ``maker_rebate_usdc`` to the micro-unit."""
    market = SampleMarket()
    venue = Venue([market], ManualClock(start_wall_ms=1_700_000_000_000), seed=1,
                  default_collateral_usdc=100_000, matching_delay_s=0.0)
    venue.place_internal("mm", market.token_ids[0], "SELL", price, size)
    maker = venue.agent_address("mm")
    before = venue.collateral_u(maker)
    _fak_buy(venue, "0x1", price, size)
    notional_u = round(size * MICRO) * round(price * MICRO) // MICRO
    credited_u = venue.collateral_u(maker) - before - notional_u
    assert credited_u == round(maker_rebate_usdc(size, price, market.taker_fee_rate) * MICRO)
    assert credited_u > 0
