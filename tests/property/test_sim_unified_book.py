"""The simulated venue's unified book never rests YES ask + NO ask < 1 (nor YES bid + NO bid > 1),
whatever the order flow: such orders cross at once by mint/merge (docs/VENUE.md §6)."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.venue.clock import ManualClock
from sim.venue.core import Venue
from sim.venue.models import VenueError
from sim.venue.testing import SampleMarket

ORDER = st.tuples(
    st.sampled_from(["a", "b", "c"]),  # owner
    st.integers(0, 1),  # token index
    st.sampled_from(["BUY", "SELL"]),
    st.integers(1, 99).map(lambda c: c / 100),  # price
    st.integers(5, 60).map(float),  # size
    st.sampled_from(["GTC", "GTC", "FAK"]),
    st.sampled_from([0.0, 0.0, 1.0, 3.0]),  # clock advance before the order
)


@settings(max_examples=150, deadline=None)
@given(st.lists(ORDER, min_size=1, max_size=60), st.sampled_from([0.0, 3.0]))
def test_no_resting_pair_of_asks_below_one(orders: list[tuple[str, int, str, float, float, str,
                                                              float]], delay: float) -> None:
    market = SampleMarket()
    clock = ManualClock(start_wall_ms=1_767_225_600_000)
    venue = Venue([market], clock, seed=1, default_collateral_usdc=1000,
                  matching_delay_s=delay)
    yes, no = market.token_ids
    for owner, index, side, price, size, kind, advance in orders:
        clock.advance(advance)
        venue.poll()
        with contextlib.suppress(VenueError):  # e.g. a FAK with nothing to cross
            venue.place_internal(owner, market.token_ids[index], side, price, size, kind)
        venue.poll()
        yes_bids, yes_asks = venue.book(yes)
        no_bids, no_asks = venue.book(no)
        if yes_asks and no_asks:
            assert yes_asks[0][0] + no_asks[0][0] >= 1.0 - 1e-9
        if yes_bids and no_bids:
            assert yes_bids[0][0] + no_bids[0][0] <= 1.0 + 1e-9
        if yes_bids and yes_asks:
            assert yes_bids[0][0] < yes_asks[0][0]
