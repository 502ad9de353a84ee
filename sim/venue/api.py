"""The venue's public Python API (the contract the world helper and tests program against).

* `Venue(markets, clock, seed, default_collateral_usdc, matching_delay_s,
  complementary_matching=True)` — the pure core (`False`: independent per-token books);
  `place_internal`, `cancel_internal`, `cancel_all_internal`, `book`, `resolve_market`,
  `add_trade_listener`, `add_event_listener`, `poll`.
* `VenueServer(venue, host, port)` — REST + WebSockets + admin endpoints around a `Venue`.
* `SystemClock(speed)` / `ManualClock()` — the injected clocks.
"""

from sim.venue.app import VenueServer
from sim.venue.clock import Clock, ManualClock, SystemClock
from sim.venue.core import Venue
from sim.venue.models import MarketInfo, Trade, VenueError

__all__ = [
    "Clock",
    "ManualClock",
    "MarketInfo",
    "SystemClock",
    "Trade",
    "Venue",
    "VenueError",
    "VenueServer",
]
