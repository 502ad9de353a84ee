"""Local Polymarket CLOB V2 venue: matching core, accounts, auth, REST and WebSocket shell."""

from sim.venue.api import (
    Clock,
    ManualClock,
    SystemClock,
    Trade,
    Venue,
    VenueError,
    VenueServer,
)

__all__ = ["Clock", "ManualClock", "SystemClock", "Trade", "Venue", "VenueError", "VenueServer"]
