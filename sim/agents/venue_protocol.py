"""The part of the venue API the world and its agents use (implemented by sim.venue.core)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class VenueProtocol(Protocol):
    """Agent-side venue calls: no signatures, no balance checks."""

    def place_internal(self, owner: str, token_id: str, side: str, price: float, size: float,
                       order_type: str = "GTC") -> str:
        """Place an order for agent ``owner``; return its id (raise when refused)."""
        ...

    def cancel_internal(self, owner: str, order_id: str) -> bool:
        """Cancel one order of ``owner``; True when it was open."""
        ...

    def cancel_all_internal(self, owner: str, token_id: str | None = None) -> int:
        """Cancel the open orders of ``owner`` (optionally on one token); return how many."""
        ...

    def book(self, token_id: str) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """Return (bids, asks) of ``token_id`` as (price, size) lists, best first."""
        ...

    def resolve_market(self, condition_id: str, winning_token_id: str | None) -> None:
        """Resolve a market (None = 50-50)."""
        ...

    def add_trade_listener(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(trade)`` for each trade."""
        ...
