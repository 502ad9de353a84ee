"""Venue heartbeat: carries the previous id, goes unhealthy on failures or silence."""

from __future__ import annotations

import asyncio
from typing import Any

from engine.venue_heartbeat import VENUE_WINDOW_S, VenueHeartbeat, default_stale_after_s
from polyloly.clock import ManualClock
from polyloly.config import load_raw, validate


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


def test_trust_ends_before_the_venues_window_can_cancel_our_orders() -> None:
    """Issue 20 #14: at a 5 s interval, 2 × interval = 10 s was the venue's whole window, so
    the engine kept submitting while the venue may already have cancelled everything."""
    assert default_stale_after_s(3.0) == 6.0  # the default: one failed beat still fits
    assert default_stale_after_s(5.0) == VENUE_WINDOW_S - 5.0
    assert default_stale_after_s(60.0) == 60.0  # slow test cadences stay usable
    clock = ManualClock()
    heartbeat = VenueHeartbeat(_Venue().send, 5.0, clock)
    assert asyncio.run(heartbeat.beat())
    clock.advance(s=5.5)
    assert not heartbeat.healthy()


def test_the_default_interval_leaves_room_for_one_failed_beat() -> None:
    interval = validate(load_raw(environ={})).execution.heartbeat_interval_s
    assert 2 * interval < VENUE_WINDOW_S


def test_beats_keep_a_fixed_cadence_whatever_the_answer_time() -> None:
    async def body() -> list[float]:
        loop = asyncio.get_running_loop()
        times: list[float] = []

        async def slow(heartbeat_id: str) -> Any:
            times.append(loop.time())
            await asyncio.sleep(0.06)  # 60 % of the interval
            return {"heartbeat_id": "x"}

        heartbeat = VenueHeartbeat(slow, 0.1, ManualClock())
        heartbeat.start()
        await asyncio.sleep(0.75)
        await heartbeat.stop()
        return times

    times = asyncio.run(body())
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(gaps) >= 4
    assert sum(gaps) / len(gaps) < 0.13  # sleep-after-answer made it 0.16
