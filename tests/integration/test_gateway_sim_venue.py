"""The gateway against the simulator's venue over real sockets (WS, REST, ZeroMQ, shm).

* thousands of random venue updates across 60 tokens → every shm book equals the venue's;
* the venue drops every market WebSocket mid-stream → books go STALE, the gateway reconnects
  and every book is exact and clean again within a bound;
* a book that silently diverged is detected from the venue's best bid/ask and rebuilt from
  REST ``/book``;
* book ticks reach a ZeroMQ subscriber with per-slot increasing seq.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import zmq

from gateway.main import GatewayApp
from polyloly import bus, messages
from polyloly.config import Config, deep_merge, load_raw, validate
from polyloly.messages import BookTick
from shm import SlotFlags
from sim.venue.models import VenueError
from sim.venue.testing import SampleMarket, ThreadedVenue

N_MARKETS = 30  # 60 tokens
CATCH_UP_S = 10.0
RECONNECT_BOUND_S = 8.0


def _markets(count: int) -> list[SampleMarket]:
    return [
        SampleMarket(condition_id=f"0x{i + 1:064x}",
                     token_ids=(str(10**30 + 2 * i), str(10**30 + 2 * i + 1)),
                     match_id=f"match-{i}")
        for i in range(count)
    ]


def _config(endpoints: dict[str, str], markets: list[SampleMarket], tmp: Path) -> Config:
    run_dir = tempfile.mkdtemp(prefix="plgw-")
    overlay = {
        "run": {"run_dir": run_dir, "data_dir": str(tmp / "data")},
        "shm": {"segment_name": f"plgw_{uuid.uuid4().hex[:10]}", "levels": 32},
        "polymarket": {
            "clob_rest_url": endpoints["clob_rest"],
            "market_ws_url": endpoints["market_ws"],
            "user_ws_url": endpoints["user_ws"],
            "assets_per_connection": 20,
            "ping_interval_s": 0.5,
            "pong_timeout_s": 5.0,
            "reconnect_base_s": 0.05,
            "reconnect_max_s": 0.5,
            "request_timeout_s": 2.0,
            "snapshot_timeout_s": 1.0,
        },
        "metrics": {"enabled": False},
        "providers": {},
        "markets": [
            {"market_id": m.condition_id, "token_ids": list(m.token_ids),
             "match_id": m.match_id, "game": "lol"}
            for m in markets
        ],
    }
    return validate(deep_merge(load_raw(None, environ={}), overlay))


def _random_updates(sim: ThreadedVenue, tokens: list[str], count: int, seed: int) -> int:
    """Place/cancel ``count`` random agent orders on the venue thread; return accepted ones."""

    def work() -> int:
        rng = random.Random(seed)
        venue = sim.venue
        live: list[tuple[str, str]] = []
        accepted = 0
        for _ in range(count):
            if live and rng.random() < 0.25:
                owner, order_id = live.pop(rng.randrange(len(live)))
                venue.cancel_internal(owner, order_id)
                accepted += 1
                continue
            owner = f"agent-{rng.randrange(4)}"
            try:
                order_id = venue.place_internal(
                    owner, rng.choice(tokens), rng.choice(("BUY", "SELL")),
                    rng.randrange(350, 651) / 1000, float(rng.randrange(5, 80)))
            except VenueError:
                continue
            live.append((owner, order_id))
            accepted += 1
        return accepted

    return sim.call(work)


def _mismatches(app: GatewayApp, sim: ThreadedVenue) -> list[str]:
    assert app.store is not None
    venue_books = sim.call(lambda: {t: sim.venue.book(t) for t in app.token_markets})
    bad = []
    for token, (venue_bids, venue_asks) in venue_books.items():
        bids, asks = app.store.full_book(token)
        if bids != venue_bids or asks != venue_asks:
            bad.append(token)
    return bad


def _clean(app: GatewayApp) -> bool:
    assert app.keeper is not None
    return app.keeper.unhealthy_count() == 0 and all(s.connected for s in app.sessions)


async def _until(predicate: Callable[[], bool], timeout_s: float) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def _with_gateway(config: Config, body: Callable[[GatewayApp], Awaitable[None]]) -> None:
    app = GatewayApp(config, adapters=[])
    stop = asyncio.Event()
    runner = asyncio.create_task(app.run(stop))
    try:
        await body(app)
    finally:
        stop.set()
        await asyncio.wait_for(runner, timeout=10)


@pytest.fixture()
def sim() -> ThreadedVenue:
    with ThreadedVenue(_markets(N_MARKETS), seed=3, matching_delay_s=0.0) as venue:
        yield venue


def test_gateway_books_equal_venue_books_after_thousands_of_random_updates(
        sim: ThreadedVenue, tmp_path: Path) -> None:
    markets = _markets(N_MARKETS)
    config = _config(sim.endpoints, markets, tmp_path)
    tokens = [t for m in markets for t in m.token_ids]
    ctx = zmq.Context.instance()

    async def body(app: GatewayApp) -> None:
        sub = bus.connect(ctx, zmq.SUB, config.endpoint("gateway_pub"))
        bus.subscribe(sub, "book_tick")
        try:
            await _until(lambda: _clean(app), CATCH_UP_S)
            accepted = 0
            for burst in range(6):
                accepted += await asyncio.to_thread(_random_updates, sim, tokens, 500, burst)
                await asyncio.sleep(0.05)
            assert accepted >= 2000
            await _until(lambda: not _mismatches(app, sim), CATCH_UP_S)
            assert _clean(app)
            assert app.dlq.count == 0
            last_seq: dict[int, int] = {}
            received = 0
            while sub.poll(200):
                _topic, payload = sub.recv_multipart()
                tick = messages.decode(payload)
                assert isinstance(tick, BookTick)
                assert tick.seq > last_seq.get(tick.slot, 0)
                assert tick.t_recv_ns <= tick.t_parsed_ns <= tick.t_shm_ns
                last_seq[tick.slot] = tick.seq
                received += 1
            assert received > 1000
            assert len(last_seq) == len(tokens)
        finally:
            sub.close(linger=0)

    asyncio.run(_with_gateway(config, body))


def test_gateway_after_market_ws_drop_marks_books_stale_and_recovers_exact_books(
        sim: ThreadedVenue, tmp_path: Path) -> None:
    markets = _markets(N_MARKETS)
    config = _config(sim.endpoints, markets, tmp_path)
    tokens = [t for m in markets for t in m.token_ids]

    async def body(app: GatewayApp) -> None:
        assert app.keeper is not None
        keeper = app.keeper
        await _until(lambda: _clean(app), CATCH_UP_S)
        await asyncio.to_thread(_random_updates, sim, tokens, 400, 11)
        await _until(lambda: not _mismatches(app, sim), CATCH_UP_S)
        connects_before = sum(s.connects for s in app.sessions)
        async with aiohttp.ClientSession() as http, http.post(
                f"{sim.endpoints['admin']}/ws/drop?channel=market") as response:
            assert response.status == 200
            assert (await response.json())["dropped"] == len(app.sessions)
        await _until(lambda: any(not s.connected for s in app.sessions), 2.0)
        stale = [t for t, s in keeper.tokens.items() if s.flags & SlotFlags.STALE]
        assert stale, "books must be flagged STALE while the connection is down"
        # The venue keeps trading while we reconnect.
        await asyncio.to_thread(_random_updates, sim, tokens, 400, 12)
        recovered_in = await _until(
            lambda: _clean(app) and not _mismatches(app, sim), RECONNECT_BOUND_S)
        assert recovered_in < RECONNECT_BOUND_S
        assert sum(s.connects for s in app.sessions) >= connects_before + len(app.sessions)
        assert all(not s.flags & (SlotFlags.STALE | SlotFlags.RESYNCING)
                   for s in keeper.tokens.values())

    asyncio.run(_with_gateway(config, body))


def test_gateway_rebuilds_a_silently_diverged_book_from_rest(
        sim: ThreadedVenue, tmp_path: Path) -> None:
    markets = _markets(2)
    config = _config(sim.endpoints, markets, tmp_path)
    tokens = [t for m in markets for t in m.token_ids]

    async def body(app: GatewayApp) -> None:
        assert app.keeper is not None and app.store is not None
        await _until(lambda: _clean(app), CATCH_UP_S)
        await asyncio.to_thread(_random_updates, sim, tokens, 200, 21)
        await _until(lambda: not _mismatches(app, sim), CATCH_UP_S)
        victim = tokens[0]
        # Corrupt our copy behind the keeper's back: drop our whole bid side.
        bids, asks = app.store.full_book(victim)
        app.store.apply_snapshot(victim, [], asks, t_recv_ns=time.monotonic_ns(),
                                 exchange_ts_ms=0)
        assert _mismatches(app, sim) == [victim]
        # The next venue update for that token carries best_bid/best_ask: divergence found.
        await asyncio.to_thread(_random_updates, sim, [victim], 20, 22)
        await _until(lambda: not _mismatches(app, sim) and _clean(app), CATCH_UP_S)
        state = app.keeper.tokens[victim]
        assert state.divergences >= 1
        assert state.resyncs >= 1

    asyncio.run(_with_gateway(config, body))
