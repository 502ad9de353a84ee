"""Venue heartbeat: carries the previous id, goes unhealthy on failures or silence."""

from __future__ import annotations

import asyncio
from typing import Any

from engine.venue_heartbeat import VenueHeartbeat
from polyloly.clock import ManualClock


class _Venue:
    def __init__(self) -> None:
        self.received: list[str] = []
        self.fail = False

    async def send(self, heartbeat_id: str) -> Any:
        self.received.append(heartbeat_id)
        if self.fail:
            raise ConnectionError("venue down")
        return {"heartbeat_id": f"hb{len(self.received)}"}


def test_heartbeat_health_follows_successes_failures_and_silence() -> None:
    async def body() -> None:
        clock, venue = ManualClock(), _Venue()
        heartbeat = VenueHeartbeat(venue.send, 5.0, clock, max_failures=2)
        assert not heartbeat.healthy()  # nothing sent yet: fail closed
        assert await heartbeat.beat() and heartbeat.healthy()
        assert await heartbeat.beat()
        assert venue.received == ["", "hb1"]
        clock.advance(s=10.5)
        assert not heartbeat.healthy()  # silent longer than 2 × interval
        assert await heartbeat.beat() and heartbeat.healthy()
        venue.fail = True
        assert not await heartbeat.beat()
        assert heartbeat.healthy()  # one failure is tolerated
        assert not await heartbeat.beat()
        assert not heartbeat.healthy() and "venue down" in heartbeat.last_error
        venue.fail = False
        assert await heartbeat.beat() and heartbeat.healthy()
        await heartbeat.stop()
        assert not heartbeat.healthy()

    asyncio.run(body())


def test_heartbeat_loop_runs_until_stopped() -> None:
    async def body() -> None:
        venue = _Venue()
        heartbeat = VenueHeartbeat(venue.send, 0.01, ManualClock())
        heartbeat.start()
        await asyncio.sleep(0.08)
        await heartbeat.stop()
        count = len(venue.received)
        assert count >= 3
        await asyncio.sleep(0.03)
        assert len(venue.received) == count

    asyncio.run(body())
