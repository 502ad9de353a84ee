"""Market and user WebSocket channels of the simulated venue, checked against real fixtures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from sim.venue.app import VenueServer
from sim.venue.clock import ManualClock
from sim.venue.core import Venue
from sim.venue.models import MICRO, OrderRequest, OrderType, Side
from sim.venue.testing import SampleMarket
from tests.helpers.fixtures import load_json, polymarket

MARKET = SampleMarket()
YES, NO = MARKET.token_ids
USER = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
# keys the 2026 venue sends on top of the (older) recorded fixture
# (`book.last_trade_price`: 2026 frames; maker `side`: since late 2025, see user_trade3.json)
ALLOWED_EXTRA = {"book": {"last_trade_price"}, "trade.maker_orders[]": {"side"}}


def fixture(name: str) -> dict[str, Any]:
    return load_json(polymarket(name))


def assert_same_shape(ours: dict[str, Any], reference: dict[str, Any], kind: str) -> None:
    extra = set(ours) - set(reference)
    assert extra <= ALLOWED_EXTRA.get(kind, set()), f"{kind}: extra keys {extra}"
    assert set(reference) <= set(ours), f"{kind}: missing {set(reference) - set(ours)}"
    for key, value in reference.items():
        if value is None:
            continue
        assert type(ours[key]) is type(value), f"{kind}.{key}: {ours[key]!r} vs {value!r}"
        if isinstance(value, list) and value and isinstance(value[0], dict) and ours[key]:
            assert_same_shape(ours[key][0], value[0], f"{kind}.{key}[]")


def run(scenario: Callable[[VenueServer, ManualClock], Awaitable[None]]) -> None:
    async def main() -> None:
        clock = ManualClock(start_wall_ms=1_760_000_000_000)
        venue = Venue([MARKET], clock, seed=9, default_collateral_usdc=100, matching_delay_s=0)
        server = VenueServer(venue)
        await server.start()
        try:
            await asyncio.wait_for(scenario(server, clock), 20)
        finally:
            await server.stop()

    asyncio.run(main())


async def receive(ws: aiohttp.ClientWebSocketResponse) -> list[Any]:
    msg = await ws.receive(2.0)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    if msg.data in ("PONG", "INVALID OPERATION", "NO NEW ASSETS"):
        return [msg.data]
    frame = json.loads(msg.data)
    return frame if isinstance(frame, list) else [frame]


async def collect_until(
    ws: aiohttp.ClientWebSocketResponse, done: Callable[[list[Any]], bool]
) -> list[Any]:
    seen: list[Any] = []
    while not done(seen):
        seen += await receive(ws)
    return seen


def of_type(messages: list[Any], event_type: str) -> list[dict[str, Any]]:
    return [m for m in messages if isinstance(m, dict) and m.get("event_type") == event_type]


def test_market_channel_emits_every_message_type_with_the_fixture_shapes() -> None:
    async def scenario(server: VenueServer, clock: ManualClock) -> None:
        venue = server.venue
        venue.place_internal("mm", YES, "BUY", 0.48, 100)
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(server.endpoints["market_ws"])
            await ws.send_str(
                json.dumps(
                    {
                        "assets_ids": [YES, NO],
                        "type": "market",
                        "initial_dump": True,
                        "custom_feature_enabled": True,
                    }
                )
            )
            msg = await ws.receive(2)
            frame = json.loads(msg.data)
            assert isinstance(frame, list) and [b["asset_id"] for b in frame] == [YES, NO]
            assert_same_shape(frame[0], fixture("ws_messages/book.json"), "book")
            assert frame[0]["bids"] == [{"price": "0.48", "size": "100"}]
            assert frame[1]["asks"] == [{"price": "0.52", "size": "100"}]

            venue.place_internal("mm", YES, "SELL", 0.55, 50)
            venue.place_internal("taker", YES, "BUY", 0.55, 10)
            venue.set_tick_size(MARKET.condition_id, 0.01)
            venue.resolve_market(MARKET.condition_id, YES)
            got = await collect_until(ws, lambda s: bool(of_type(s, "market_resolved")))
            ws_fixture = fixture("ws_messages/price_change_v2.json")
            for change in of_type(got, "price_change"):
                assert_same_shape(change, ws_fixture, "price_change")
            first = of_type(got, "price_change")[0]["price_changes"]
            assert {(c["asset_id"], c["side"], c["price"], c["size"]) for c in first} == {
                (YES, "SELL", "0.55", "50"),
                (NO, "BUY", "0.45", "50"),
            }
            assert len({c["hash"] for c in first}) == 2  # one hash per asset's book
            trades = of_type(got, "last_trade_price")
            assert {(t["asset_id"], t["price"], t["side"]) for t in trades} == {
                (YES, "0.55", "BUY"),
                (NO, "0.45", "SELL"),
            }
            assert_same_shape(trades[0], fixture("ws_messages/last_trade_price.json"), "ltp")
            tops = of_type(got, "best_bid_ask")
            assert tops, "custom features on: best_bid_ask expected"
            assert_same_shape(
                tops[0], fixture("test_data/ws_market_best_bid_ask_msg.json"), "best_bid_ask"
            )
            ticks = of_type(got, "tick_size_change")
            assert {t["asset_id"] for t in ticks} == {YES, NO}
            assert ticks[0]["old_tick_size"] == "0.001" and ticks[0]["new_tick_size"] == "0.01"
            assert_same_shape(ticks[0], fixture("ws_messages/tick_size_change.json"), "tick")
            resolved = of_type(got, "market_resolved")[0]
            assert resolved["winning_asset_id"] == YES
            assert resolved["winning_outcome"] == MARKET.outcomes[0]
            assert_same_shape(
                resolved, fixture("test_data/ws_market_resolved_msg.json"), "market_resolved"
            )
            await ws.close()

    run(scenario)


def test_market_channel_ping_garbage_dynamic_subscriptions_and_drop() -> None:
    async def scenario(server: VenueServer, clock: ManualClock) -> None:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(server.endpoints["market_ws"])
            await ws.send_str("PING")
            assert await receive(ws) == ["PONG"]
            for garbage in ("{not json", "[1, 2]", '{"assets_ids": 5}', '{"operation": "x"}'):
                await ws.send_str(garbage)
                assert await receive(ws) == ["INVALID OPERATION"]
            await ws.send_bytes(b"\x00\x01")  # binary frames are dropped
            await ws.send_str(json.dumps({"assets_ids": [YES], "operation": "subscribe"}))
            assert [m["asset_id"] for m in await receive(ws)] == [YES]
            await ws.send_str(json.dumps({"assets_ids": [YES], "operation": "subscribe"}))
            assert await receive(ws) == ["NO NEW ASSETS"]
            await ws.send_str(json.dumps({"assets_ids": [YES], "operation": "unsubscribe"}))
            await ws.send_str("PING")
            assert await receive(ws) == ["PONG"]
            server.venue.place_internal("mm", YES, "BUY", 0.3, 10)  # unsubscribed: silent
            await ws.send_str("PING")
            assert await receive(ws) == ["PONG"]
            async with session.post(f"{server.base_url}/_sim/ws/drop") as answer:
                assert (await answer.json()) == {"dropped": 1}
            closing = await ws.receive(2)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            again = await session.ws_connect(server.endpoints["market_ws"])
            await again.send_str(json.dumps({"assets_ids": [NO], "type": "market"}))
            book = (await receive(again))[0]
            assert book["asks"] == [{"price": "0.7", "size": "10"}]
            await again.close()

    run(scenario)


def test_user_channel_reports_orders_and_trade_lifecycle_with_fixture_shapes() -> None:
    async def scenario(server: VenueServer, clock: ManualClock) -> None:
        venue = server.venue
        creds = server.auth.derive(USER, 0)
        async with aiohttp.ClientSession() as session:
            bad = await session.ws_connect(server.endpoints["user_ws"])
            await bad.send_str(json.dumps({"auth": {"apiKey": "x"}, "type": "user"}))
            closed = await bad.receive(2)
            assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)

            ws = await session.ws_connect(server.endpoints["user_ws"])
            auth = {"apiKey": creds.api_key, "secret": creds.secret, "passphrase": creds.passphrase}
            await ws.send_str(
                json.dumps({"auth": auth, "markets": [MARKET.condition_id], "type": "user"})
            )
            await ws.send_str("PING")
            assert await receive(ws) == ["PONG"]
            venue.submit(
                OrderRequest(
                    order_id="0x" + "11" * 32,
                    owner=creds.api_key,
                    address=USER,
                    signer=USER,
                    token_id=YES,
                    side=Side.BUY,
                    price_u=500_000,
                    size_u=20 * MICRO,
                    order_type=OrderType.GTC,
                )
            )
            placed = of_type(await receive(ws), "order")[0]
            assert placed["type"] == "PLACEMENT" and placed["status"] == "LIVE"
            assert_same_shape(placed, fixture("ws_messages/order_placement.json"), "order")
            venue.place_internal("taker", YES, "SELL", 0.5, 8)  # we are the maker
            got = await collect_until(ws, lambda s: bool(of_type(s, "trade")))
            got += await collect_until(ws, lambda s: bool(of_type(s, "order")))
            trade = of_type(got, "trade")[0]
            assert trade["trader_side"] == "MAKER" and trade["status"] == "MATCHED"
            assert trade["maker_orders"][0]["matched_amount"] == "8"
            assert_same_shape(trade, fixture("ws_messages/user_trade2.json"), "trade")
            assert_same_shape(
                trade["maker_orders"][0],
                fixture("ws_messages/user_trade3.json")["maker_orders"][0],
                "maker_order",
            )
            update = of_type(got, "order")[0]
            assert update["type"] == "UPDATE" and update["size_matched"] == "8"
            assert update["associate_trades"] == [trade["id"]]
            clock.advance(5)
            venue.poll()
            later = await collect_until(ws, lambda s: len(of_type(s, "trade")) >= 2)
            assert [t["status"] for t in of_type(later, "trade")] == ["MINED", "CONFIRMED"]
            venue.cancel(USER, ["0x" + "11" * 32])
            cancel = of_type(await receive(ws), "order")[0]
            assert cancel["type"] == "CANCELLATION" and cancel["status"] == "CANCELED"
            assert_same_shape(cancel, fixture("ws_messages/order_cancel.json"), "order")
            await ws.close()

    run(scenario)
