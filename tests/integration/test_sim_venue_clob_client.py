"""The real, unmodified py-clob-client-v2 against the simulated venue on a loopback port."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    AssetType,
    BalanceAllowanceParams,
    BookParams,
    CreateOrderOptions,
    MarketOrderArgsV2,
    OpenOrderParams,
    OrderArgsV2,
    OrderPayload,
    PartialCreateOrderOptions,
    TradeParams,
)
from py_clob_client_v2.exceptions import PolyApiException

from sim.venue.clock import ManualClock
from sim.venue.models import MICRO
from sim.venue.testing import SampleMarket, ThreadedVenue

MARKET = SampleMarket()
YES, NO = MARKET.token_ids
KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


@pytest.fixture
def sim() -> Iterator[ThreadedVenue]:
    with ThreadedVenue([MARKET], seed=5, default_collateral_usdc=100) as venue:
        yield venue


def client_for(sim: ThreadedVenue, key: str = KEY) -> ClobClient:
    client = ClobClient(sim.url, chain_id=137, key=key)
    client.set_api_creds(client.create_or_derive_api_key())
    return client


def collateral(client: ClobClient) -> int:
    params = BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)
    return int(client.get_balance_allowance(params)["balance"])


def test_api_creds_are_created_once_and_derived_identically(sim: ThreadedVenue) -> None:
    client = ClobClient(sim.url, chain_id=137, key=KEY)
    created = client.create_api_key()
    with pytest.raises(PolyApiException) as info:
        client.create_api_key()
    assert info.value.status_code == 400
    assert client.derive_api_key() == created
    assert client.create_or_derive_api_key() == created
    client.set_api_creds(created)
    assert client.get_api_keys() == {"apiKeys": [created.api_key]}
    other_nonce = client.derive_api_key(nonce=1)
    assert other_nonce.api_key != created.api_key


def test_public_market_data_reads(sim: ThreadedVenue) -> None:
    sim.call(lambda: sim.venue.place_internal("mm", YES, "BUY", 0.48, 100))
    sim.call(lambda: sim.venue.place_internal("mm", YES, "SELL", 0.52, 60))
    client = ClobClient(sim.url, chain_id=137)
    assert client.get_ok() == "OK"
    assert isinstance(client.get_server_time(), int)
    assert client.get_version() == 2
    book = client.get_order_book(YES)
    assert book["bids"] == [{"price": "0.48", "size": "100"}]
    assert book["asks"] == [{"price": "0.52", "size": "60"}]
    assert client.get_order_book_hash(book) == book["hash"]
    assert client.get_tick_size(YES) == "0.001"
    assert client.get_neg_risk(YES) is False
    assert client.get_fee_rate_bps(YES) == 300
    assert client.get_midpoint(YES) == {"mid": "0.5"}
    assert client.get_spread(YES) == {"spread": "0.04"}
    assert client.get_price(YES, "BUY") == {"price": "0.48"}
    assert client.get_price(NO, "BUY") == {"price": "0.48"}  # mirror of the YES ask
    books = client.get_order_books([BookParams(token_id=YES), BookParams(token_id=NO)])
    assert [b["asset_id"] for b in books] == [YES, NO]
    market = client.get_market(MARKET.condition_id)
    assert [t["token_id"] for t in market["tokens"]] == [YES, NO]
    assert client.get_markets()["next_cursor"] == "LTE="
    info = client.get_clob_market_info(MARKET.condition_id)
    assert info["fd"] == {"r": 0.03, "e": 1, "to": True}


def test_gtc_partial_fill_open_orders_trades_cancel_and_balances(sim: ThreadedVenue) -> None:
    maker = sim.call(lambda: sim.venue.place_internal("mm", YES, "SELL", 0.60, 10))
    client = client_for(sim)
    start = collateral(client)
    assert start == 100 * MICRO
    result = client.create_and_post_order(
        OrderArgsV2(token_id=YES, price=0.60, size=25, side="BUY")
    )
    assert result["success"] is True and result["status"] == "matched"
    assert result["takingAmount"] == "10"
    fee = round(10 * 0.03 * 0.6 * 0.4 * 1e5) * 10
    assert result["makingAmount"] == str((6 * MICRO + fee) / MICRO)
    assert sim.venue.order(maker).status == "MATCHED"
    opened = client.get_open_orders(OpenOrderParams(asset_id=YES))
    assert len(opened) == 1 and opened[0]["size_matched"] == "10"
    assert opened[0]["original_size"] == "25" and opened[0]["status"] == "LIVE"
    trades = client.get_trades(TradeParams(market=MARKET.condition_id))
    assert len(trades) == 1 and trades[0]["trader_side"] == "TAKER"
    assert trades[0]["maker_orders"][0]["matched_amount"] == "10"
    assert collateral(client) == start - 6 * MICRO - fee
    tokens = client.get_balance_allowance(
        BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=YES)
    )
    assert tokens["balance"] == str(10 * MICRO)
    assert client.get_order(result["orderID"])["size_matched"] == "10"
    cancel = client.cancel_order(OrderPayload(orderID=result["orderID"]))
    assert cancel == {"canceled": [result["orderID"]], "not_canceled": {}}
    again = client.cancel_order(OrderPayload(orderID=result["orderID"]))
    assert again["not_canceled"] == {result["orderID"]: "already canceled or matched"}
    assert client.get_open_orders() == []
    assert sim.venue.account(client.get_address()).reserved_u == 0


def test_fok_market_order_and_cancel_all(sim: ThreadedVenue) -> None:
    sim.call(lambda: sim.venue.place_internal("mm", YES, "SELL", 0.50, 100))
    client = client_for(sim)
    with pytest.raises(PolyApiException) as info:
        client.create_and_post_market_order(
            MarketOrderArgsV2(token_id=YES, amount=80, side="BUY", price=0.5)
        )
    assert info.value.status_code == 400
    assert "FOK orders are fully filled or killed" in info.value.error_msg["error"]
    filled = client.create_and_post_market_order(
        MarketOrderArgsV2(token_id=YES, amount=10, side="BUY")
    )
    assert filled["status"] == "matched" and filled["takingAmount"] == "20"
    for price in (0.40, 0.41):
        client.create_and_post_order(OrderArgsV2(token_id=YES, price=price, size=5, side="BUY"))
    client.create_and_post_order(OrderArgsV2(token_id=YES, price=0.6, size=5, side="SELL"))
    assert len(client.get_open_orders()) == 3
    assert len(client.cancel_all()["canceled"]) == 3
    assert client.get_open_orders() == []


def test_complementary_buy_no_fills_against_a_resting_yes_bid(sim: ThreadedVenue) -> None:
    sim.call(lambda: sim.venue.place_internal("mm", YES, "BUY", 0.55, 50))
    client = client_for(sim)
    result = client.create_and_post_order(OrderArgsV2(token_id=NO, price=0.45, size=10, side="BUY"))
    assert result["status"] == "matched"
    assert sim.venue.position_u(client.get_address(), NO) == 10 * MICRO
    assert sim.venue.position_u(sim.venue.agent_address("mm"), YES) == 10 * MICRO
    trade = client.get_trades()[0]
    assert trade["maker_orders"][0]["asset_id"] == YES
    assert trade["maker_orders"][0]["price"] == "0.55"


def test_v1_signed_order_is_refused_with_the_version_error(sim: ThreadedVenue) -> None:
    client = client_for(sim)
    order = client.create_order(
        OrderArgsV2(token_id=YES, price=0.5, size=10, side="BUY"),
        PartialCreateOrderOptions(version=1),
    )
    with pytest.raises(PolyApiException) as info:
        client.post_order(order)
    assert info.value.status_code == 400
    assert info.value.error_msg == {
        "error": "invalid order version, please use the latest clob-client"
    }


def test_order_rejections_use_the_venue_messages(sim: ThreadedVenue) -> None:
    client = client_for(sim)
    with pytest.raises(PolyApiException) as info:
        client.create_and_post_order(OrderArgsV2(token_id=YES, price=0.5, size=3, side="BUY"))
    assert "lower than the minimum: 5" in info.value.error_msg["error"]
    with pytest.raises(PolyApiException) as info:
        client.create_and_post_order(OrderArgsV2(token_id=YES, price=0.5, size=500, side="BUY"))
    assert info.value.error_msg["error"].startswith("not enough balance / allowance")
    off_tick = client.builder.build_order(
        OrderArgsV2(token_id=YES, price=0.5005, size=10, side="BUY"),
        CreateOrderOptions(tick_size="0.0001", neg_risk=False),
    )
    with pytest.raises(PolyApiException) as info:
        client.post_order(off_tick)
    assert "breaks minimum tick size rule: 0.001" in info.value.error_msg["error"]
    order = client.create_order(OrderArgsV2(token_id=YES, price=0.5, size=10, side="BUY"))
    order.makerAmount = str(int(order.makerAmount) + 1)  # breaks the signature
    with pytest.raises(PolyApiException) as info:
        client.post_order(order)
    assert info.value.error_msg == {"error": "invalid signature"}


def test_bad_auth_malformed_json_and_unknown_paths_keep_the_venue_serving(
    sim: ThreadedVenue,
) -> None:
    client = client_for(sim)
    headers = client._l2_headers("GET", "/data/orders")
    bad = dict(headers, POLY_SIGNATURE="AAAA")
    answer = httpx.get(f"{sim.url}/data/orders", headers=bad)
    assert answer.status_code == 401
    assert answer.json() == {"error": "Unauthorized/Invalid api key"}
    stale = client._l2_headers("GET", "/data/orders")
    stale["POLY_TIMESTAMP"] = str(int(time.time()) - 3600)
    assert httpx.get(f"{sim.url}/data/orders", headers=stale).status_code == 401
    l1 = client._l1_headers()
    l1["POLY_TIMESTAMP"] = str(int(l1["POLY_TIMESTAMP"]) + 1)  # signature no longer matches
    answer = httpx.post(f"{sim.url}/auth/api-key", headers=l1)
    assert answer.status_code == 401 and answer.json() == {"error": "Invalid L1 Request headers"}
    body = "{not json"
    headers = client._l2_headers("POST", "/order", serialized_body=body)
    answer = httpx.post(f"{sim.url}/order", headers=headers, content=body)
    assert answer.status_code == 400 and answer.json() == {"error": "Invalid order payload"}
    assert httpx.get(f"{sim.url}/nope").status_code == 404
    assert httpx.get(f"{sim.url}/book").json() == {"error": "Invalid token id"}
    missing = httpx.get(f"{sim.url}/book", params={"token_id": "123"})
    assert missing.status_code == 404
    assert client.get_ok() == "OK"


def test_fault_injection_429_and_delayed_answer_after_acceptance(sim: ThreadedVenue) -> None:
    client = client_for(sim)
    httpx.post(f"{sim.url}/_sim/fault", json={"kind": "status", "status": 429, "count": 1})
    args = OrderArgsV2(token_id=YES, price=0.4, size=10, side="BUY")
    with pytest.raises(PolyApiException) as info:
        client.create_and_post_order(args)
    assert info.value.status_code == 429
    assert client.get_open_orders() == []
    httpx.post(f"{sim.url}/_sim/fault", json={"kind": "delay_response", "delay_s": 2.0})
    order = client.create_order(args)
    body = json.dumps(
        {
            "order": {
                "salt": int(order.salt),
                "maker": order.maker,
                "signer": order.signer,
                "tokenId": order.tokenId,
                "makerAmount": order.makerAmount,
                "takerAmount": order.takerAmount,
                "side": "BUY",
                "expiration": order.expiration,
                "signatureType": int(order.signatureType),
                "timestamp": order.timestamp,
                "metadata": order.metadata,
                "builder": order.builder,
                "signature": order.signature,
            },
            "owner": client.creds.api_key,
            "orderType": "GTC",
            "deferExec": False,
            "postOnly": False,
        },
        separators=(",", ":"),
    )
    headers = client._l2_headers("POST", "/order", serialized_body=body)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{sim.url}/order", headers=headers, content=body, timeout=0.5)
    assert len(client.get_open_orders()) == 1  # the venue accepted it anyway


def test_admin_book_resolve_and_heartbeat_over_http() -> None:
    clock = ManualClock()
    with ThreadedVenue([MARKET], clock=clock, seed=2, default_collateral_usdc=100) as sim:
        client = client_for(sim)
        client.create_and_post_order(OrderArgsV2(token_id=YES, price=0.4, size=10, side="BUY"))
        book = httpx.get(f"{sim.url}/_sim/book", params={"token_id": NO}).json()
        assert book["asks"] == [["0.6", "10"]] and book["bids"] == []
        assert book["hash"] == client.get_order_book(NO)["hash"]  # manual clock: same stamp
        assert client.post_heartbeat("")["heartbeat_id"]
        sim.call(lambda: clock.advance(11))
        sim.call(sim.venue.poll)
        assert client.get_open_orders() == []
        answer = httpx.post(
            f"{sim.url}/_sim/resolve",
            json={"condition_id": MARKET.condition_id, "winning_token_id": YES},
        )
        assert answer.status_code == 200
        assert client.get_market(MARKET.condition_id)["tokens"][0]["winner"] is True
