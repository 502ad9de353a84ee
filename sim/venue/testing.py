"""Run a venue in a background thread, for synchronous clients such as py-clob-client-v2.

with ThreadedVenue(markets, clock=ManualClock()) as sim:
    client = ClobClient(sim.url, chain_id=137, key=...)
    ...
    sim.call(lambda: sim.venue.poll())   # run code on the venue's loop thread
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from sim.venue.app import VenueServer
from sim.venue.clock import Clock, SystemClock
from sim.venue.core import Venue

T = TypeVar("T")


class ThreadedVenue:
    """A `VenueServer` on 127.0.0.1 (random port) driven by its own event-loop thread."""

    def __init__(
        self,
        markets: Iterable[Any],
        clock: Clock | None = None,
        seed: int = 1,
        default_collateral_usdc: float = 1000.0,
        matching_delay_s: float = 0.0,
        ws_batch: bool = False,
        **venue_options: Any,
    ) -> None:
        self.clock = clock or SystemClock()
        self.venue = Venue(
            markets,
            self.clock,
            seed=seed,
            default_collateral_usdc=default_collateral_usdc,
            matching_delay_s=matching_delay_s,
            **venue_options,
        )
        self.server = VenueServer(self.venue, ws_batch=ws_batch)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the CLOB REST API."""
        return self.server.base_url

    @property
    def endpoints(self) -> dict[str, str]:
        """Every endpoint URL."""
        return self.server.endpoints

    def start(self) -> ThreadedVenue:
        """Start the loop thread and the server; return self."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        """Stop the server and the loop thread."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn()` on the venue's loop thread and return its result."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def __enter__(self) -> ThreadedVenue:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True, slots=True)
class SampleMarket:
    """A `MarketSpec`-compatible market for tests (sports defaults: tick 0.001, fee 0.03)."""

    condition_id: str = "0x" + "5e" * 32
    question: str = "Team Alpha vs Team Beta"
    token_ids: tuple[str, str] = (
        "71321045679252212594626385532706912750332728571942532289631379312455583992563",
        "52114319501245915516055106046884209969926127482827954674443846427813813222426",
    )
    outcomes: tuple[str, str] = ("Team Alpha", "Team Beta")
    tick_size: float = 0.001
    min_order_size: float = 5.0
    taker_fee_rate: float = 0.03
    neg_risk: bool = False
    match_id: str = "sample-match"
