"""REST and market WebSocket of the venue with independent per-token books."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from sim.venue.app import VenueServer
from sim.venue.clock import ManualClock
from sim.venue.core import Venue
from sim.venue.models import MICRO, OrderRequest, OrderType, Side
from sim.venue.testing import SampleMarket

MARKET = SampleMarket()
YES, NO = MARKET.token_ids
USER = "0x00000000000000000000000000000000000000C3"


async def receive_until(ws: aiohttp.ClientWebSocketResponse, event_type: str) -> list[Any]:
    seen: list[Any] = []
    while not any(isinstance(m, dict) and m.get("event_type") == event_type for m in seen):
        msg = await ws.receive(2.0)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        frame = json.loads(msg.data)
        seen += frame if isinstance(frame, list) else [frame]
    return seen


def of_type(messages: list[Any], event_type: str) -> list[dict[str, Any]]:
    return [m for m in messages if isinstance(m, dict) and m.get("event_type") == event_type]


def test_rest_book_and_market_ws_report_each_token_s_own_book() -> None:
    async def scenario(server: VenueServer) -> None:
        venue = server.venue
        base = server.endpoints["clob_rest"]
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
            snapshot = await receive_until(ws, "book")
            assert [(b["asset_id"], b["bids"], b["asks"]) for b in snapshot] == [
                (YES, [], []),
                (NO, [], []),
            ]
            venue.place_internal("mm", YES, "SELL", 0.45, 100)
            venue.place_internal("mm", NO, "SELL", 0.50, 100)
            got = await receive_until(ws, "price_change")
            while len(of_type(got, "price_change")) < 2:
                got += await receive_until(ws, "price_change")
            changes = [c for m in of_type(got, "price_change") for c in m["price_changes"]]
            assert [(c["asset_id"], c["side"], c["price"], c["size"]) for c in changes] == [
                (YES, "SELL", "0.45", "100"),
                (NO, "SELL", "0.5", "100"),
            ]
            assert [(c["best_bid"], c["best_ask"]) for c in changes] == [
                ("0", "0.45"),
                ("0", "0.5"),
            ]
            for token, ask in ((YES, "0.45"), (NO, "0.5")):
                async with session.get(f"{base}/book", params={"token_id": token}) as resp:
                    book = await resp.json()
                assert book["bids"] == [] and book["asks"] == [{"price": ask, "size": "100"}]

            venue.submit(
                OrderRequest(
                    order_id="0xabc",
                    owner="user-key",
                    address=USER,
                    signer=USER,
                    token_id=NO,
                    side=Side.BUY,
                    price_u=500_000,
                    size_u=10 * MICRO,
                    order_type=OrderType.GTC,
                )
            )
            got = await receive_until(ws, "last_trade_price")
            if not of_type(got, "price_change"):  # book changes follow the trade
                got += await receive_until(ws, "price_change")
            trades = of_type(got, "last_trade_price")
            assert [(t["asset_id"], t["price"], t["side"]) for t in trades] == [(NO, "0.5", "BUY")]
            changes = [c for m in of_type(got, "price_change") for c in m["price_changes"]]
            assert [(c["asset_id"], c["price"], c["size"]) for c in changes] == [(NO, "0.5", "90")]
            for token, last in (
                (YES, {"price": "0", "side": ""}),
                (NO, {"price": "0.5", "side": "BUY"}),
            ):
                params = {"token_id": token}
                async with session.get(f"{base}/last-trade-price", params=params) as resp:
                    assert await resp.json() == last  # no mirrored trade on the YES token
            async with session.get(f"{base}/book", params={"token_id": YES}) as resp:
                assert (await resp.json())["asks"] == [{"price": "0.45", "size": "100"}]
            await ws.close()

    async def main() -> None:
        clock = ManualClock(start_wall_ms=1_760_000_000_000)
        venue = Venue(
            [MARKET],
            clock,
            seed=5,
            default_collateral_usdc=100,
            matching_delay_s=0,
            complementary_matching=False,
        )
        server = VenueServer(venue)
        await server.start()
        try:
            await asyncio.wait_for(scenario(server), 20)
        finally:
            await server.stop()

    asyncio.run(main())
